"""The result of a calibration: one machine's achieved rates at one dtype, and what they predict.

:func:`effkit.prediction.calibrate.calibrate` fits it; the results store keeps it
(:mod:`effkit.store.calibrations`); :func:`effkit.predict` uses it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from effkit.prediction.roofline import OP_KINDS, Peaks

#: The time model's features, in coefficient order.
TIME_FEATURES = (*(f"flops_{k}" for k in OP_KINDS), "bytes", "kernels")


@dataclass(frozen=True)
class Calibration:
    """Achieved rates of one machine at one dtype, fitted to its measurements.

    Attributes:
        machine_id: the machine fingerprint's id the measurements carry.
        dtype: the dtype measured.
        fingerprint: the rest of the fingerprint (gpu_name, cpu_model, hostname, torch_version, device).
        s_per_flop: seconds per FLOP of each op kind (1 / achieved FLOP/s; 0 when the fit found no cost).
        s_per_byte: seconds per byte moved (1 / achieved bandwidth).
        s_per_kernel: seconds per kernel launched.
        energy: ``{"idle_w", "j_per_flop", "j_per_byte"}``, or ``None`` with ``energy_note`` saying why.
        models: the models fitted.
        points: whole-model rows fitted; ``layer_points``: per-layer timings fitted.
        loo: leave-one-model-out results, one dict per left-out row (model, batch_size, measured_ms,
            predicted_ms, error = predicted / measured - 1).
        loo_median_abs_error: median of ``|error|`` over ``loo`` (NaN with fewer than 3 models).
        energy_loo_median_abs_error: the same for J/img, where energy was measured.
        class_rates: for a calibration fitted to a benchmark file, seconds per FLOP and per byte of each op
            class (``{class: {"s_per_flop", "s_per_byte"}}``, :mod:`effkit.prediction.opclasses`), which
            replace ``s_per_flop`` and ``s_per_byte``; ``None`` otherwise.
        valid_range: what the fit saw (``flops_per_image`` [min, max], ``batch_sizes``, ``input_sizes``,
            ``classes``); a prediction outside it says so.
        scores: the fit's out-of-sample errors and the baselines beside them (benchmark calibrations).
        source: the benchmark file fitted, where there was one.
    """

    machine_id: str
    dtype: str
    fingerprint: Mapping[str, Any]
    s_per_flop: Mapping[str, float]
    s_per_byte: float
    s_per_kernel: float
    energy: Mapping[str, float] | None = None
    energy_note: str = ""
    models: tuple[str, ...] = ()
    points: int = 0
    layer_points: int = 0
    loo: tuple[Mapping[str, Any], ...] = ()
    loo_median_abs_error: float = math.nan
    energy_loo_median_abs_error: float = math.nan
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    notes: tuple[str, ...] = ()
    class_rates: Mapping[str, Mapping[str, float]] | None = None
    valid_range: Mapping[str, Any] | None = None
    scores: Mapping[str, Any] | None = None
    source: str = ""

    @property
    def coefficients(self):
        """The time coefficients in :data:`TIME_FEATURES` order."""
        return [*(self.s_per_flop[k] for k in OP_KINDS), self.s_per_byte, self.s_per_kernel]

    def achieved(self) -> dict[str, float]:
        """Achieved rates: ``gflops_per_s_<kind>``, ``bandwidth_gbs`` and ``kernel_overhead_us``."""
        out = {f"gflops_per_s_{k}": (1e-9 / v if v > 0 else math.inf) for k, v in self.s_per_flop.items()}
        out["bandwidth_gbs"] = 1e-9 / self.s_per_byte if self.s_per_byte > 0 else math.inf
        out["kernel_overhead_us"] = self.s_per_kernel * 1e6
        return out

    def fractions(self, peaks: Peaks) -> dict[str, float]:
        """Achieved fraction of each peak (compute per op kind, bandwidth) of a device."""
        rates = self.achieved()
        out = {f"compute_{k}": rates[f"gflops_per_s_{k}"] / (peaks.tflops[k] * 1e3) for k in OP_KINDS}
        out["bandwidth"] = rates["bandwidth_gbs"] / peaks.bandwidth_gbs
        return out

    def time_s(self, totals: Mapping[str, float]) -> float:
        """Predicted seconds for features ``totals`` (:data:`TIME_FEATURES`)."""
        return float(sum(c * float(totals.get(f, 0.0)) for c, f in zip(self.coefficients, TIME_FEATURES)))

    def energy_j(self, time_s: float, flops: float, nbytes: float) -> tuple[float, float]:
        """(net, gross) joules for one batch; NaN without an energy model."""
        if not self.energy:
            return math.nan, math.nan
        net = self.energy["j_per_flop"] * flops + self.energy["j_per_byte"] * nbytes
        return net, net + self.energy["idle_w"] * time_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        d = dict(d)
        for key in ("models", "loo", "notes"):
            d[key] = tuple(d.get(key) or ())
        for key in ("loo_median_abs_error", "energy_loo_median_abs_error"):
            d[key] = math.nan if d.get(key) is None else float(d[key])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})
