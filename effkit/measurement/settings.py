"""The settings of a measurement, written once: :class:`MeasureSettings`, its bounds, and one :meth:`~MeasureSettings.validate`.

``measure()``, ``compare()``, a sweep's settings keys and the command line all take these settings; each field
carries its bounds in its metadata, so a bound is stated (and checked) in one place. Errors name the setting
(:func:`effkit.errors.setting`), which the CLI renders as the flag the user typed.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields
from typing import Any, Optional

from effkit.errors import BadInputError, setting

#: The dtypes a measurement runs in (float64 is analysed by ``profile`` but not timed).
MEASURE_DTYPES = ("float32", "float16", "bfloat16")


def _bounded(default: Any, low: float, *, integer: bool = False, when: Optional[str] = None):
    """A field whose value must be ``>= low`` (an integer when ``integer``); checked only while ``when`` is true."""
    return field(default=default, metadata={"min": low, "integer": integer, "when": when})


@dataclass(frozen=True, kw_only=True)
class MeasureSettings:
    """How to measure, whatever the model and batch size.

    Attributes:
        dtype: ``float32`` (the paper's), or ``float16``/``bfloat16`` via autocast.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        channels_last: NHWC memory format.
        warmup_s / warmup_iters: warm-up until both are reached.
        min_iters / min_time_s: timed iterations until both are reached.
        energy: measure energy (when a meter works here).
        energy_trials: load windows for energy (checked only with ``energy``).
        energy_window_s / energy_window_iters: each window lasts at least this long and this many iterations.
        idle_s: idle window, raised to 3 s (the default stays 1.0 so stored configuration keys still match);
            measured once per device per run after a 5 s rest and reused for every row (0: none; then there
            is no net energy figure).
        cuda_graph: time the replay of a captured CUDA graph.
        cudnn_benchmark: let cuDNN autotune (restored afterwards).
        per_layer: also time every leaf module in a separate pass.
        mig_energy: on a MIG instance, measure the whole board's energy anyway (it includes other tenants);
            without it the energy columns stay empty with status "whole board (MIG): not attributable".
        tf32: TF32 for float32 convolutions and matmuls on CUDA (``None``: leave torch's settings as they are;
            needs a CUDA device, checked where the device is resolved).
        tdp_estimate_w: watts for a labelled energy ESTIMATE where no meter measures energy (``None``, the
            default: none): ``energy_estimate_j_per_img`` = watts x timed span / images
            (:func:`effkit.measurement.energy.estimate.energy_estimate`); it never fills the measured columns.
    """

    dtype: str = "float32"
    device: str = "auto"
    channels_last: bool = False
    warmup_s: float = _bounded(1.0, 0)
    warmup_iters: int = _bounded(10, 0, integer=True)
    min_iters: int = _bounded(20, 1, integer=True)
    min_time_s: float = _bounded(2.0, 0)
    energy: bool = True
    energy_trials: int = _bounded(3, 1, integer=True, when="energy")
    energy_window_s: float = _bounded(5.0, 0)
    energy_window_iters: int = _bounded(32, 0, integer=True)
    idle_s: float = _bounded(1.0, 0)
    cuda_graph: bool = False
    cudnn_benchmark: bool = True
    per_layer: bool = False
    # "keyless": added after configuration keys were first stored; at its default a setting is left out of
    # MeasureConfig.key(), so rows stored before it still match on resume.
    mig_energy: bool = field(default=False, metadata={"choices": (True, False), "keyless": True})
    tf32: Optional[bool] = field(default=None, metadata={"choices": (True, False, None), "keyless": True})
    # "optional": None passes the bound; "above": the bound is strict (> min); "sweep": False keeps it out of
    # the sweep file's keys (an estimate is asked for per run, not per grid).
    tdp_estimate_w: Optional[float] = field(default=None, metadata={
        "min": 0, "integer": False, "when": None, "optional": True, "above": True, "keyless": True, "sweep": False,
        # "unkeyed": never in MeasureConfig.key(): an estimate computed afterwards changes nothing measured.
        "unkeyed": True})

    def validate(self) -> None:
        """Refuse an out-of-range number or a dtype that cannot be measured, naming the setting.

        One message per setting whatever the value (0 and -1 read alike). The device is resolved where
        it is used (:func:`effkit.devices.resolve_device`), since that depends on the machine.

        Raises:
            BadInputError: with ``field`` set to the setting's name.
        """
        for f in fields(MeasureSettings):
            meta = f.metadata
            if "min" not in meta or (meta["when"] and not getattr(self, meta["when"])):
                continue
            v, low = getattr(self, f.name), meta["min"]
            if v is None and meta.get("optional"):
                continue
            if meta.get("above"):
                if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(v) and v > low):
                    raise BadInputError(f"{setting(f.name)} must be a finite number > {low}, got {v}", field=f.name)
            elif meta["integer"]:
                if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
                    raise BadInputError(f"{setting(f.name)} must be an integer >= {low}, got {v!r}", field=f.name)
            elif isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(v) and v >= low):
                raise BadInputError(f"{setting(f.name)} must be a finite number >= {low}, got {v}", field=f.name)
        for f in fields(MeasureSettings):
            choices = f.metadata.get("choices")
            v = getattr(self, f.name)
            if choices is not None and not any(v is c for c in choices):
                names = ["None" if c is None else str(c).lower() for c in choices]
                words = f"{', '.join(names[:-1])} or {names[-1]}"
                raise BadInputError(f"{setting(f.name)} must be {words}, got {v!r}", field=f.name)
        if measure_dtype(self.dtype) is None:
            raise BadInputError(f"{setting('dtype')} must be one of {', '.join(MEASURE_DTYPES)}, "
                                f"got {self.dtype!r}", field="dtype")

    def canonical_dtype(self) -> str:
        """``dtype`` by its full name (``"fp16"`` -> ``"float16"``); call after :meth:`validate`."""
        return measure_dtype(self.dtype) or str(self.dtype)

    def as_dict(self) -> dict[str, Any]:
        """``{setting: value}`` for every field of :class:`MeasureSettings` (not of a subclass)."""
        return {f.name: getattr(self, f.name) for f in fields(MeasureSettings)}

    @classmethod
    def merged(cls, settings: Optional["MeasureSettings"] = None, caller: str = "measure", **values: Any):
        """``settings`` (default: the defaults) with ``values`` replacing some of its fields.

        What :func:`effkit.measure` and :func:`effkit.compare` do with their keyword arguments, so the list of
        settings is written once, here.

        Raises:
            TypeError: a keyword that is not a setting (as Python says of an unknown keyword argument).
        """
        names = {f.name for f in fields(MeasureSettings)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r} "
                            f"(settings: {', '.join(sorted(names))})")
        if settings is not None and not isinstance(settings, MeasureSettings):
            raise TypeError(f"settings must be a MeasureSettings, got {type(settings).__name__}")
        base = settings.as_dict() if settings is not None else {}
        return MeasureSettings(**{**base, **values})

    @classmethod
    def unkeyed(cls) -> tuple[str, ...]:
        """The settings a configuration key always leaves out (they change nothing that is measured)."""
        return tuple(f.name for f in fields(cls) if f.metadata.get("unkeyed"))

    @classmethod
    def keyless_defaults(cls) -> dict[str, Any]:
        """``{setting: default}`` of the settings a configuration key leaves out at their default."""
        return {f.name: f.default for f in fields(cls) if f.metadata.get("keyless")}

    @classmethod
    def bounds(cls) -> dict[str, dict]:
        """``{setting: {"min": low, "integer": bool, "when": setting or None}}`` for every bounded setting."""
        return {f.name: dict(f.metadata) for f in fields(cls) if "min" in f.metadata}


def measure_dtype(dtype: Any) -> Optional[str]:
    """The canonical name of a dtype a measurement can run in (``"fp16"`` -> ``"float16"``), else ``None``."""
    from effkit.units import dtype_name, parse_dtype  # torch: imported when needed, so the CLI starts fast

    try:
        name = dtype_name(parse_dtype(dtype))
    except BadInputError:
        return None
    return name if name in MEASURE_DTYPES else None


__all__ = ["MEASURE_DTYPES", "MeasureSettings", "measure_dtype"]
