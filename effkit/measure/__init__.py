"""Measurement: latency/FPS and achieved FLOP/s (:mod:`.timing`), memory (:mod:`.memory`), energy
(:mod:`.energy`), the machine fingerprint (:mod:`.machine`), and the entry points (:mod:`.api`):
``measure``, ``compare``, ``measure_config``, ``measure_layers``, ``MeasureConfig``.
"""

_LAZY = {
    "measure": "effkit.measure.api", "compare": "effkit.measure.api", "measure_config": "effkit.measure.api",
    "measure_layers": "effkit.measure.api", "MeasureConfig": "effkit.measure.api",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'effkit.measure' has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(module), name)
