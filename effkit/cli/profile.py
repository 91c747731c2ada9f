"""``effkit profile`` and ``effkit models``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from effkit.cli import app, fail
from effkit.cli._shared import FMT, MODEL_HELP, OUTPUT

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
                                        help="Aggregate to module depth N (VoVNet: 1 = stages, 2 = OSA blocks)."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort rows by this column, largest first (e.g. mac)."),
    top: Optional[int] = typer.Option(None, "--top", help="Show only the first N rows (after sorting)."),
    fmt: str = FMT,
    output: Optional[Path] = OUTPUT,
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local state_dict file to load and check."),
    cross_check: Optional[str] = typer.Option(None, "--cross-check",
                                              help="Also count with 'fvcore' and show per-module differences."),
) -> None:
    """Per-layer MAC, FLOPs, multiply-adds, params and activations of MODEL (no GPU needed).

    The model runs once on PyTorch's meta device: no real compute or memory, whatever the input size.
    """
    import warnings

    from effkit import UncountedOpsWarning, files, profile as run_profile
    from effkit.analysis.profile import LAYER_COLUMNS, MAC_DEFINITION
    from effkit.report import plain, tables
    from effkit.units import resolve_input_shape

    tables.check_format(fmt)
    if output is not None:
        files.check_output(output)  # before the analysis, not after
    if cross_check is not None and cross_check != "fvcore":
        raise fail(f"unknown cross-check tool {cross_check!r}; the one supported is 'fvcore'")
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

    # The plain layer table comes straight from the profile's rows; pandas only for --depth/--sort/--top.
    df = None
    columns = [c for c in LAYER_COLUMNS if c not in ("depth", "repeat", "path", "counted")]
    if depth is not None or sort or top is not None:
        df = prof.by_depth(depth) if depth is not None else prof.layers
        if sort:
            if sort not in df.columns:
                raise fail(f"unknown column {sort!r} for --sort; choose from {', '.join(c for c in df.columns if c != 'path')}")
            df = df.sort_values(sort, ascending=False, kind="stable")
        if top is not None:
            if top <= 0:
                raise fail(f"--top must be a positive integer, got {top}")
            df = df.head(top)
        if depth is not None:
            columns = [c for c in df.columns if c not in ("depth", "repeat", "path", "counted")]
        rows = list(df[columns].itertuples(index=False, name=None))
    else:
        rows = prof.rows(columns)

    totals = prof.totals.as_dict()
    notes = []
    if prof.uncounted:
        notes.append("uncounted ops (no formula; their cost is missing from the totals): "
                     + ", ".join(f"{k} x{v}" for k, v in sorted(prof.uncounted.items())))
    if prof.uncalled:
        notes.append(f"modules never called: {', '.join(prof.uncalled[:10])}"
                     + (" ..." if len(prof.uncalled) > 10 else ""))

    from effkit.units import human  # torch: not imported by `effkit --help`

    shown = ", ".join(prof.inputs) if inputs is not None else "x".join(map(str, prof.input_shape))
    mode = ("  channels-last" if prof.channels_last else "") + ("  executed on cpu" if prof.execute == "cpu" else "")
    title = (f"{prof.model_name}  input {shown}  {prof.dtype}{mode}  "
             f"params {human(totals['params'])}  mult_adds {human(totals['mult_adds'])}  "
             f"FLOPs {human(totals['flops'])}  paper MAC {human(totals['paper_mac'])}  "
             f"MAC {human(totals['mac'])}  fused MAC {human(totals['mac_fused'])}")
    caption = "\n".join([*notes, MAC_DEFINITION])

    if fmt == "json":
        import json

        data = prof.to_dict()
        if df is not None:
            data["layers"] = json.loads(tables.json_text(df, columns))
        text = json.dumps(data, indent=2)
    elif fmt == "csv":
        text = plain.csv_table(rows, columns)
    elif fmt == "markdown":
        text = (f"**{title}**\n\n" + tables.markdown_table(prof.layers if df is None else df, columns=columns,
                                                            totals=totals)
                + "\n" + "\n".join(f"- {n}" for n in [*notes, MAC_DEFINITION]) + "\n")
    elif output is None and sys.stdout.isatty():
        renderable = tables.rich_table(prof.layers if df is None else df, title=title, columns=columns,
                                       totals=totals, caption=caption)
        tables.console().print(renderable)
        _cross_check(cross_check, model, shape if inputs is None else inputs, prof, to_stderr=False)
        return
    else:  # a table into a pipe or a file: aligned text, no rich layout
        text = plain.text_table(rows, columns, title=title, totals=totals, caption=caption)
        if output is None:
            typer.echo(text, nl=False)
            _cross_check(cross_check, model, shape if inputs is None else inputs, prof, to_stderr=False)
            return

    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        files.write_text(output, text)
        typer.echo(f"wrote {output}", err=True)
    # Machine-readable output on stdout stays clean: the comparison goes to stderr.
    _cross_check(cross_check, model, shape if inputs is None else inputs, prof, to_stderr=True)


def _cross_check(tool: Optional[str], model: str, shape_or_inputs, prof, *, to_stderr: bool) -> None:
    if tool is None:
        return
    from effkit.analysis.crosscheck import fvcore_crosscheck
    from effkit.report import tables

    if type(shape_or_inputs) is tuple:  # a plain shape (inputs given in full are a list, dict or pair)
        diff = fvcore_crosscheck(model, shape_or_inputs, profile=prof)
    else:
        diff = fvcore_crosscheck(model, inputs=shape_or_inputs, profile=prof)
    tables.console(stderr=to_stderr).print(tables.rich_table(
        diff.table, title=f"cross-check against fvcore ({diff.summary})"))


@app.command()
def models(
    pattern: str = typer.Argument("*", help="Shell-style filter, e.g. 'vovnet*'."),
    fmt: str = FMT,
) -> None:
    """List the zoo's models with their parameter counts and descriptions."""
    from effkit.models import get_entry, list_models
    from effkit.report import plain, tables

    tables.check_format(fmt)
    columns = ["name", "family", "params", "input_size", "description"]
    rows = []
    for name in list_models(pattern):
        entry = get_entry(name)
        rows.append((name, entry.family, entry.param_count(), entry.default_input_size, entry.description))
    if not rows:
        raise fail(f"no model matches {pattern!r}; run `effkit models` for the full list")
    if fmt == "table" and sys.stdout.isatty():
        import pandas as pd

        tables.console().print(tables.rich_table(pd.DataFrame(rows, columns=columns), title="effkit model zoo"))
    elif fmt == "table":
        typer.echo(plain.text_table(rows, columns, title="effkit model zoo"), nl=False)
    elif fmt == "csv":
        typer.echo(plain.csv_table(rows, columns), nl=False)
    elif fmt == "json":
        import json

        typer.echo(json.dumps([dict(zip(columns, r)) for r in rows], indent=2))
    else:
        import pandas as pd

        typer.echo(tables.markdown_table(pd.DataFrame(rows, columns=columns)), nl=False)
