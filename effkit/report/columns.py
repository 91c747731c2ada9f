"""What each column of effkit's tables is called for people, and how its cells are written.

One mapping for every table a person reads (``profile``, ``measure``, ``compare``, ``results list``, the
sweep summary, the report): a column's header is words with a unit (``latency (ms)``, ``energy (J/img)``,
``peak memory (MiB)``). CSV and JSON keep the raw column names and the raw numbers.

Durations and bytes are shown in one unit per column, the one that suits the column's largest value
(``latency (s)`` with ``20.4`` rather than ``20.4K`` ms; ``peak memory (GiB)``), each cell with three
significant digits and every digit of its integer part; a column whose values span more than that unit
reads well in gives each cell its own unit (``3.21 ms``, ``20.4 s``). Counts (params, FLOPs, MAC) keep K/M/G.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from effkit.units import BYTE_UNITS, duration_unit, human, human_bytes, human_ms, sig


@dataclass(frozen=True)
class Column:
    """``label``: the words; ``kind``: how cells are written; ``unit``: the fixed unit, for ``kind='value'``.

    Kinds: ``text`` (as is, left-aligned), ``name`` (text cut on the left when too long: the tail of a
    module path says most), ``int`` (a plain
    integer), ``count`` (K/M/G), ``value`` (three significant digits, ``unit`` in the header), ``ms``
    (a duration stored in milliseconds), ``s`` (stored in seconds), ``bytes``, ``bool`` (yes/no).
    """

    label: str
    kind: str = "text"
    unit: str = ""
    #: The narrowest a cut text column may be made on a narrow terminal (0: never cut).
    shrink: int = 0


COLUMNS: dict[str, Column] = {
    # what and where
    "name": Column("name", "name", shrink=28), "model": Column("model", "name", shrink=16),
    "layer": Column("layer", "name", shrink=24),
    "type": Column("type"), "family": Column("family"), "ops": Column("ops"), "op": Column("op"),
    "input_shape": Column("input shape"), "output_shape": Column("output shape"),
    "id": Column("id", "int"), "config": Column("config", "int"), "call": Column("call", "int"),
    "repeat": Column("repeat", "int"), "depth": Column("depth", "int"), "layers": Column("layers", "int"),
    "batch_size": Column("batch", "int"), "iterations": Column("iterations", "int"),
    "timestamp": Column("time"), "device": Column("device"), "dtype": Column("dtype"),
    "channels_last": Column("channels last", "bool"), "status": Column("status"), "error": Column("error", shrink=12),
    "gpu_name": Column("GPU", shrink=12), "hostname": Column("host", shrink=10), "cpu_model": Column("CPU", shrink=12),
    "bound": Column("bound"), "kernels": Column("kernels", "int"),
    # the analysis
    "params": Column("params", "count"), "mult_adds": Column("mult-adds", "count"),
    "flops": Column("FLOPs", "count"), "mac": Column("MAC", "count"), "paper_mac": Column("paper MAC", "count"),
    "mac_fused": Column("fused MAC", "count"), "mac_min": Column("min MAC", "count"),
    "mac_ratio": Column("MAC ratio", "value"), "activations": Column("activations", "count"),
    "mac_bytes": Column("MAC bytes", "bytes"), "mac_fused_bytes": Column("fused MAC bytes", "bytes"),
    "bytes": Column("bytes", "bytes"),
    # measurements
    "latency_ms": Column("latency", "ms"), "latency_p90_ms": Column("p90 latency", "ms"),
    "latency_p99_ms": Column("p99 latency", "ms"), "time_ms": Column("time", "ms"),
    "warmup_s": Column("warm-up", "s"), "min_time_s": Column("timed for", "s"),
    "energy_window_s": Column("energy window", "s"),
    "fps": Column("FPS", "value", "img/s"), "flops_per_s": Column("achieved FLOP/s", "count"),
    "gflops_per_s": Column("achieved FLOP/s", "value", "G"),
    "peak_memory_bytes": Column("peak memory", "bytes"), "activation_bytes": Column("activation memory", "bytes"),
    "energy_j_per_img": Column("energy", "value", "J/img"),
    "energy_j_per_img_net": Column("net energy", "value", "J/img"),
    "energy_j_per_img_std": Column("energy std", "value", "J/img"),
    "mean_power_w": Column("mean power", "value", "W"), "idle_power_w": Column("idle power", "value", "W"),
    "clock_drop": Column("clock drop", "bool"), "time_share": Column("time share", "value"),
    "top1": Column("top-1", "value", "%"),
}


def column(name: str) -> Column:
    """The column's entry; a column not in :data:`COLUMNS` is shown under its own name."""
    return COLUMNS.get(name) or Column(name.replace("_", " "), "text")


def header(name: str, unit: str | None = None) -> str:
    """``latency_ms -> 'latency (ms)'``; ``unit`` replaces the column's own unit (a report's ``M``, say)."""
    col = column(name)
    unit = col.unit if unit is None else unit
    return f"{col.label} ({unit})" if unit else col.label


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v == ""


def _numbers(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        if _missing(v) or isinstance(v, (str, bool)):
            continue
        try:
            out.append(abs(float(v)))
        except (TypeError, ValueError):
            continue
    return [v for v in out if math.isfinite(v)]


def _bytes_unit(largest: float) -> tuple[str, float]:
    size = 1.0
    for unit in BYTE_UNITS:
        if largest < 1024 * size or unit == BYTE_UNITS[-1]:
            return unit, size
        size *= 1024
    raise AssertionError("unreachable")


def _cell(kind: str, v: Any, size: float) -> str:
    if _missing(v):
        return ""
    if isinstance(v, str):
        return v
    if kind == "bool":
        return "yes" if v is True or v == 1 else "no"
    if kind == "int" and not isinstance(v, bool):
        try:
            return str(int(v))
        except (TypeError, ValueError):
            return str(v)
    if kind in ("ms", "s", "bytes", "value") and not isinstance(v, bool):
        try:
            return sig(float(v) / size)
        except (TypeError, ValueError):
            return str(v)
    return human(v)


def format_column(name: str, values: Sequence[Any]) -> tuple[str, list[str]]:
    """The header and the cells of column ``name``.

    A duration or byte column takes the unit of its largest value, in the header; where a smaller value
    would then read ``0.0…`` (a column from 3 ms to 20 s), each cell carries its own unit instead and the
    header only the words.

    >>> format_column("latency_ms", [85.2, 203.0])
    ('latency (ms)', ['85.2', '203'])
    >>> format_column("latency_ms", [3.214, 20400.0])
    ('latency', ['3.21 ms', '20.4 s'])
    """
    col = column(name)
    numbers = _numbers(values)
    largest = max(numbers) if numbers else 0.0
    size, unit = 1.0, None
    if col.kind in ("ms", "s"):
        ms = 1.0 if col.kind == "ms" else 1e3
        unit, size = duration_unit(largest * ms) if largest else ("ms", 1.0)
        size /= ms
    elif col.kind == "bytes":
        unit, size = _bytes_unit(largest)
    if unit is not None and any(0 < v / size < 0.1 for v in numbers):
        return col.label, [_own_unit(col.kind, v) for v in values]
    return header(name, unit), [_cell(col.kind, v, size) for v in values]


def _own_unit(kind: str, v: Any) -> str:
    if _missing(v) or isinstance(v, (str, bool)):
        return "" if _missing(v) else str(v)
    if kind == "bytes":
        return human_bytes(v)
    return human_ms(float(v) * (1e3 if kind == "s" else 1.0))


def is_numeric(name: str, values: Sequence[Any]) -> bool:
    """Right-aligned: a numeric kind, or a column of numbers not in the mapping."""
    kind = column(name).kind
    if kind in ("int", "count", "value", "ms", "s", "bytes"):
        return True
    if kind != "text" or name in COLUMNS:
        return False
    present = [v for v in values if not _missing(v)]
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)


def says_nothing(values: Sequence[Any]) -> bool:
    """A column with no value at all (every cell missing)."""
    return all(_missing(v) for v in values)
