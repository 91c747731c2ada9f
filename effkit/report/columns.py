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

# effkit.units (it imports torch) is imported where a cell is written: the definitions are read by `--help`


@dataclass(frozen=True)
class Column:
    """``label``: the words; ``kind``: how cells are written; ``unit``: the fixed unit, for ``kind='value'``.

    Kinds: ``text`` (as is, left-aligned), ``name`` (text cut on the left when too long: the tail of a
    module path says most), ``int`` (a plain
    integer), ``count`` (K/M/G), ``value`` (three significant digits, ``unit`` in the header), ``ms``
    (a duration stored in milliseconds), ``s`` (stored in seconds), ``bytes``, ``bool`` (yes/no),
    ``percent`` (a fraction stored, shown as a percentage: ``0.0129 -> 1.29`` under ``(%)``).
    ``means``: what the number is and how it is computed, in the words the README, the CLI's help and the
    report's Method section use.
    """

    label: str
    kind: str = "text"
    unit: str = ""
    #: The narrowest a cut text column may be made on a narrow terminal (0: never cut).
    shrink: int = 0
    means: str = ""


def _c(label: str, kind: str = "text", unit: str = "", *, shrink: int = 0, means: str = "") -> Column:
    return Column(label, kind, unit if kind != "percent" else "%", shrink, means)


#: Definitions more than one column shares.
_FPS = "sustained throughput: images / timed span (whole chunks of back-to-back iterations, gaps included)"
_FLOPS_PER_S = "achieved FLOP/s = flops of a batch × fps / batch (the paper's GPU computation efficiency)"
_LATENCY = ("time per batch of one iteration, from per-iteration timings (CUDA events on a GPU): the median over "
            "the timed iterations")
_ENERGY = ("joules per image, gross (energy counter delta / images, as nvidia-smi power × time); empty (never 0) "
           "when not measured, energy_status says why")
_MEMORY = ("GPU: max_memory_allocated, weights included; CPU: the peak rise of resident memory over inference, "
           "weights excluded (memory_method says which)")

COLUMNS: dict[str, Column] = {
    # what and where
    "name": _c("name", "name", shrink=28), "model": _c("model", "name", shrink=16),
    "layer": _c("layer", "name", shrink=24),
    "type": _c("type"), "family": _c("family"), "ops": _c("ops"), "op": _c("op"),
    "input_shape": _c("input shape"), "output_shape": _c("output shape"),
    "input_size": _c("input size", "int"), "description": _c("description", shrink=20),
    "field": _c("field"), "value": _c("value", shrink=20), "estimate_s": _c("estimated time"),
    "id": _c("id", "int"), "config": _c("config", "int"), "call": _c("call", "int"),
    "repeat": _c("repeat", "int"), "depth": _c("depth", "int"), "layers": _c("layers", "int"),
    "batch_size": _c("batch", "int"), "iterations": _c("iterations", "int", means="timed iterations done"),
    "timestamp": _c("time"), "device": _c("device"), "dtype": _c("dtype"),
    "channels_last": _c("channels last", "bool"), "status": _c("status"), "error": _c("error", shrink=12),
    "gpu_name": _c("GPU", shrink=12), "hostname": _c("host", shrink=10), "cpu_model": _c("CPU", shrink=12),
    "machine": _c("machine", shrink=16), "machine_id": _c("machine id", shrink=8), "kind": _c("kind"),
    "date": _c("date"), "rows": _c("rows", "int"), "batch_sizes": _c("batch sizes"), "dtypes": _c("dtypes"),
    "models": _c("models", "int", shrink=12), "points": _c("points", "int"),
    "layer_points": _c("layer points", "int"),
    "bound": _c("bound", means="what limits the op in the roofline: compute, memory or launch"),
    "kernels": _c("kernels", "int", means="kernels the op launches"),
    "proxy": _c("proxy"), "target": _c("target"), "n_models": _c("models", "int"),
    # the analysis
    "params": _c("params", "count", means=(
        "parameter elements (BN running statistics are buffers, not params); per layer, each parameter is counted "
        "in the row that first reads it, so a tied weight counts once and the rows add up to the total")),
    "shared_params": _c("shared params", "count", means=(
        "(layer table) parameters a row reads that an earlier row of another module already counted "
        "(tied weights)")),
    "mult_adds": _c("mult-adds", "count", means=(
        "multiply-accumulates of conv / linear / matmul (what torchvision's \"GFLOPS\" and fvcore count)")),
    "flops": _c("FLOPs", "count", means=(
        "floating-point operations: 2 × mult_adds for conv/linear/matmul; other ops by their own formula "
        "(effkit/analysis/formulas.py)")),
    "mac": _c("MAC", "count", means=(
        "memory access cost in elements: each op reads each input and weight once and writes its output once")),
    "paper_mac": _c("paper MAC", "count", means="the paper's figure: mac summed over conv and linear layers only"),
    "mac_fused": _c("fused MAC", "count", means=(
        "what a fusing engine moves: BN, activations and residual adds run inside the preceding conv/linear, "
        "producers write straight into a concatenation's buffer")),
    "mac_min": _c("min MAC", "count", means=(
        "the paper's lower bound of MAC for a conv at its FLOPs (its equation 2), reached when input and output "
        "channels are equal")),
    "mac_ratio": _c("MAC ratio", "value", means="mac / mac_min: how far a conv is from the paper's bound"),
    "activations": _c("activations", "count", means=(
        "output elements of the ops (in-place ops and views allocate nothing new)")),
    "mac_bytes": _c("MAC bytes", "bytes", means="mac × element size of the dtype analysed"),
    "mac_fused_bytes": _c("fused MAC bytes", "bytes", means="mac_fused × element size of the dtype analysed"),
    "bytes": _c("bytes", "bytes", means="bytes the op moves (mac × element size)"),
    # measurements
    "latency_ms": _c("latency", "ms", means=_LATENCY + " (latency_p90_ms, latency_p99_ms: percentiles)"),
    "latency_p90_ms": _c("p90 latency", "ms", means="the 90th percentile of the per-iteration latency"),
    "latency_p99_ms": _c("p99 latency", "ms", means="the 99th percentile of the per-iteration latency"),
    "time_ms": _c("time", "ms"),
    "measured_ms": _c("measured", "ms"), "predicted_ms": _c("predicted", "ms"),
    "relative_error": _c("error", "percent", means="predicted / measured - 1"),
    "warmup_s": _c("warm-up", "s"), "min_time_s": _c("timed for", "s"),
    "energy_window_s": _c("energy window", "s"),
    "fps": _c("FPS", "value", means=_FPS),
    "flops_per_s": _c("achieved FLOP/s", "count", means=_FLOPS_PER_S),
    "gflops_per_s": _c("achieved FLOP/s", "value", "G", means=_FLOPS_PER_S),
    "peak_memory_bytes": _c("peak memory", "bytes", means=_MEMORY),
    "activation_bytes": _c("activation memory", "bytes", means="the analysis' activation elements × element size"),
    "energy_j_per_img": _c("energy", "value", "J/img", means=_ENERGY),
    "energy_j_per_img_net": _c("net energy", "value", "J/img", means=(
        "energy_j_per_img net of the run's idle power (idle_power_w, idle_measured_at, idle_method)")),
    "energy_j_per_img_std": _c("energy std", "value", "J/img", means="standard deviation over the energy windows"),
    "energy_estimate_j_per_img": _c("estimated energy", "value", "J/img", means=(
        "an estimate from board power and time, not a measurement (never fills energy_j_per_img)")),
    "mean_power_w": _c("mean power", "value", "W"), "idle_power_w": _c("idle power", "value", "W"),
    "clock_drop": _c("clock drop", "bool"),
    "time_share": _c("time share", "percent", means="the layer's time / the sum of the layers' times"),
    "top1": _c("top-1", "value", "%", means="ImageNet top-1 accuracy (published, or the user's table)"),
    # proxies: how well a number ranks (Spearman) and tracks (Pearson) the measurements
    "spearman": _c("Spearman", "value"), "pearson": _c("Pearson", "value"),
    "latency_ms_spearman": _c("latency Spearman", "value"), "latency_ms_pearson": _c("latency Pearson", "value"),
    "energy_j_per_img_spearman": _c("J/img Spearman", "value"),
    "energy_j_per_img_pearson": _c("J/img Pearson", "value"),
    # calibration: the rates a fit to stored measurements found
    "gflops_per_s_conv": _c("conv rate", "value", "GFLOP/s"),
    "gflops_per_s_matmul": _c("matmul rate", "value", "GFLOP/s"),
    "gflops_per_s_vector": _c("vector-op rate", "value", "GFLOP/s"),
    "bandwidth_gbs": _c("bandwidth", "value", "GB/s"),
    "kernel_overhead_us": _c("overhead per kernel", "value", "µs"),
    "loo_median_abs_error": _c("leave-one-model-out error", "percent", means=(
        "the median |predicted / measured - 1| over the models, each predicted by a fit without it")),
    "energy_idle_w": _c("idle power", "value", "W"),
    "energy_j_per_flop": _c("energy per FLOP", "value", "pJ"), "energy_j_per_byte": _c("energy per byte", "value", "pJ"),
    "energy_loo_median_abs_error": _c("J/img leave-one-model-out error", "percent"),
    # benchmark calibration: out-of-sample errors over a throughput file's models
    "loo_within_10pct": _c("models within ±10 %, leave-one-model-out", "percent", means=(
        "share of models predicted within 10 % by a fit without them")),
    "lofo_median_abs_error": _c("leave-one-family-out error", "percent", means=(
        "the median |predicted / measured - 1| over the models, each predicted by a fit without its whole family")),
    "lofo_within_10pct": _c("models within ±10 %, leave-one-family-out", "percent"),
}

#: Columns stored in one unit and shown in another: the factor from the stored value to the shown one.
_SCALE = {"energy_j_per_flop": 1e12, "energy_j_per_byte": 1e12}


def column(name: str) -> Column:
    """The column's entry; a column not in :data:`COLUMNS` is shown under its own name."""
    return COLUMNS.get(name) or Column(name.replace("_", " "), "text")


def definition(name: str) -> str:
    """What column ``name`` holds and how it is computed (empty for a column without a definition)."""
    return column(name).means


#: The columns the README's vocabulary defines, in its order.
VOCABULARY = ("params", "shared_params", "mult_adds", "flops", "mac", "mac_bytes", "paper_mac", "mac_fused",
              "mac_min", "mac_ratio", "activations", "latency_ms", "fps", "flops_per_s", "peak_memory_bytes",
              "energy_j_per_img", "energy_j_per_img_net", "time_share")


def help_text(names: Sequence[str]) -> str:
    """The definitions of ``names`` for a command's help text: the words of the tables, the README and the
    report."""
    return "Columns: " + "; ".join(f"{header(n)}: {definition(n)}" for n in names) + "."


def vocabulary_markdown(names: Sequence[str] = VOCABULARY) -> str:
    """The README's vocabulary table: each column's raw name, its header in tables and its definition."""
    lines = ["| name | header | meaning |", "|---|---|---|"]
    lines += [f"| `{n}` | {header(n)} | {definition(n)} |" for n in names]
    return "\n".join(lines) + "\n"


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
    from effkit.units import BYTE_UNITS

    size = 1.0
    for unit in BYTE_UNITS:
        if largest < 1024 * size or unit == BYTE_UNITS[-1]:
            return unit, size
        size *= 1024
    raise AssertionError("unreachable")


def _cell(kind: str, v: Any, size: float) -> str:
    from effkit.units import human, sig

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
    if kind == "percent" and not isinstance(v, bool):
        size = size / 100
    if kind in ("ms", "s", "bytes", "value", "percent") and not isinstance(v, bool):
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
    if name in _SCALE:
        values = [v * _SCALE[name] if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                  for v in values]
    numbers = _numbers(values)
    largest = max(numbers) if numbers else 0.0
    size, unit = 1.0, None
    if col.kind in ("ms", "s"):
        from effkit.units import duration_unit

        ms = 1.0 if col.kind == "ms" else 1e3
        unit, size = duration_unit(largest * ms) if largest else ("ms", 1.0)
        size /= ms
    elif col.kind == "bytes":
        unit, size = _bytes_unit(largest)
    if unit is not None and any(0 < v / size < 0.1 for v in numbers):
        return col.label, [_own_unit(col.kind, v) for v in values]
    return header(name, unit), [_cell(col.kind, v, size) for v in values]


def _own_unit(kind: str, v: Any) -> str:
    from effkit.units import human_bytes, human_ms

    if _missing(v) or isinstance(v, (str, bool)):
        return "" if _missing(v) else str(v)
    if kind == "bytes":
        return human_bytes(v)
    return human_ms(float(v) * (1e3 if kind == "s" else 1.0))


def is_numeric(name: str, values: Sequence[Any]) -> bool:
    """Right-aligned: a numeric kind, or a column of numbers not in the mapping."""
    kind = column(name).kind
    present = [v for v in values if not _missing(v)]
    if kind in ("int", "count", "value", "ms", "s", "bytes", "percent"):
        return not any(isinstance(v, str) for v in present)  # a list of names under a count's name
    if kind != "text" or name in COLUMNS:
        return False
    return bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)


def says_nothing(values: Sequence[Any]) -> bool:
    """A column with no value at all (every cell missing)."""
    return all(_missing(v) for v in values)
