"""Per-op roofline prediction: how long a model should take on a device, from its FLOPs and bytes.

Each op costs ``max(flops / peak(dtype, op kind), bytes / bandwidth) + launch_overhead``: it is held up
either by the arithmetic units or by memory, and pays a fixed cost to start. Views move nothing and launch
nothing. The traffic is eager PyTorch's by default (``mac_bytes``: every op reads its inputs and writes its
output); ``execution="fused"`` takes a fused deployment's instead (``mac_fused_bytes``, see
:mod:`effkit.analysis.fused`), where an op absorbed into its producer launches no kernel of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from effkit.errors import BadInputError, setting

#: Op kinds with their own compute peak (and, in a calibration, their own achieved rate).
OP_KINDS = ("conv", "matmul", "vector")
CONV_OPS = frozenset({"convolution", "_convolution", "conv2d", "conv1d", "conv3d", "cudnn_convolution"})
MATMUL_OPS = frozenset({"addmm", "mm", "bmm", "baddbmm", "linear", "matmul"})
#: Host time per op when neither the device table nor the user says otherwise, microseconds. Eager PyTorch
#: spends 10-30 us of CPU time per op on a current server (Python, the dispatcher, argument checks, the
#: CUDA launch call); a GPU kernel cannot start before its host work is done, so at small batches a model is
#: launch-bound however fast the GPU. 15 us sits in that range; a calibration measures it per machine
#: (``s_per_kernel``), the device table's ``launch_overhead_us`` column holds a measured value per device.
DEFAULT_LAUNCH_US = 15.0
BOUNDS = ("compute", "memory", "launch")
#: Which traffic a prediction charges: eager PyTorch's, or a fused deployment's.
EXECUTIONS = {"eager": "mac_bytes", "fused": "mac_fused_bytes"}


def op_kind(op: str) -> str:
    """``"conv"``, ``"matmul"`` or ``"vector"`` (elementwise, normalisation, pooling, cat...) for an aten op name."""
    if op in CONV_OPS:
        return "conv"
    if op in MATMUL_OPS:
        return "matmul"
    return "vector"


def layer_kind(module_type: str) -> str:
    """The op kind of a timed leaf module by its class name (per-layer measurements carry no op names)."""
    t = str(module_type).lower()
    if t.startswith("conv"):
        return "conv"
    if t in ("linear", "bilinear", "lazylinear"):
        return "matmul"
    return "vector"


def check_execution(execution: str) -> str:
    """``execution`` if it is one of :data:`EXECUTIONS`, else bad input."""
    if execution not in EXECUTIONS:
        raise BadInputError(f"{setting('execution')} must be one of {', '.join(EXECUTIONS)}, got {execution!r}",
                            field="execution")
    return execution


def op_features(ops, execution: str = "eager") -> tuple[Any, dict[str, int]]:
    """Per-op features for prediction from a Profile's ``ops``: kind, flops, bytes and kernels launched.

    An op that moves nothing and computes nothing (a view, an ``empty``) launches no kernel; under
    ``execution="fused"`` neither does an op that moves nothing of its own (it runs as its producer's
    epilogue, or writes into a concatenation buffer). Ops without a formula are left out and returned as
    ``{op: calls}``, so their cost is known to be missing.
    """
    import pandas as pd

    column = EXECUTIONS[check_execution(execution)]

    counted = ops["counted"].astype(bool) if "counted" in ops.columns else pd.Series(True, index=ops.index)
    missing = ops.loc[~counted, "op"].value_counts().to_dict()
    df = ops.loc[counted, ["layer", "call", "op"]].copy()
    df["kind"] = [op_kind(o) for o in df["op"]]
    df["flops"] = pd.to_numeric(ops.loc[counted, "flops"]).astype(float)
    df["bytes"] = pd.to_numeric(ops.loc[counted, column]).astype(float)
    launches = df["bytes"] > 0 if execution == "fused" else (df["flops"] > 0) | (df["bytes"] > 0)
    df["kernels"] = launches.astype(float)
    return df.reset_index(drop=True), {str(k): int(v) for k, v in missing.items()}


def kind_totals(features) -> dict[str, float]:
    """Whole-model sums of the features: ``flops_conv``, ``flops_matmul``, ``flops_vector``, ``bytes``, ``kernels``."""
    out = {f"flops_{k}": float(features.loc[features["kind"] == k, "flops"].sum()) for k in OP_KINDS}
    out["bytes"] = float(features["bytes"].sum())
    out["kernels"] = float(features["kernels"].sum())
    return out


@dataclass(frozen=True)
class Peaks:
    """What a device can do at most: compute per op kind, memory bandwidth and the cost of a launch.

    Attributes:
        name: the device (``"H100 SXM"``, or ``"user values"``).
        dtype: the dtype the compute peaks refer to.
        tflops: peak TFLOP/s per op kind (:data:`OP_KINDS`).
        bandwidth_gbs: peak memory bandwidth, GB/s (10^9 bytes per second).
        launch_overhead_us: fixed time per kernel (the host's time per op), microseconds.
        source: where the numbers come from.
    """

    name: str
    dtype: str
    tflops: Mapping[str, float]
    bandwidth_gbs: float
    launch_overhead_us: float = DEFAULT_LAUNCH_US
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


def _check_positive(name: str, value: float | None, *, zero_ok: bool = False) -> None:
    if value is None:
        return
    ok = value >= 0 if zero_ok else value > 0
    if not (isinstance(value, (int, float)) and ok and math.isfinite(value)):
        raise BadInputError(f"{setting(name)} must be a {'non-negative' if zero_ok else 'positive'} "
                            f"number, got {value}", field=name)


def device_peaks(name: str | None = None, *, dtype: str = "float32", gpu_name: str | None = None,
                 peak_tflops: float | None = None, bandwidth_gbs: float | None = None,
                 launch_overhead_us: float | None = None) -> Peaks:
    """The peaks of a device from ``effkit/data/device_specs.csv`` (by name or recorded GPU name), or user values.

    Which peak each op kind meets follows PyTorch's defaults on NVIDIA GPUs: in float32 cuDNN convolutions
    run on TF32 tensor cores while matmuls do not; in float16/bfloat16 both use tensor cores. Elementwise
    and normalisation ops run on the float32 CUDA cores. ``peak_tflops`` replaces every compute peak.

    Raises:
        BadInputError: unknown device, no peak for the dtype, or a value that is not a positive number.
    """
    from effkit.units import dtype_name, parse_dtype
    from effkit.devices import device_spec

    dt = dtype_name(parse_dtype(dtype))
    _check_positive("peak_tflops", peak_tflops)
    _check_positive("bandwidth_gbs", bandwidth_gbs)
    _check_positive("launch_overhead_us", launch_overhead_us, zero_ok=True)
    if name is None and gpu_name is None:
        if peak_tflops is None or bandwidth_gbs is None:
            raise BadInputError(f"no device to predict for: name one with {setting('device_spec')} "
                                f"(H100 SXM, H200, 'TITAN X (Pascal)') or give both {setting('peak_tflops')} "
                                f"and {setting('bandwidth_gbs')}", field="device_spec")
        launch = DEFAULT_LAUNCH_US if launch_overhead_us is None else launch_overhead_us
        return Peaks("user values", dt, dict.fromkeys(OP_KINDS, float(peak_tflops)), float(bandwidth_gbs),
                     float(launch), "user values", (_launch_note(launch, launch_overhead_us, math.nan),))
    spec = device_spec(name, dtype=dt, gpu_name=gpu_name, peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs)
    if peak_tflops is not None:
        tflops = dict.fromkeys(OP_KINDS, float(peak_tflops))
        notes: tuple[str, ...] = ()
    else:
        fp32 = device_spec(name, dtype="float32", gpu_name=gpu_name)
        tf32 = dict(fp32.other_peaks)
        tf32_peak = next(iter(tf32.values()), None)
        conv = spec.peak_tflops if dt != "float32" else (tf32_peak or spec.peak_tflops)
        tflops = {"conv": float(conv), "matmul": float(spec.peak_tflops), "vector": float(fp32.peak_tflops)}
        notes = ((f"float32 convolutions at the TF32 tensor-core peak ({tf32_peak:g} TFLOP/s), "
                  "as cuDNN runs them by default",) if dt == "float32" and tf32_peak else ())
    table_us = spec.launch_overhead_us
    launch = launch_overhead_us if launch_overhead_us is not None else (
        table_us if math.isfinite(table_us) else DEFAULT_LAUNCH_US)
    notes = (*notes, _launch_note(launch, launch_overhead_us, table_us))
    return Peaks(spec.name, dt, tflops, float(spec.bandwidth_gbs), float(launch), spec.source, notes)


def _launch_note(launch: float, given: float | None, table_us: float) -> str:
    where = ("as given" if given is not None else "the device table's measured value" if math.isfinite(table_us)
             else "effkit's default for eager PyTorch, which spends 10-30 us of host time per op")
    return f"host overhead {launch:g} us per op ({where}; change it with {setting('launch_overhead_us')})"


def roofline_times(features, peaks: Peaks):
    """Per-op times under the roofline: adds ``compute_s``, ``memory_s``, ``launch_s``, ``time_s``, ``bound``.

    ``bound`` says which term decides the op: ``launch`` when starting the kernel costs more than either
    the arithmetic or the traffic, else the larger of the two (ties go to compute).
    """
    import numpy as np

    df = features.copy()
    peak = df["kind"].map({k: v * 1e12 for k, v in peaks.tflops.items()}).astype(float)
    df["compute_s"] = df["flops"] / peak
    df["memory_s"] = df["bytes"] / (peaks.bandwidth_gbs * 1e9)
    df["launch_s"] = df["kernels"] * peaks.launch_overhead_us * 1e-6
    work = np.maximum(df["compute_s"], df["memory_s"])
    df["time_s"] = work + df["launch_s"]
    df["bound"] = np.where(df["launch_s"] > work, "launch",
                           np.where(df["compute_s"] >= df["memory_s"], "compute", "memory"))
    df.loc[df["kernels"] == 0, "bound"] = ""
    return df


def layer_times(op_times):
    """Per-op times summed per layer call; a layer's ``bound`` is the bound holding most of its time."""
    import pandas as pd

    timed = op_times[op_times["kernels"] > 0]
    keys = ["layer", "call"]
    sums = timed.groupby(keys, sort=False)[["flops", "bytes", "kernels", "time_s"]].sum()
    share = timed.groupby([*keys, "bound"], sort=False)["time_s"].sum().reset_index()
    top = share.sort_values("time_s", ascending=False).drop_duplicates(keys).set_index(keys)["bound"]
    out = sums.join(top).reset_index()
    out["time_ms"] = out["time_s"] * 1e3
    total = out["time_s"].sum()
    out["time_share"] = out["time_s"] / total if total > 0 else math.nan
    return pd.DataFrame(out[["layer", "call", "flops", "bytes", "kernels", "time_ms", "time_share", "bound"]])
