"""``predict``: a model's latency (and, calibrated, energy) on a device, per layer and in total."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from effkit.errors import BadInputError, setting
from effkit.prediction.calibration import Calibration
from effkit.prediction.roofline import (
    OP_KINDS, Peaks, check_execution, device_peaks, kind_totals, layer_times, op_features,
    roofline_times,
)


@dataclass(frozen=True)
class Prediction:
    """What a model should cost on a device.

    Attributes:
        model, input_shape, dtype: what was analysed.
        method: ``"roofline"`` (peaks only) or ``"calibrated"`` (fitted rates; the roofline beside it when
            peaks were given too).
        latency_ms: predicted time per batch (the calibrated one when there is a calibration).
        fps: images per second at that latency.
        roofline_latency_ms / calibrated_latency_ms: each method's total (NaN when not run).
        energy_j_per_img: predicted joules per image, idle power included, as measured J/img is
            (calibrations with energy only, else NaN); ``energy_j_per_img_net`` leaves idle out.
        layers: one row per layer call: flops, bytes, kernels, time_ms, time_share, bound.
        ops: one row per op: kind, flops, bytes, kernels, compute_s, memory_s, launch_s, time_s, bound.
        bound_share: share of the predicted time in compute-, memory- and launch-bound ops.
        peaks: the device peaks used (``None`` when only calibrated).
        calibration: the calibration used, or ``None``.
        uncounted: ops without a formula, left out of the prediction (``{op: calls}``).
    """

    model: str
    input_shape: tuple[int, ...]
    dtype: str
    method: str
    latency_ms: float
    fps: float
    roofline_latency_ms: float
    calibrated_latency_ms: float
    energy_j_per_img: float
    energy_j_per_img_net: float
    layers: Any
    ops: Any
    bound_share: Mapping[str, float]
    peaks: Peaks | None = None
    calibration: Calibration | None = None
    uncounted: Mapping[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    execution: str = "eager"

    @property
    def device(self) -> str:
        if self.calibration is not None:
            where = self.calibration.fingerprint.get("gpu_name") or self.calibration.fingerprint.get("cpu_model")
            return f"machine {self.calibration.machine_id}" + (f" ({where})" if where else "")
        return self.peaks.name if self.peaks else "?"

    @property
    def regime(self) -> str:
        """What dominates the predicted time: ``launch``, ``memory`` or ``compute`` (the bound holding the
        largest share of it), or ``""`` when nothing was timed."""
        shares = {b: v for b, v in self.bound_share.items() if v == v}
        return max(shares, key=shares.get) if shares and max(shares.values()) > 0 else ""

    def summary(self) -> dict[str, Any]:
        """The totals as one flat dict (what a table row or JSON shows)."""
        return {
            "model": self.model, "input_shape": "x".join(map(str, self.input_shape)), "dtype": self.dtype,
            "device": self.device, "method": self.method, "execution": self.execution, "latency_ms": self.latency_ms, "fps": self.fps,
            "roofline_latency_ms": self.roofline_latency_ms, "calibrated_latency_ms": self.calibrated_latency_ms,
            "energy_j_per_img": self.energy_j_per_img, "energy_j_per_img_net": self.energy_j_per_img_net,
            **{f"{b}_bound_share": self.bound_share.get(b, 0.0) for b in ("compute", "memory", "launch")},
            "regime": self.regime,
        }


def calibrated_times(features, cal: Calibration):
    """Per-op times under a calibration: the same columns as :func:`roofline_times`, the terms added.

    A calibrated op's time is the sum of its compute, traffic and launch terms (the model fitted); its
    ``bound`` is the largest of the three. A benchmark calibration prices each op by its op class
    (:mod:`effkit.prediction.opclasses`); a class the fit left free costs nothing and has no ``bound``.
    """
    import numpy as np

    df = features.copy()
    if cal.class_rates:
        cls = op_kinds_of(df)
        free = {"s_per_flop": 0.0, "s_per_byte": 0.0}  # views, and kinds the calibration never saw
        df["compute_s"] = df["flops"] * np.array([cal.class_rates.get(c, free)["s_per_flop"] for c in cls], dtype=float)
        df["memory_s"] = df["bytes"] * np.array([cal.class_rates.get(c, free)["s_per_byte"] for c in cls], dtype=float)
    else:
        df["compute_s"] = df["flops"] * df["kind"].map(dict(cal.s_per_flop)).astype(float)
        df["memory_s"] = df["bytes"] * cal.s_per_byte
    df["launch_s"] = df["kernels"] * cal.s_per_kernel
    df["time_s"] = df["compute_s"] + df["memory_s"] + df["launch_s"]
    terms = df[["compute_s", "memory_s", "launch_s"]].to_numpy()
    df["bound"] = np.array(["compute", "memory", "launch"])[terms.argmax(axis=1)]
    df.loc[(df["kernels"] == 0) | (df["time_s"] <= 0), "bound"] = ""
    return df


def op_kinds_of(features) -> list[str]:
    """Each op's kind (:mod:`effkit.analysis.op_kinds`): the ``cls`` column where the analysis recorded it
    (convolutions told apart by their groups), else from the op's name (every convolution counted dense)."""
    if "cls" in features.columns:
        return list(features["cls"])
    from effkit.analysis.op_kinds import op_kind

    return ["conv" if o in ("convolution", "_convolution") else op_kind(str(o)) for o in features["op"]]


def outside_range(cal: Calibration, ops, flops_per_image: float, batch: int, input_size: int | None) -> list[str]:
    """What about a model lies outside what ``cal`` was fitted on, one warning each (none without a range)."""
    rng = cal.valid_range or {}
    out = []
    lo, hi = (rng.get("flops_per_image") or (None, None))[:2]
    if lo is not None and not lo <= flops_per_image <= hi:
        out.append(f"outside the calibration's range: {flops_per_image:.3g} FLOPs per image, the models it was "
                   f"fitted on have {lo:.3g} to {hi:.3g}; the prediction extrapolates")
    seen = rng.get("classes")
    if seen is not None:
        have = {c for c, k in zip(op_kinds_of(ops), ops["kernels"]) if k and c != "view"}
        new = sorted(have - set(seen))
        if new:
            out.append(f"outside the calibration's range: {', '.join(new)} ops, which no model it was fitted on "
                       "has, are priced at zero")
    sizes = rng.get("batch_sizes")
    if sizes and batch not in sizes:
        out.append(f"outside the calibration's range: batch {batch}, fitted at batch {', '.join(map(str, sizes))}; "
                   "per-batch costs (kernel starts) do not carry over between batch sizes")
    side = rng.get("input_sizes")
    if side and input_size is not None and not side[0] <= input_size <= side[1]:
        out.append(f"outside the calibration's range: input {input_size} px, fitted on {side[0]} to {side[1]} px")
    return out


def check_same_machine(cal: Calibration, peaks: Peaks | None, spec_name: str | None) -> None:
    """Refuse a calibration fitted on another device than the one named.

    Raises:
        BadInputError: the device table's GPU pattern for ``spec_name`` does not match the calibration's GPU.
    """
    if peaks is None or spec_name is None:
        return
    from effkit.devices import load_device_specs

    gpu = cal.fingerprint.get("gpu_name") or ""
    for rec in load_device_specs().to_dict(orient="records"):
        if str(rec["name"]) != peaks.name:
            continue
        rx = rec.get("gpu_name_regex")
        if isinstance(rx, str) and rx and not re.search(rx, gpu, flags=re.I):
            ran_on = gpu or cal.fingerprint.get("cpu_model") or "another device"
            raise BadInputError(
                f"calibration {cal.machine_id} was fitted on {ran_on}, not on a {peaks.name}; calibrate from "
                f"measurements made on a {peaks.name}, or drop {setting('device_spec')} to predict for "
                "the calibrated machine", field="calibration")


def predict(model, device_spec: str | None = None, *, input_shape: Sequence[int] | str | None = None,
            batch_size: int | None = None, input_size: int | None = None, dtype: str = "float32",
            peak_tflops: float | None = None, bandwidth_gbs: float | None = None,
            launch_overhead_us: float | None = None, calibration: Calibration | str | None = None,
            db=None, profile=None, execution: str = "eager") -> Prediction:
    """Predict a model's latency per layer and in total on a device, from its roofline or a calibration.

    Args:
        model: a zoo name, external spec or ``nn.Module`` (analysed on the meta device).
        device_spec: a device of ``effkit/data/device_specs.csv`` (``"H100 SXM"``, ``"h200"``).
        input_shape / batch_size / input_size: the input analysed (default ``(1, 3, S, S)``).
        dtype: float32, float16 or bfloat16: picks the peaks and the bytes per element.
        peak_tflops, bandwidth_gbs: user peaks (override the device table, or stand for a device not in it).
        launch_overhead_us: the roofline's fixed cost per kernel: the host's time per op, microseconds
            (default: the device table's value for the device, else ``DEFAULT_LAUNCH_US``).
        calibration: a :class:`Calibration`, or the machine id whose stored calibration to use (from ``db``).
        db: the results database holding calibrations.
        profile: an already computed :class:`~effkit.analysis.profile.Profile` of ``model`` (skips the analysis).
        execution: ``"eager"`` (every op reads its inputs and writes its output, as eager PyTorch does) or
            ``"fused"`` (the traffic of a fused deployment: ``mac_fused_bytes``).

    Raises:
        BadInputError: no device and no calibration, unknown device, a missing calibration or one fitted
            on another GPU than ``device_spec`` names.
    """
    from effkit.models.resolve import resolve_input_shape
    from effkit.units import dtype_name, parse_dtype

    dt = dtype_name(parse_dtype(dtype))
    check_execution(execution)
    peaks = None
    if device_spec is not None or peak_tflops is not None or bandwidth_gbs is not None or calibration is None:
        peaks = device_peaks(device_spec, dtype=dt, peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs,
                             launch_overhead_us=launch_overhead_us)
    cal = calibration
    if isinstance(calibration, str):
        from effkit.store.calibrations import load_calibration

        cal = load_calibration(calibration, dt, db)
    if cal is not None:
        if cal.dtype != dt:
            raise BadInputError(f"calibration {cal.machine_id} is for {cal.dtype}, not {dt}", field="calibration")
        check_same_machine(cal, peaks, device_spec)
    kinds = None
    if profile is None:
        import warnings

        from effkit.analysis.profile import UncountedOpsWarning
        from effkit.analysis.profile import profile as run_profile

        shape = resolve_input_shape(model, input_size, input_shape, batch_size)
        if cal is not None and cal.class_rates:
            from effkit.prediction.opclasses import profile_with_kinds

            profile, kinds = profile_with_kinds(model, shape, dt)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UncountedOpsWarning)
                profile = run_profile(model, shape, dt, warn=False)
    return predict_profile(profile, peaks, cal, execution=execution, kinds=kinds)


def predict_profile(prof, peaks: Peaks | None, cal: Calibration | None, *, execution: str = "eager",
                    kinds: Sequence[str] | None = None) -> Prediction:
    """:func:`predict` for an analysed model: the roofline under ``peaks``, the calibrated model under ``cal``;
    ``kinds``: each op's kind (:func:`effkit.prediction.opclasses.profile_with_kinds`), where known."""
    feats, uncounted = op_features(prof.ops, execution)
    if kinds is not None:
        counted = prof.ops["counted"].astype(bool) if "counted" in prof.ops.columns else [True] * len(kinds)
        feats["cls"] = [k for k, c in zip(kinds, counted) if c]
    roof = roofline_times(feats, peaks) if peaks is not None else None
    calib = calibrated_times(feats, cal) if cal is not None else None
    ops = calib if calib is not None else roof
    roof_ms = float(roof["time_s"].sum() * 1e3) if roof is not None else math.nan
    cal_ms = float(calib["time_s"].sum() * 1e3) if calib is not None else math.nan
    latency_ms = cal_ms if calib is not None else roof_ms
    batch = prof.input_shape[0]
    totals = kind_totals(feats)
    net = gross = math.nan
    if cal is not None and cal.energy:
        flops = sum(totals[f"flops_{k}"] for k in OP_KINDS)
        net, gross = (e / batch for e in cal.energy_j(latency_ms / 1e3, flops, totals["bytes"]))
    timed = ops[ops["kernels"] > 0]
    total = timed["time_s"].sum()
    share = {b: float(timed.loc[timed["bound"] == b, "time_s"].sum() / total) if total > 0 else math.nan
             for b in ("compute", "memory", "launch")}
    notes = list(peaks.notes) if peaks is not None else []
    if cal is not None:
        shape = tuple(prof.input_shape)
        side = shape[-1] if len(shape) == 4 and shape[-1] == shape[-2] else None
        notes += outside_range(cal, feats, float(feats["flops"].sum()) / batch, batch, side)
    if uncounted:
        notes.append("ops without a formula are left out of the prediction: "
                     + ", ".join(f"{k} ({v})" for k, v in sorted(uncounted.items())))
    return Prediction(
        model=prof.model_name, input_shape=tuple(prof.input_shape), dtype=prof.dtype,
        method="calibrated" if cal is not None else "roofline", latency_ms=latency_ms,
        fps=batch / (latency_ms / 1e3) if latency_ms > 0 else math.nan, roofline_latency_ms=roof_ms,
        calibrated_latency_ms=cal_ms, energy_j_per_img=gross, energy_j_per_img_net=net,
        layers=layer_times(ops), ops=ops, bound_share=share, peaks=peaks, calibration=cal,
        uncounted=uncounted, notes=tuple(notes), execution=execution,
    )
