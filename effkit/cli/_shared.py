"""What several commands share: the model help, the measurement options, output dispatch, progress on stderr."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import typer

MODEL_HELP = (
    "Zoo name (see `effkit models`), 'pkg.module:factory', 'path/to/file.py:factory' "
    "(this EXECUTES that file), 'torchvision:NAME' or 'timm:NAME' (where those packages import)."
)

# Options shared by `measure` and `compare` (typer builds a fresh click option per command from each).
BATCH = typer.Option(None, "--batch-size", "-b",
                     help="Batch sizes to sweep, comma-separated (e.g. 1,8,32); default: N of --input-shape, else 1.")
INPUT_SIZE = typer.Option(None, "--input-size", "-s", help="Square input side; default: the model's own (224, 32 for CIFAR).")
INPUT_SHAPE = typer.Option(None, "--input-shape",
                           help="Full input shape N,C,H,W; N is the batch size (with -b, they must agree).")
DTYPE = typer.Option("float32", "--dtype", help="float32 (the paper's), float16 or bfloat16 (via autocast); nothing else.")
DEVICE = typer.Option("auto", "--device", help="auto (CUDA when available), cpu, cuda or cuda:N.")
CHANNELS_LAST = typer.Option(False, "--channels-last", help="Use the NHWC memory format for model and input.")
CUDA_GRAPH = typer.Option(False, "--cuda-graph",
                          help="Time the replay of a captured CUDA graph (removes launch cost; batch 1 is launch-bound).")
NO_CUDNN_BENCH = typer.Option(False, "--no-cudnn-benchmark", help="Do not let cuDNN autotune its kernels.")
WARMUP = typer.Option(1.0, "--warmup", help="Warm-up seconds (at least --warmup-iters iterations too).")
WARMUP_ITERS = typer.Option(10, "--warmup-iters", help="Warm-up iterations (at least --warmup seconds too).")
MIN_ITERS = typer.Option(20, "--min-iters", help="Timed iterations, at least (and at least --min-time seconds).")
MIN_TIME = typer.Option(2.0, "--min-time", help="Seconds of timed iterations, at least.")
NO_ENERGY = typer.Option(False, "--no-energy", help="Skip the energy measurement (saves ~20 s per configuration).")
ENERGY_TRIALS = typer.Option(3, "--energy-trials", help="Energy windows per configuration (mean and std reported).")
ENERGY_WINDOW = typer.Option(5.0, "--energy-window", help="Seconds per energy window, at least (>= 5 s recommended for NVML).")
IDLE = typer.Option(1.0, "--idle", help="Seconds of idle power (at least 3), measured once per device per run "
                    "after a 5 s rest, for the net J/img (0: none).")
TF32 = typer.Option(None, "--tf32/--no-tf32", help="TF32 for float32 convolutions and matmuls on CUDA "
                    "(default: torch's settings, recorded in every row).")
MIG_ENERGY = typer.Option(False, "--mig-energy", help="On a MIG instance, measure the whole board's energy "
                          "anyway (it includes other tenants).")
PER_LAYER = typer.Option(False, "--per-layer", help="Also time every leaf module in a separate pass (per-layer FLOP/s).")
DB = typer.Option(None, "--db", help="Results database file (default: effkit's file in your user data folder, or $EFFKIT_DB).")
NO_STORE = typer.Option(False, "--no-store", help="Do not store the results.")
FORMAT_HELP = "table, csv, json or markdown."
FMT = typer.Option("table", "--format", "-f", help=FORMAT_HELP)
OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")

#: The options of ``measure`` and ``compare``, in help order: (parameter, type, option).
MEASURE_OPTIONS = (
    ("batch_size", Optional[str], BATCH), ("input_size", Optional[int], INPUT_SIZE),
    ("input_shape", Optional[str], INPUT_SHAPE), ("dtype", str, DTYPE), ("device", str, DEVICE),
    ("channels_last", bool, CHANNELS_LAST), ("cuda_graph", bool, CUDA_GRAPH),
    ("no_cudnn_benchmark", bool, NO_CUDNN_BENCH), ("warmup", float, WARMUP), ("warmup_iters", int, WARMUP_ITERS),
    ("min_iters", int, MIN_ITERS), ("min_time", float, MIN_TIME), ("no_energy", bool, NO_ENERGY),
    ("energy_trials", int, ENERGY_TRIALS), ("energy_window", float, ENERGY_WINDOW), ("idle", float, IDLE),
    ("tf32", Optional[bool], TF32), ("mig_energy", bool, MIG_ENERGY), ("per_layer", bool, PER_LAYER),
    ("db", Optional[Path], DB), ("no_store", bool, NO_STORE), ("fmt", str, FMT), ("output", Optional[Path], OUTPUT),
)


def with_measure_options(func):
    """``func(positional..., *, keyword_only..., **options)`` as typer sees it: its positional parameters,
    then every option of ``MEASURE_OPTIONS`` (passed in ``**options``), then its keyword-only ones."""
    import inspect
    import typing

    sig = inspect.signature(func)
    hints = typing.get_type_hints(func)
    own = [p for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    last = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
    added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=o, annotation=t)
             for n, t, o in MEASURE_OPTIONS]
    params = [p.replace(annotation=hints[p.name]) for p in own] + added + [
        p.replace(annotation=hints[p.name]) for p in last]
    func.__signature__ = sig.replace(parameters=params, return_annotation=None)
    func.__annotations__ = {**{p.name: p.annotation for p in params}, "return": None}
    return func


def note(message: str) -> None:
    typer.echo(f"effkit: note: {message}", err=True)


def emit(df, *, fmt: str, title: str, columns=None, notes: Sequence[str] = (), extra=(), shown=None,
         output: Optional[Path] = None, keep=(), export_all: bool = False, markdown_title: bool = True,
         importance=None) -> None:
    """Print (or write to ``output``) a table in one of the formats: table, csv, json or markdown.

    ``extra`` holds (title, frame, columns) tables after the main one; ``shown`` is the frame the rich
    table draws when it differs from the data (shortened names); ``export_all`` puts every column in
    csv/json rather than ``columns`` only; ``keep`` are files ``output`` must never replace. The table
    fits the terminal's width (200 characters in a file or a pipe), leaving out the columns last in
    ``importance`` (default: ``columns``' order) first.
    """
    from effkit import files
    from effkit.report import tables

    exported = None if export_all else columns
    if fmt == "csv":
        text = tables.csv_text(df, exported)
    elif fmt == "json":
        text = tables.json_text(df, exported)
    elif fmt == "markdown":
        text = (f"**{title}**\n\n" if markdown_title else "") + tables.markdown_table(df, columns=columns) + "".join(
            ["\n"] * bool(notes) + [f"- {n}\n" for n in notes])
        for sub_title, sub, sub_columns in extra:
            text += f"\n**{sub_title}**\n\n" + tables.markdown_table(sub, columns=sub_columns)
    else:
        console = tables.console() if output is None else None
        width = console.width if console is not None else tables.FILE_WIDTH
        renderables = [tables.rich_table(df if shown is None else shown, title=title, columns=columns,
                                         caption="\n".join(notes) or None, width=width, importance=importance)]
        renderables += [tables.rich_table(sub, title=sub_title, columns=sub_columns, width=width)
                        for sub_title, sub, sub_columns in extra]
        if console is not None:
            for r in renderables:
                console.print(r)
            return
        text = "".join(tables.render_text(r) for r in renderables)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        files.write_text(output, text, keep=keep)
        typer.echo(f"wrote {output}", err=True)


def progress(*columns, remaining: bool = False, console=None, disable: bool = False):
    """A transient rich progress bar on stderr: ``columns`` first, then bar, done/total and the time
    elapsed (or, with ``remaining``, the time left)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    first, *rest = [TextColumn(c) if isinstance(c, str) else c for c in columns]
    clock = TimeRemainingColumn() if remaining else TimeElapsedColumn()
    return Progress(first, BarColumn(), MofNCompleteColumn(), clock, *rest,
                    console=console or Console(stderr=True), transient=True, disable=disable)


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while slow work runs (only on a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield
