"""Devices: which device a call means (:func:`resolve_device`, one rule for measurement, evaluation and the CLI) and
each device's peak compute and bandwidth over ``effkit/data/device_specs.csv`` (:func:`device_spec`), the two roofs
of a roofline.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional

import torch

from effkit.errors import BackendUnavailableError, BadInputError, setting
from effkit.units import dtype_name, parse_dtype


#: The device types effkit measures on.
MEASURED_TYPES = ("cpu", "cuda")


def parse_device(device: str | torch.device, *, measured: bool = True) -> Optional[torch.device]:
    """What a device setting names, read without looking at this machine (the one parser of device strings).

    ``"auto"`` (any case, spaces around it ignored) is ``None``: which device it means depends on the machine
    (:func:`resolve_device`). Anything else is what torch reads it as, the index kept as written.

    Args:
        measured: refuse device types effkit does not measure on (anything but ``cpu`` and ``cuda``).

    Raises:
        BadInputError: not a device string torch understands, or (``measured``) a type effkit cannot time.
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        text = device.strip().lower() if isinstance(device, str) else None
        if text == "auto":
            return None
        try:
            dev = torch.device(text) if text else None
        except (RuntimeError, TypeError, ValueError):
            dev = None
        if dev is None:
            raise BadInputError(f"unknown {setting('device')} {device!r}; use auto, cpu, cuda or cuda:N",
                                field="device")
    if measured and dev.type not in MEASURED_TYPES:
        raise BadInputError(f"{setting('device')} type {dev.type!r} is not supported for measurement; use cpu or "
                            "cuda:N", field="device")
    return dev


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; ``"cuda"``/``"cuda:N"`` checked against this machine.

    Raises:
        BackendUnavailableError: CUDA asked for but not available, or no such GPU index.
        BadInputError: a device string torch does not understand, or a type effkit cannot time
            (see :func:`parse_device`).
    """
    dev = parse_device(device)
    if dev is None:
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendUnavailableError(
                f"device {device!r} asked for, but CUDA is not available here "
                f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA); "
                f"use {setting('device')} cpu", field="device"
            )
        n = torch.cuda.device_count()
        index = dev.index if dev.index is not None else 0
        if index >= n:
            raise BackendUnavailableError(f"device {device!r} asked for, but only {n} CUDA device(s) are visible")
        return torch.device("cuda", index)
    return dev


def check_peaks(peak_tflops: float | None = None, bandwidth_gbs: float | None = None) -> None:
    """Refuse a ``peak_tflops`` / ``bandwidth_gbs`` that is not a positive finite number (``None`` passes)."""
    for name, v in (("peak_tflops", peak_tflops), ("bandwidth_gbs", bandwidth_gbs)):
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise BadInputError(f"{setting(name)} must be a positive number, got {v}", field=name)


@dataclass(frozen=True)
class DeviceSpec:
    """Peak compute and memory bandwidth of a device, the two roofs of a roofline.

    Attributes:
        name: display name (``"H100 SXM"``).
        peak_tflops: peak compute for the dtype plotted, TFLOP/s (dense).
        bandwidth_gbs: peak memory bandwidth, GB/s (10^9 bytes per second).
        dtype: dtype the peak refers to.
        source: where the numbers come from (vendor datasheet, or "user values").
        tdp_w: board power, W (NaN when unknown).
        other_peaks: further compute ceilings drawn dashed, as ``(label, tflops)`` pairs (TF32 tensor cores
            for float32: cuDNN convolutions use them by default).
        launch_overhead_us: host time eager PyTorch spends per op on this device's machine, microseconds
            (the table's ``launch_overhead_us`` column, filled where measured; NaN: unknown, the predictor's
            default applies).
    """

    name: str
    peak_tflops: float
    bandwidth_gbs: float
    dtype: str = "float32"
    source: str = ""
    tdp_w: float = math.nan
    other_peaks: tuple[tuple[str, float], ...] = field(default_factory=tuple)
    launch_overhead_us: float = math.nan

    @property
    def ridge_flop_per_byte(self) -> float:
        """Arithmetic intensity where the bandwidth roof meets the compute roof."""
        return self.peak_tflops * 1e12 / (self.bandwidth_gbs * 1e9)


_PEAK_COLUMNS = {"float32": "fp32_tflops", "float16": "fp16_tflops", "bfloat16": "bf16_tflops"}
DEVICE_COLUMNS = ["name", "aliases", "gpu_name_regex", "fp32_tflops", "tf32_tflops", "fp16_tflops",
                  "bf16_tflops", "bandwidth_gbs", "tdp_w", "source", "launch_overhead_us"]


def load_device_specs(path: str | Path | None = None):
    """The device table (bundled ``effkit/data/device_specs.csv``, or ``path``) as a DataFrame."""
    import pandas as pd

    p = Path(path) if path else Path(str(resources.files("effkit") / "data" / "device_specs.csv"))
    try:
        df = pd.read_csv(p)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise BadInputError(f"cannot read device specs {p}: {e}") from e
    missing = [c for c in ("name", "fp32_tflops", "bandwidth_gbs", "source") if c not in df.columns]
    if missing:
        raise BadInputError(f"device specs {p} lack column(s) {', '.join(missing)}")
    for c in DEVICE_COLUMNS:
        if c not in df.columns:
            df[c] = math.nan if c.endswith(("_tflops", "_gbs", "_w", "_us")) else ""
    return df


def device_spec(name: str | None = None, *, dtype: str = "float32", gpu_name: str | None = None,
                peak_tflops: float | None = None, bandwidth_gbs: float | None = None,
                path: str | Path | None = None) -> DeviceSpec:
    """Look up a device's peaks by name/alias or by the GPU name a measurement recorded; user values win.

    Args:
        name: a name or alias in the device table (``"H100 SXM"``, ``"h200"``, ``"titan x pascal"``).
        dtype: float32, float16 or bfloat16: picks the compute peak.
        gpu_name: the GPU name a measurement recorded (``"NVIDIA H100 80GB HBM3"``), matched against the
            table's ``gpu_name_regex`` when ``name`` is not given.
        peak_tflops: overrides the peak compute (TFLOP/s).
        bandwidth_gbs: overrides the bandwidth (GB/s).
        path: another device table with the same columns.

    Raises:
        BadInputError: unknown device, no peak for that dtype, or neither a device nor both user values.
    """
    dt = dtype_name(parse_dtype(dtype))
    check_peaks(peak_tflops, bandwidth_gbs)
    if name is None and gpu_name is None:
        if peak_tflops is None or bandwidth_gbs is None:
            raise BadInputError(f"no device to draw the roofs of: name one ({setting('device_spec')} H100 SXM, H200, "
                                f"'TITAN X (Pascal)') or give both {setting('peak_tflops')} and "
                                f"{setting('bandwidth_gbs')}", field="device_spec")
        return DeviceSpec("user values", float(peak_tflops), float(bandwidth_gbs), dt, "user values")
    table = load_device_specs(path)
    row = None
    if name is not None:
        key = _norm(name)
        for rec in table.to_dict(orient="records"):
            aliases = [_norm(a) for a in str(rec.get("aliases") or "").split(";") if a.strip()]
            if key == _norm(rec["name"]) or key in aliases:
                row = rec
                break
        if row is None:
            raise BadInputError(f"unknown device {name!r}; known: {', '.join(map(str, table['name']))} "
                                f"(or give {setting('peak_tflops')} and {setting('bandwidth_gbs')})", field="device_spec")
    else:
        for rec in table.to_dict(orient="records"):
            rx = rec.get("gpu_name_regex")
            if isinstance(rx, str) and rx and re.search(rx, gpu_name, flags=re.I):
                row = rec
                break
        if row is None:
            if peak_tflops is not None and bandwidth_gbs is not None:
                return DeviceSpec(gpu_name, float(peak_tflops), float(bandwidth_gbs), dt, "user values")
            raise BadInputError(f"no peaks known for {gpu_name!r}; name a device with {setting('device_spec')} "
                                f"({', '.join(map(str, table['name']))}) or give {setting('peak_tflops')} and "
                                f"{setting('bandwidth_gbs')}", field="device_spec")
    col = _PEAK_COLUMNS.get(dt)
    peak = row.get(col) if col else None
    if peak_tflops is not None:
        peak = peak_tflops
    if peak is None or (isinstance(peak, float) and math.isnan(peak)):
        raise BadInputError(f"the device table has no {dt} peak for {row['name']}; pass {setting('peak_tflops')}",
                            field="peak_tflops")
    bw = bandwidth_gbs if bandwidth_gbs is not None else row.get("bandwidth_gbs")
    if bw is None or (isinstance(bw, float) and math.isnan(bw)):
        raise BadInputError(f"the device table has no bandwidth for {row['name']}; pass "
                            f"{setting('bandwidth_gbs')}", field="bandwidth_gbs")
    others = []
    tf32 = row.get("tf32_tflops")
    if dt == "float32" and peak_tflops is None and isinstance(tf32, float) and not math.isnan(tf32):
        others.append(("TF32 tensor cores (cuDNN conv default)", float(tf32)))
    source = str(row.get("source") or "")
    if peak_tflops is not None or bandwidth_gbs is not None:
        source = "user values" + (f"; otherwise {source}" if source else "")
    tdp = row.get("tdp_w")
    launch = pd_float(row.get("launch_overhead_us"))
    return DeviceSpec(str(row["name"]), float(peak), float(bw), dt, source,
                      float(tdp) if tdp is not None else math.nan, tuple(others), launch)


def pd_float(v) -> float:
    """``v`` as a float, NaN when empty or not a number."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-()]+", " ", str(text).lower()).strip()


