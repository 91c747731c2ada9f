"""effkit: shows what FLOPs hide about CNN efficiency.

Public API (imported lazily so that ``import effkit`` stays cheap)::

    effkit.profile(model_or_name, input_shape=(1, 3, 224, 224), dtype="float32") -> Profile
    effkit.profile(model, inputs={"input_ids": ((1, 128), "int64"), ...}, execute="meta" | "cpu")
    effkit.create_model(name) / effkit.list_models(pattern)
    effkit.measure(...), effkit.compare(...), effkit.check(...)  (see their modules)
    effkit.proxies(results_df), effkit.predict(model, "h100"), effkit.calibrate(db=PATH)
    with effkit.energy_window("cuda:0") as w: ...   -> w.seconds, w.joules_gross, w.joules_net, w.status
    effkit.MeasureSettings, effkit.run_sweep(...), effkit.load_results(...), effkit.device_spec(...)
    effkit.shipped_measurements() -> [ShippedFile], effkit.load_shipped("cpu" | "gpu" | NAME) -> DataFrame
"""

from __future__ import annotations

from effkit._version import __version__

_LAZY = {
    "profile": ("effkit.analysis.profile", "profile"),
    "Profile": ("effkit.analysis.profile", "Profile"),
    "Totals": ("effkit.analysis.profile", "Totals"),
    "UncountedOpsWarning": ("effkit.analysis.profile", "UncountedOpsWarning"),
    "create_model": ("effkit.models.registry", "create_model"),
    "list_models": ("effkit.models.registry", "list_models"),
    "register_model": ("effkit.models.registry", "register_model"),
    "measure": ("effkit.measurement.api", "measure"),
    "compare": ("effkit.measurement.api", "compare"),
    "check": ("effkit.gate", "check"),
    "assert_no_regression": ("effkit.gate", "assert_no_regression"),
    "CheckResult": ("effkit.gate", "CheckResult"),
    "save_baseline": ("effkit.baseline", "save_baseline"),
    "update_baseline": ("effkit.baseline", "update_baseline"),
    "load_baseline": ("effkit.baseline", "load_baseline"),
    "energy_window": ("effkit.measurement.window", "energy_window"),
    "begin_window": ("effkit.measurement.window", "begin_window"),
    "end_window": ("effkit.measurement.window", "end_window"),
    "EnergyWindow": ("effkit.measurement.window", "EnergyWindow"),
    "MeasureSettings": ("effkit.measurement.settings", "MeasureSettings"),
    "measure_layers": ("effkit.measurement.api", "measure_layers"),
    "run_sweep": ("effkit.sweep", "run_sweep"),
    "load_sweep": ("effkit.sweep", "load_sweep"),
    "sweep_spec": ("effkit.sweep", "sweep_spec"),
    "SweepInterrupted": ("effkit.measurement.run", "SweepInterrupted"),
    "Store": ("effkit.store", "Store"),
    "load_results": ("effkit.store", "load_results"),
    "read_results": ("effkit.store.sources", "read_results"),
    "default_db_path": ("effkit.store", "default_db_path"),
    "shipped_measurements": ("effkit.shipped", "shipped_measurements"),
    "load_shipped": ("effkit.shipped", "load_shipped"),
    "choose_shipped": ("effkit.shipped", "choose_shipped"),
    "compare_shipped": ("effkit.shipped", "compare_shipped"),
    "ShippedFile": ("effkit.shipped", "ShippedFile"),
    "resolve_device": ("effkit.devices", "resolve_device"),
    "device_spec": ("effkit.devices", "device_spec"),
    "DeviceSpec": ("effkit.devices", "DeviceSpec"),
    "check_peaks": ("effkit.devices", "check_peaks"),
    "EffkitError": ("effkit.errors", "EffkitError"),
    "proxies": ("effkit.prediction.proxies", "proxies"),
    "predict": ("effkit.prediction.api", "predict"),
    "calibrate": ("effkit.prediction.calibrate", "calibrate"),
    "list_calibrations": ("effkit.store.calibrations", "list_calibrations"),
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
