"""Shared plumbing of the experiment scripts: arguments, measuring, machine description, writing results.

Each experiment is ``python experiments/NAME.py [--out DIR | --commit-results] [--quick]`` and writes
``NAME.csv`` and ``NAME.png`` into the scratch folder ``./effkit-experiments/`` (under the current directory),
into ``--out DIR``, or, with ``--commit-results``, over the committed results in ``experiments/results/``.
A plain run never touches the committed results: they record one documented machine, and a run elsewhere
would silently replace them. ``--quick`` shrinks inputs and iterations so the script finishes in seconds
(the test suite runs it that way); its numbers only check the plumbing.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

RESULTS = Path(__file__).resolve().parent / "results"
#: Where a run writes unless told otherwise: relative to the current directory, ignored by git.
SCRATCH = Path("effkit-experiments")

#: Measurement columns the experiments' CSVs keep beside their own analysis columns.
TIMING_COLUMNS = [
    "batch_size", "input_shape", "latency_ms", "latency_min_ms", "latency_p90_ms", "latency_iqr_ms",
    "latency_rounds_ms", "rounds", "fps", "flops_per_s", "peak_memory_bytes", "activation_bytes",
    "energy_j_per_img", "energy_status", "device", "cpu_model", "gpu_name", "torch_version", "load_avg_1min",
]

# Left out of the rows measure() returns: long JSON, hashes and the host name, which no result needs.
_DROP = ("clocks_before", "clocks_after", "clocks_after_energy", "config_key", "layers_json", "machine_id",
         "gpu_uuid", "hostname")


@dataclass(frozen=True)
class Settings:
    """Timing settings of one run: full (modest, minutes on a CPU) or quick (seconds, plumbing only)."""

    quick: bool
    warmup_s: float
    warmup_iters: int
    min_iters: int
    min_time_s: float
    rounds: int


def settings(quick: bool) -> Settings:
    if quick:
        return Settings(True, warmup_s=0.0, warmup_iters=2, min_iters=2, min_time_s=0.0, rounds=1)
    return Settings(False, warmup_s=0.5, warmup_iters=3, min_iters=10, min_time_s=1.0, rounds=3)


def parse_args(doc: str, argv: Sequence[str] | None = None, extra: Callable | None = None) -> argparse.Namespace:
    """``--out DIR`` / ``--commit-results`` and ``--quick`` (plus ``extra(parser)`` additions); a bad
    ``--out`` exits 2 with one line."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                     epilog="Writes a CSV and a PNG named after the script.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=None,
                       help=f"folder for the CSV and the figure (default: ./{SCRATCH}/, a scratch folder)")
    where.add_argument("--commit-results", action="store_true",
                       help=f"write into {RESULTS}, replacing the committed results (then update "
                            "experiments/README.md's machine description)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny inputs and few iterations: checks the plumbing in seconds, numbers mean little")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.commit_results:
        args.out = RESULTS
    elif args.out is None:
        args.out = SCRATCH
        note(f"writing to ./{SCRATCH}/ (a scratch folder); --commit-results replaces experiments/results/")
    if args.out.exists() and not args.out.is_dir():
        fail(f"--out {args.out} is a file; give a folder")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"cannot create --out folder {args.out}: {e.strerror or e}")
    return args


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> float | None:
    """1-minute load average: other work on the machine inflates CPU timings, so the CSV records it."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def describe_machine(rows) -> str:
    """``"CPU: AMD EPYC (2 threads)"`` or ``"GPU: NVIDIA H100 80GB HBM3"`` from measurement rows."""
    import torch

    gpu = [str(g) for g in rows.get("gpu_name", []) if isinstance(g, str) and g]
    if gpu:
        return f"GPU: {gpu[0]}"
    cpu = [str(c) for c in rows.get("cpu_model", []) if isinstance(c, str) and c]
    return f"CPU: {cpu[0] if cpu else platform.processor() or 'unknown'} ({torch.get_num_threads()} threads)"


def measure(models: Sequence[str], st: Settings, *, input_size: int | None = None, batch_sizes=(1,)):
    """Measure ``models`` with effkit.compare on the best device here (GPU when there is one).

    ``st.rounds`` passes over all models, interleaved (A, B, C, A, B, C, ...), so that a burst of other
    work on a shared machine hits every model alike; ``latency_ms`` is the median of the rounds' medians and
    ``latency_min_ms`` the fastest iteration of any round.
    """
    import pandas as pd

    import effkit

    def progress(event) -> None:
        if event.kind == "begin":
            label = f"{event.config.model} bs={event.config.batch_size}"
            note(f"  measuring {event.done + 1}/{event.total}: {label} (round {r + 1}/{st.rounds})")

    load = load_average()
    runs = []
    for r in range(st.rounds):
        rows = effkit.compare(
            list(models), input_size=input_size, batch_sizes=list(batch_sizes), device="auto",
            warmup_s=st.warmup_s, warmup_iters=st.warmup_iters, min_iters=st.min_iters, min_time_s=st.min_time_s,
            # Energy only in full runs and only where a meter answers; on a CPU without RAPL the row says why.
            energy=not st.quick and r == 0, energy_trials=1, idle_s=1.0, progress=progress,
        )
        failed = rows[rows["status"] != "ok"]
        if len(failed):
            fail("measurement failed for " + "; ".join(f"{m}: {e}" for m, e in zip(failed["model"], failed["error"])))
        runs.append(rows.assign(round=r))
    all_rows = pd.concat(runs, ignore_index=True)
    keys = ["model", "batch_size"]
    first = runs[0].set_index(keys)
    grouped = all_rows.groupby(keys, sort=False)
    first["latency_ms"] = grouped["latency_ms"].median()
    first["latency_min_ms"] = grouped["latency_min_ms"].min()
    first["latency_p90_ms"] = grouped["latency_p90_ms"].median()
    first["latency_iqr_ms"] = grouped["latency_iqr_ms"].median()
    first["latency_rounds_ms"] = grouped["latency_ms"].agg(lambda s: ";".join(f"{v:.4g}" for v in s))
    # fps is each row's sustained throughput (images / timed span), not batch / median latency: pooled as
    # the rounds' median, and flops_per_s derived from it as effkit.measure() does (flops x fps / batch).
    first["fps"] = grouped["fps"].median()
    first = first.reset_index()
    first["flops_per_s"] = first["flops"] * first["fps"] / first["batch_size"]
    first["rounds"] = st.rounds
    first["load_avg_1min"] = load
    return first.drop(columns=[c for c in (*_DROP, "round") if c in first.columns])


def timing_columns(timed) -> list[str]:
    """``model`` and the :data:`TIMING_COLUMNS` that ``timed`` has."""
    return ["model", *[c for c in TIMING_COLUMNS if c in timed.columns]]


def write(df, fig, out: Path, stem: str) -> tuple[Path, Path]:
    """Write ``stem.csv`` and ``stem.png`` into ``out``; returns both paths."""
    from effkit.report.figures import save_figure

    csv_path = out / f"{stem}.csv"
    df.to_csv(csv_path, index=False, float_format="%.7g")
    png_path = save_figure(fig, out / f"{stem}.png", dpi=120)
    note(f"wrote {csv_path} and {png_path}")
    return csv_path, png_path


def new_figure(ncols: int, nrows: int = 1, figsize=None):
    """A matplotlib Figure built without pyplot (no global state, no display needed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize or (5.2 * ncols, 4.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes
