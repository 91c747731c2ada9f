"""``effkit profile`` and ``effkit models``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from effkit.cli import app, fail
from effkit.cli._shared import FMT, MODEL_HELP, OUTPUT, emit

COLUMNS_HELP = ("Columns to show, comma-separated (e.g. name,flops,mac), or 'all'. Default on a terminal: "
                "name, type, output_shape, params, flops, mac, mac_ratio, fewer when the terminal is narrow; "
                "into a pipe, a file, csv, json or markdown: all.")


@app.command()
def profile(
    model: str = typer.Argument(..., help=MODEL_HELP),
    input_size: Optional[int] = typer.Option(None, "--input-size", "-s",
                                             help="Square input side; default: the model's own (224, 32 for CIFAR)."),
    input_shape: Optional[str] = typer.Option(None, "--input-shape",
                                              help="Full input shape N,C,H,W (overrides --input-size)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Batch size (default 1)."),
    input: Optional[List[str]] = typer.Option(
        None, "--input", "-i",
        help="One model input, NAME=SHAPE:DTYPE (input_ids=1x128:int64) or SHAPE[:DTYPE] for a positional "
             "one; repeat for several. Replaces --input-shape."),
    channels_last: bool = typer.Option(False, "--channels-last",
                                       help="Analyse with channels-last (NHWC-strided) 4-d inputs."),
    execute: str = typer.Option("meta", "--execute",
                                help="meta (no data, the default) or cpu: a real run at this shape, for "
                                     "models whose code reads tensor values."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or bfloat16: sets bytes per element."),
    depth: Optional[int] = typer.Option(None, "--depth", "-d",
                                        help="Aggregate to module depth N (VoVNet: 1 = stages, 2 = OSA blocks); "
                                             "with --tree, the deepest level shown."),
    tree: bool = typer.Option(False, "--tree", help="Show the module tree, indented, each module with the sum "
                              "of what is under it."),
    columns: Optional[str] = typer.Option(None, "--columns", "-c", help=COLUMNS_HELP),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort rows by this column, largest first (e.g. mac)."),
    top: Optional[int] = typer.Option(None, "--top", help="Show only the first N rows (after sorting), then "
                                      "their total and the model's."),
    fmt: str = FMT,
    output: Optional[Path] = OUTPUT,
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local state_dict file to load and check."),
    cross_check: Optional[str] = typer.Option(None, "--cross-check",
                                              help="Also count with 'fvcore' and show per-module differences."),
) -> None:
    """Per-layer MAC, FLOPs, multiply-adds, params and activations of MODEL (no GPU needed).

    The model runs once on PyTorch's meta device: no real compute or memory, whatever the input size.
    """
    import effkit.files as files
    from effkit.analysis.table import check_view
    from effkit.report import tables

    tables.check_format(fmt)
    if output is not None:
        files.check_output(output)  # before the analysis, not after
    if cross_check is not None and cross_check != "fvcore":
        raise fail(f"unknown cross-check tool {cross_check!r}; the one supported is 'fvcore'")
    check_view(tree=tree, depth=depth, sort=sort, top=top)
    prof, inputs, shape = _analyse(model, input_size=input_size, input_shape=input_shape, batch_size=batch_size,
                                   input=input, channels_last=channels_last, execute=execute, dtype=dtype,
                                   weights=weights)
    terminal = fmt == "table" and output is None and tables.is_terminal()
    table = prof.table(columns, depth=depth, tree=tree, sort=sort, top=top, compact=terminal)
    to_stderr = _show(table, fmt=fmt, output=output)
    _cross_check(cross_check, model, shape if inputs is None else inputs, prof, to_stderr=to_stderr)


def _analyse(model: str, *, input_size, input_shape, batch_size, input, channels_last, execute, dtype, weights):
    """The profile, the inputs given in full (or None) and the input shape (or None)."""
    import warnings

    from effkit.analysis.profile import UncountedOpsWarning, profile as run_profile
    from effkit.models.resolve import resolve_input_shape

    inputs = None
    if input:
        from effkit.analysis.inputs import parse_cli_inputs

        if input_shape is not None or input_size is not None or batch_size is not None:
            raise fail("--input gives the inputs in full; drop --input-shape, --input-size and --batch-size")
        inputs = parse_cli_inputs(input)
        shape = None
    else:
        shape = resolve_input_shape(model, input_size, input_shape, batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncountedOpsWarning)  # shown below, in the output itself
        prof = run_profile(model, shape, dtype, inputs=inputs, channels_last=channels_last, execute=execute,
                           log=lambda line: typer.echo(line, err=True),
                           weights=str(weights) if weights else None)
    return prof, inputs, shape


def _show(table, *, fmt: str, output: Optional[Path]) -> bool:
    """Print or write the table; True when stdout holds machine-readable output (the cross-check goes to stderr)."""
    emit(table, fmt=fmt, output=output)
    return output is not None or fmt != "table"  # a table on a terminal or into a pipe is for a person


def _cross_check(tool: Optional[str], model: str, shape_or_inputs, prof, *, to_stderr: bool) -> None:
    if tool is None:
        return
    from effkit.analysis.crosscheck import fvcore_crosscheck
    from effkit.report import tables

    if type(shape_or_inputs) is tuple:  # a plain shape (inputs given in full are a list, dict or pair)
        diff = fvcore_crosscheck(model, shape_or_inputs, profile=prof)
    else:
        diff = fvcore_crosscheck(model, inputs=shape_or_inputs, profile=prof)
    title = f"cross-check against fvcore ({diff.summary})"
    console = tables.console(stderr=to_stderr)
    if console.is_terminal:
        console.print(tables.rich_table(diff.table, title=title, width=console.width))
    else:  # a pipe, a log: the aligned text every command writes there
        typer.echo(tables.text_table(diff.table, title=title), nl=False, err=to_stderr)


@app.command()
def models(
    pattern: str = typer.Argument("*", help="A word found in a name or family (e.g. vovnet, densenet), or a "
                                            "shell-style pattern ('vovnet*')."),
    fmt: str = FMT,
) -> None:
    """List the zoo's models with their parameter counts and descriptions."""
    from effkit.models import get_entry, list_models
    from effkit.report import tables

    tables.check_format(fmt)
    columns = ["name", "family", "params", "input_size", "description"]
    rows = []
    for name in list_models(pattern):
        entry = get_entry(name)
        rows.append((name, entry.family, entry.param_count(), entry.default_input_size, entry.description))
    if not rows:
        raise fail(f"no model matches {pattern!r}; run `effkit models` for the full list")
    emit(_ModelList(rows, columns), fmt=fmt)


class _ModelList:
    """The zoo listing in each format; csv, json and the text table without pandas (`effkit models` starts fast)."""

    title = "effkit model zoo"

    def __init__(self, rows: list, columns: list) -> None:
        self.rows, self.columns = rows, columns

    def _frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def rich(self, width=None):
        from effkit.report import tables

        return tables.rich_table(self._frame(), title=self.title, width=width)

    def text(self) -> str:
        from effkit.report import plain

        return plain.text_table(self.rows, self.columns, title=self.title)

    def csv(self) -> str:
        from effkit.report import plain

        return plain.csv_table(self.rows, self.columns)

    def json(self) -> str:
        import json

        return json.dumps([dict(zip(self.columns, r)) for r in self.rows], indent=2)

    def markdown(self) -> str:
        from effkit.report import tables

        return tables.markdown_table(self._frame())
