"""What several commands share: the model help, the measurement options, output dispatch, progress on stderr."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Iterator, Optional, Sequence

import typer

from effkit.cli._flags import ALIASES
from effkit.measurement.settings import MeasureSettings

MODEL_HELP = (
    "Zoo name (see `effkit models`), 'pkg.module:factory', 'path/to/file.py:factory' "
    "(this EXECUTES that file), 'torchvision:NAME' or 'timm:NAME' (where those packages import)."
)

# Options of `measure` and `compare` (typer builds a fresh click option per command from each).
BATCH = typer.Option(None, "--batch-size", "-b",
                     help="Batch sizes to sweep, comma-separated (e.g. 1,8,32); default: N of --input-shape, else 1.")
INPUT_SIZE = typer.Option(None, "--input-size", "-s", help="Square input side; default: the model's own (224, 32 for CIFAR).")
INPUT_SHAPE = typer.Option(None, "--input-shape",
                           help="Full input shape N,C,H,W; N is the batch size (with -b, they must agree).")
DTYPE = typer.Option("float32", "--dtype", help="float32 (the paper's), float16 or bfloat16 (via autocast); nothing else.")
CHANNELS_LAST = typer.Option(False, "--channels-last", help="Use the NHWC memory format for model and input.")
TDP_ESTIMATE = typer.Option(
    None, "--tdp-estimate", metavar="W|auto",
    help="Also give an ESTIMATE of energy where no meter measures it: W watts x timed span / images, in the "
    "column energy_estimate_j_per_img (auto: the GPU's board power from effkit's device table). Never "
    "fills the measured energy columns; off by default.")
DB = typer.Option(None, "--db", help="Results database file (default: effkit's file in your user data folder, or $EFFKIT_DB).")
NO_STORE = typer.Option(False, "--no-store", help="Do not store the results.")
FORMAT_HELP = "table, csv, json or markdown."
FMT = typer.Option("table", "--format", "-f", help=FORMAT_HELP)
OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")
COLUMNS = typer.Option(None, "--columns", metavar="A,B,...|all",
                       help="Columns to show, by their result names (e.g. model,batch_size,latency_ms,fps), or all; "
                       "csv/json then hold just these. Default: a compact set fitted to the terminal.")

_DEFAULTS = {f.name: f.default for f in fields(MeasureSettings)}


def _number(name: str, flag: str, help: str) -> typer.models.OptionInfo:
    return typer.Option(None, flag, help=f"{help}; default {_DEFAULTS[name]:g}.")


#: The measurement settings of ``measure``, ``compare`` and ``sweep``, one definition (and one flag) each:
#: (setting of :class:`MeasureSettings`, type, option). ``None`` means "not given": ``measure`` and ``compare``
#: then use the setting's default (named in the help), ``sweep`` the sweep file's value, else that default.
SETTING_OPTIONS = (
    ("device", Optional[str], typer.Option(None, "--device",
                                           help="auto (CUDA when available), cpu, cuda or cuda:N (default auto).")),
    ("cuda_graph", Optional[bool], typer.Option(
        None, "--cuda-graph", help="Time the replay of a captured CUDA graph (removes launch cost; batch 1 is "
        "launch-bound).")),
    # Only the negative flag (the setting is on by default): a --cudnn-benchmark/--no-cudnn-benchmark pair
    # would take 20 columns of every help line's width at 80. Given, it sets cudnn_benchmark to False.
    ("cudnn_benchmark", Optional[bool], typer.Option(
        None, "--no-cudnn-benchmark", help="Do not let cuDNN autotune its kernels (it does by default).")),
    ("warmup_s", Optional[float], _number("warmup_s", "--warmup-s",
                                          "Warm-up seconds, at least; also at least --warmup-iters iterations")),
    ("warmup_iters", Optional[int], _number("warmup_iters", "--warmup-iters",
                                            "Warm-up iterations, at least; also at least --warmup-s seconds")),
    ("min_iters", Optional[int], _number("min_iters", "--min-iters",
                                         "Timed iterations, at least; also at least --min-time-s seconds")),
    ("min_time_s", Optional[float], _number("min_time_s", "--min-time-s", "Seconds of timed iterations, at least")),
    ("energy", Optional[bool], typer.Option(
        None, "--energy/--no-energy", help="Measure energy per image where a meter works (default on; "
        "--no-energy saves ~20 s per configuration).")),
    ("energy_trials", Optional[int], _number("energy_trials", "--energy-trials",
                                             "Energy windows per configuration (mean and std reported)")),
    ("energy_window_s", Optional[float], _number("energy_window_s", "--energy-window-s",
                                                 "Seconds per energy window, at least (>= 5 s for NVML)")),
    ("idle_s", Optional[float], _number("idle_s", "--idle-s", "Seconds of idle power (raised to 3), measured "
                                        "once per device per run after a 5 s rest, for the net J/img; 0: none")),
    ("tf32", Optional[bool], typer.Option(None, "--tf32/--no-tf32", help="TF32 for float32 convolutions and "
                                          "matmuls on CUDA (default: torch's settings, recorded in every row).")),
    ("mig_energy", Optional[bool], typer.Option(None, "--mig-energy", help="On a MIG instance, measure the whole "
                                                "board's energy anyway (it includes other tenants).")),
    ("per_layer", Optional[bool], typer.Option(None, "--per-layer", help="Also time every leaf module in a "
                                               "separate pass (per-layer FLOP/s).")),
)

#: Settings whose option is a negative flag (given: the setting is False).
_NEGATIVE = {"cudnn_benchmark"}

#: The flag of each shared setting (its first name: ``--energy`` of ``--energy/--no-energy``).
SETTING_FLAGS = {name: option.param_decls[0].split("/")[0] for name, _, option in SETTING_OPTIONS}


def _alias_param(name: str) -> str:
    return f"old_{name}"


#: The old spellings, still accepted but not shown in the help (see :data:`effkit.cli._flags.ALIASES`).
ALIAS_OPTIONS = tuple((_alias_param(name), Optional[float], typer.Option(None, flag, hidden=True))
                      for flag, name in ALIASES.items())

#: The options of ``measure`` and ``compare``, in help order: (parameter, type, option).
MEASURE_OPTIONS = (
    ("batch_size", Optional[str], BATCH), ("input_size", Optional[int], INPUT_SIZE),
    ("input_shape", Optional[str], INPUT_SHAPE), ("dtype", str, DTYPE), ("channels_last", bool, CHANNELS_LAST),
    *SETTING_OPTIONS, ("tdp_estimate", Optional[str], TDP_ESTIMATE), ("db", Optional[Path], DB),
    ("no_store", bool, NO_STORE), ("fmt", str, FMT), ("columns", Optional[str], COLUMNS),
    ("output", Optional[Path], OUTPUT), *ALIAS_OPTIONS,
)


def settings_given(options: dict) -> dict:
    """``{setting: value}`` of the shared setting options given on the command line, the old spellings folded
    in; takes them (and the old spellings) out of ``options``."""
    given = {name: options.pop(name) for name, _, _ in SETTING_OPTIONS}
    given = {k: (not v if k in _NEGATIVE else v) for k, v in given.items() if v is not None}
    for flag, name in ALIASES.items():
        v = options.pop(_alias_param(name), None)
        if v is None:
            continue
        if name in given and given[name] != v:
            from effkit.cli import fail

            raise fail(f"{flag} (the old name of {SETTING_FLAGS[name]}) and {SETTING_FLAGS[name]} disagree; give one")
        given[name] = v
    return given


def alias_flags(options: dict) -> dict[str, str]:
    """``{setting: old flag}`` for each old spelling given in ``options``, to name it in messages."""
    return {name: flag for flag, name in ALIASES.items() if options.get(_alias_param(name)) is not None}


def with_options(*groups):
    """A decorator: ``func(positional..., *, keyword_only..., **options)`` as typer sees it: its positional
    parameters, then every option of ``groups`` (passed in ``**options``), then its keyword-only ones."""

    def decorate(func):
        import inspect
        import typing

        sig = inspect.signature(func)
        hints = typing.get_type_hints(func)
        own = [p for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        last = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=o, annotation=t)
                 for group in groups for n, t, o in group]
        params = [p.replace(annotation=hints[p.name]) for p in own] + added + [
            p.replace(annotation=hints[p.name]) for p in last]
        func.__signature__ = sig.replace(parameters=params, return_annotation=None)
        func.__annotations__ = {**{p.name: p.annotation for p in params}, "return": None}
        return func

    return decorate


with_measure_options = with_options(MEASURE_OPTIONS)


#: What :func:`chosen_columns` returns for ``--columns all``.
ALL_COLUMNS = "all"


def chosen_columns(text: Optional[str], known: Sequence[str]):
    """``--columns``: ``None`` (not given), :data:`ALL_COLUMNS`, or the names asked for, each one checked
    against ``known`` (before any work: a typo is one line, exit 2, listing the names)."""
    if text is None:
        return None
    if text.strip().lower() == ALL_COLUMNS:
        return ALL_COLUMNS
    names = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in names if c not in known]
    if bad or not names:
        from effkit.cli import fail

        raise fail(f"unknown column {(bad or [text])[0]!r} for --columns; choose from {', '.join(known)} (or all)")
    return list(dict.fromkeys(names))


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
    import effkit.files as files
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
