"""``effkit baseline save|update`` and ``effkit check``: MAC regression gates for CI."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from effkit.cli import Typer, app, fail
from effkit.cli._shared import emit, progress

baseline_app = Typer(
    help="Record per-layer MAC, FLOPs and params of models in a JSON baseline to check against later.",
    no_args_is_help=True,
)
app.add_typer(baseline_app, name="baseline")

MODELS_HELP = (
    "Zoo names (see `effkit models`), 'pkg.module:factory' or 'path/to/file.py:factory' (this EXECUTES "
    "that file). Stored as given, so `effkit check` can rebuild them."
)
OUTPUT_HELP = "Baseline file to write."
INPUT_SIZE_HELP = "Square input side; default: each model's own (224, 32 for CIFAR models)."
INPUT_SHAPE_HELP = "Full input shape N,C,H,W for every model (overrides --input-size)."
BATCH_HELP = "Batch size (default 1)."
DTYPE_HELP = "float32, float16 or bfloat16: sets bytes per element (mac_bytes)."


@contextmanager
def _progress(total: int, what: str) -> Iterator:
    """A rich progress bar on stderr; yields a callback taking the name of the next model."""
    from rich.console import Console

    console = Console(stderr=True)
    if total <= 1 or not console.is_terminal:
        yield lambda name: None
        return
    with progress("{task.description}", console=console) as bar:
        task = bar.add_task(what, total=total)
        started = [False]

        def advance(name: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.update(task, description=f"{what} {name}")

        yield advance
        bar.advance(task)


@baseline_app.command("save")
def baseline_save(
    models: List[str] = typer.Argument(..., help=MODELS_HELP),
    output: Path = typer.Option(Path("effkit-baseline.json"), "--output", "-o", help=OUTPUT_HELP),
    input_shape: Optional[str] = typer.Option(None, "--input-shape", help=INPUT_SHAPE_HELP),
    input_size: Optional[int] = typer.Option(None, "--input-size", "-s", help=INPUT_SIZE_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help=BATCH_HELP),
    dtype: str = typer.Option("float32", "--dtype", help=DTYPE_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite the file if it exists."),
) -> None:
    """Analyse MODELS and write their totals and per-layer counts to a new baseline file.

    Refuses to overwrite an existing file unless --force is given (or use `effkit baseline update`).
    """
    from effkit.baseline import save_baseline

    with _progress(len(models), "analysing") as advance:
        data = save_baseline(models, output, input_shape=input_shape, input_size=input_size,
                             batch_size=batch_size, dtype=dtype, force=force, progress=advance)
    typer.echo(f"wrote {output} ({len(data['models'])} model{'s' if len(data['models']) != 1 else ''})", err=True)


@baseline_app.command("update")
def baseline_update(
    models: Optional[List[str]] = typer.Argument(
        None, help=MODELS_HELP + " Default: every model already in the file."),
    output: Path = typer.Option(Path("effkit-baseline.json"), "--output", "-o", help="Baseline file to update."),
    input_shape: Optional[str] = typer.Option(None, "--input-shape",
                                              help=INPUT_SHAPE_HELP + " Default: the shape already in the file."),
    input_size: Optional[int] = typer.Option(None, "--input-size", "-s", help=INPUT_SIZE_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help=BATCH_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=DTYPE_HELP + " Default: the dtype already in the file."),
) -> None:
    """Accept the current state of MODELS deliberately: re-analyse them and overwrite their entries.

    Other models in the file are kept; with no MODEL, every model in the file is re-analysed at the
    input shape and dtype it already has. Creates the file if it does not exist.
    """
    from effkit.baseline import update_baseline
    from effkit.baseline import baseline_models

    count = len(models) if models else (len(baseline_models(output)) if output.exists() else 0)
    with _progress(count, "analysing") as advance:
        data = update_baseline(output, models or None, input_shape=input_shape, input_size=input_size,
                               batch_size=batch_size, dtype=dtype, progress=advance)
    typer.echo(f"updated {output} ({len(data['models'])} model{'s' if len(data['models']) != 1 else ''})",
               err=True)


@app.command("check")
def check_command(
    models: Optional[List[str]] = typer.Argument(
        None, help="Models to check, by their name in the baseline (zoo names and specs are rebuilt from it). "
        "Default: every model in the baseline."),
    baseline: Path = typer.Option(..., "--baseline", help="Baseline file made by `effkit baseline save`."),
    metric: str = typer.Option("mac", "--metric", "-m",
                               help="Comma-separated metrics to gate on: mac, mac_bytes, flops, mult_adds, params, "
                               "activations, paper_mac."),
    tolerance: str = typer.Option("0.5%", "--tolerance", "-t",
                                  help="Allowed growth of each total: relative ('0.5%') or an absolute count ('1000')."),
    per_layer: bool = typer.Option(True, "--per-layer/--no-per-layer",
                                   help="Show which layers changed, were added or were removed."),
    strict: bool = typer.Option(False, "--strict", help="Fail on improvements beyond the tolerance too."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    input_shape: Optional[str] = typer.Option(
        None, "--input-shape", help="Expected input shape N,C,H,W; a baseline made at another shape is an error."),
    input_size: Optional[int] = typer.Option(
        None, "--input-size", "-s", help="Expected square input side; a baseline made at another size is an error."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Expected batch size (with the above)."),
    dtype: Optional[str] = typer.Option(None, "--dtype",
                                        help="Expected dtype; a baseline made in another dtype is an error."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the report to this file."),
) -> None:
    """Compare models with their baseline: exit 0 within tolerance, 1 on a regression, 2 on bad input.

    Reports which totals moved (absolute and %), and per layer what changed, was added or was removed.
    Improvements are reported but fail only with --strict.
    """
    import effkit.files as files
    from effkit.gate import check
    from effkit.baseline import load_baseline
    from effkit.gate import parse_metrics, parse_tolerance
    from effkit.report import tables
    from effkit.report.check_render import CHECK_FORMATS

    tables.check_format(fmt, CHECK_FORMATS)
    if output is not None:
        files.check_output(output, keep=(baseline,))  # before the analysis, not after
    data = load_baseline(baseline)
    # Validate the options before the (possibly long) analysis starts.
    mets = parse_metrics(metric)
    tol = parse_tolerance(tolerance)
    names = _names_to_check(data, models, baseline)

    results = []
    with _progress(len(names), "checking") as advance:
        for n in names:
            advance(n)
            entry = data["models"][n]
            shape = _expected_shape(entry["input_shape"], input_shape, input_size, batch_size)
            # The path, not the loaded dict, so that error messages name the file.
            results.append(check(entry["spec"], baseline, metrics=mets, tolerance=tol, per_layer=per_layer,
                                 strict=strict, name=n, input_shape=shape, dtype=dtype))

    _render_checks(results, fmt, output, baseline)
    if any(not r.passed for r in results):
        raise typer.Exit(1)


def _render_checks(results, fmt: str, output: Optional[Path], baseline: Path) -> None:
    """The results on the terminal (rich) or as text in ``fmt``; with ``output``, written there and only the
    one-line verdict printed."""
    from effkit.report.check_render import check_summary

    emit(_Checks(results, str(baseline)), fmt=fmt, output=output, keep=(baseline,))
    if output is not None:
        typer.echo(check_summary(results))  # the verdict in the log; the report is in the file


class _Checks:
    """The verdicts of a check in each format (see :func:`effkit.cli._shared.emit`)."""

    def __init__(self, results, baseline: str) -> None:
        self.results, self.baseline = results, baseline

    def rich(self, width=None) -> list:
        from rich.text import Text

        from effkit.report.check_render import check_renderables, check_summary

        shown = [part for r in self.results for part in (*check_renderables(r), Text(""))]
        failed = any(not r.passed for r in self.results)
        return [*shown, Text(check_summary(self.results), style="bold red" if failed else "bold green")]

    def _text(self, fmt: str) -> str:
        from effkit.report.check_render import checks_text

        return checks_text(self.results, fmt, self.baseline)

    def text(self) -> str:
        return self._text("table")

    def csv(self) -> str:
        return self._text("csv")

    def json(self) -> str:
        return self._text("json")

    def markdown(self) -> str:
        return self._text("markdown")


def _names_to_check(data, models, baseline: Path) -> list[str]:
    """The models to check (default all in the baseline); each must be in it and rebuildable by name."""
    names = list(models) if models else list(data["models"])
    if not names:
        raise fail(f"baseline {baseline} holds no model; add some with `effkit baseline update MODEL...`")
    missing = [n for n in names if n not in data["models"]]
    if missing:
        raise fail(f"model {missing[0]!r} is not in baseline {baseline} (it has: {', '.join(data['models'])}); "
                   f"add it with `effkit baseline update {missing[0]} --output {baseline}`")
    for n in names:
        if data["models"][n].get("spec") is None:
            raise fail(f"model {n!r} in {baseline} was saved from a Python object and cannot be rebuilt by name; "
                       "check it from Python with effkit.check(model, baseline)")
    return names


def _expected_shape(stored, input_shape, input_size, batch_size):
    """The shape the options ask for, filled in from the baseline's; None when no option was given."""
    from effkit.units import parse_shape
    from effkit.errors import BadInputError

    if input_shape is None and input_size is None and batch_size is None:
        return None
    for label, v in (("batch size", batch_size), ("input size", input_size)):
        if v is not None and v <= 0:
            raise BadInputError(f"{label} must be a positive integer, got {v}")
    shape = list(parse_shape(input_shape)) if input_shape is not None else list(stored)
    if input_shape is None and input_size is not None:
        shape[-2:] = [input_size, input_size]
    if batch_size is not None:
        shape[0] = batch_size
    return tuple(shape)
