"""Measurement: latency/FPS and achieved FLOP/s (:mod:`.timing`), memory (:mod:`.memory`), energy
(:mod:`.energy`), the machine fingerprint (:mod:`.machine`), when a row cannot be trusted (:mod:`.trust`), and
the one runner every run goes through (:mod:`.run`, failed rows in :mod:`.failed`) and the entry points
(:mod:`.api`):
``measure``, ``compare``, ``measure_config``, ``measure_layers``, ``MeasureConfig``.
"""

_LAZY = {
    "measure": "effkit.measurement.api", "compare": "effkit.measurement.api", "measure_config": "effkit.measurement.api",
    "measure_layers": "effkit.measurement.api", "MeasureConfig": "effkit.measurement.api",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'effkit.measurement' has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(module), name)
