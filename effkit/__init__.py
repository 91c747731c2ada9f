"""effkit: shows what FLOPs hide about CNN efficiency.

Public API (imported lazily so that ``import effkit`` stays cheap)::

    effkit.profile(model_or_name, input_shape=(1, 3, 224, 224), dtype="float32") -> Profile
    effkit.profile(model, inputs={"input_ids": ((1, 128), "int64"), ...}, execute="meta" | "cpu")
    effkit.create_model(name) / effkit.list_models(pattern)
    effkit.measure(...), effkit.compare(...), effkit.check(...)  (see their modules)
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "profile": ("effkit.analysis.profile", "profile"),
    "Profile": ("effkit.analysis.profile", "Profile"),
    "Totals": ("effkit.analysis.profile", "Totals"),
    "create_model": ("effkit.models.registry", "create_model"),
    "list_models": ("effkit.models.registry", "list_models"),
    "register_model": ("effkit.models.registry", "register_model"),
    "measure": ("effkit.measure.api", "measure"),
    "compare": ("effkit.measure.api", "compare"),
    "check": ("effkit.check", "check"),
    "assert_no_regression": ("effkit.check", "assert_no_regression"),
    "save_baseline": ("effkit.check", "save_baseline"),
    "EffkitError": ("effkit.errors", "EffkitError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'effkit' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
