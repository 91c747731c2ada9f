"""``effkit profile`` and ``effkit models``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import typer

from effkit.cli import app, fail
from effkit.cli._shared import FMT, MODEL_HELP, OUTPUT

#: The terminal's default columns (the torchinfo habit: about 90 characters wide) ...
DEFAULT_COLUMNS = ["name", "type", "output_shape", "params", "flops", "mac", "mac_ratio"]
#: ... and, on a narrower terminal, the order they are kept in (the last goes first).
IMPORTANCE = ["name", "mac", "flops", "params", "type", "mac_ratio", "output_shape"]
#: The default columns of aggregated rows (--depth, --tree), which have no shapes.
AGGREGATE_COLUMNS = ["name", "type", "layers", "params", "flops", "mac"]
#: Columns left out of the tables unless asked for by name: bookkeeping, or constant in a plain model.
_HIDDEN = ("depth", "repeat", "path", "counted", "shared_params", "own")
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
    from effkit.report import tables

    tables.check_format(fmt)
    if output is not None:
        files.check_output(output)  # before the analysis, not after
    _check_view(cross_check=cross_check, tree=tree, depth=depth, sort=sort, top=top)
    prof, inputs, shape = _analyse(model, input_size=input_size, input_shape=input_shape, batch_size=batch_size,
                                   input=input, channels_last=channels_last, execute=execute, dtype=dtype,
                                   weights=weights)
    view = _view(prof, depth=depth, tree=tree, sort=sort, top=top)
    terminal = fmt == "table" and output is None and tables.is_terminal()
    view.columns = _pick_columns(columns, view, terminal=terminal)
    title = _title(prof, inputs_given=inputs is not None)
    to_stderr = _show(prof, view, title=title, fmt=fmt, output=output, terminal=terminal)
    _cross_check(cross_check, model, shape if inputs is None else inputs, prof, to_stderr=to_stderr)


def _check_view(*, cross_check, tree: bool, depth, sort, top) -> None:
    if cross_check is not None and cross_check != "fvcore":
        raise fail(f"unknown cross-check tool {cross_check!r}; the one supported is 'fvcore'")
    if top is not None and top <= 0:
        raise fail(f"--top must be a positive integer, got {top}")
    if tree and (sort is not None or top is not None):
        raise fail("--tree shows the whole module tree in its order; drop --sort and --top "
                   "(--depth N shortens the tree)")
    if tree and depth is not None and depth < 1:
        raise fail(f"--depth with --tree must be at least 1 (the top-level modules), got {depth}")


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


@dataclass
class _View:
    """The rows a command shows: a frame (``df``) or, for the plain layer table, the profile's own rows."""

    available: list
    default: list
    df: Any = None  # None: the profile's rows, no pandas
    columns: list = field(default_factory=list)
    depth: Optional[int] = None
    tree: bool = False
    top: Optional[int] = None
    sort: Optional[str] = None

    def rows(self, prof, columns) -> list:
        if self.df is None:
            return prof.rows(columns)
        return list(self.df[columns].itertuples(index=False, name=None))


def _view(prof, *, depth, tree: bool, sort, top) -> _View:
    from effkit.analysis.profile import LAYER_COLUMNS, NUMERIC_COLUMNS

    if tree:
        df = prof.tree(depth)
        return _View([c for c in ["name", "type", "depth", "layers", *NUMERIC_COLUMNS]], AGGREGATE_COLUMNS, df,
                     depth=depth, tree=True)
    if depth is None and not sort and top is None:
        return _View(list(LAYER_COLUMNS), DEFAULT_COLUMNS)
    df = prof.by_depth(depth) if depth is not None else prof.layers
    if sort:
        if sort not in df.columns or sort in _HIDDEN:
            raise fail(f"unknown column {sort!r} for --sort; choose from "
                       + ", ".join(c for c in df.columns if c not in _HIDDEN))
        df = df.sort_values(sort, ascending=False, kind="stable")
    if top is not None:
        df = df.head(top)
    available = [c for c in df.columns if c not in ("path", "counted", "shared_params")]
    return _View(available, AGGREGATE_COLUMNS if depth is not None else DEFAULT_COLUMNS, df, depth=depth, top=top,
                 sort=sort)


def _pick_columns(spec: Optional[str], view: _View, *, terminal: bool) -> list:
    """The columns asked for (``--columns``), else the terminal's compact set, else every column."""
    if spec is None and terminal:  # the compact set, with the column the rows are sorted by
        return list(view.default) + [view.sort] * (view.sort is not None and view.sort not in view.default)
    if spec is None:
        return [c for c in view.available if c not in _HIDDEN]
    names = [c.strip() for c in spec.split(",") if c.strip()]
    if names == ["all"]:
        return [c for c in view.available if c not in _HIDDEN or (c == "depth" and view.depth is not None)]
    bad = [c for c in names if c not in view.available]
    if bad or not names:
        raise fail(f"unknown column {(bad or [spec])[0]!r} for --columns; choose from "
                   f"{', '.join(view.available)}, or all")
    return names


def _display_rows(prof, view: _View, columns: list) -> list:
    """The rows for a person: the model's own functional ops and a tree's names said in words."""
    rows = view.rows(prof, columns)
    if "name" not in columns:
        return rows
    i = columns.index("name")
    if view.tree:
        names = [_tree_name(r) for r in view.df.to_dict(orient="records")]
    else:
        names = [f"(functional ops of {kind})" if name == "(model)" and view.depth != 0 else name
                 for name, kind in view.rows(prof, ["name", "type"])]
    return [(*r[:i], n, *r[i + 1:]) for r, n in zip(rows, names)]


def _tree_name(rec) -> str:
    """A tree row's name: its own part of the path, indented two spaces a level."""
    if rec["own"]:  # the model's own functional ops, or a module's (its torch.cat, say), under it
        what = f" of {rec['type']}" if rec["depth"] == 1 else ""
        return "  " * (rec["depth"] - 1) + f"(functional ops{what})"
    return "  " * (rec["depth"] - 1) + rec["path"][-1]


def _footers(prof, view: _View, columns: list, rows: list) -> list:
    """The totals under the table: with --top, the rows shown and, apart, the whole model."""
    from effkit.analysis.profile import NUMERIC_COLUMNS

    totals = prof.totals.as_dict()
    if view.top is None:
        return [("total", totals)]
    shown = {c: sum(r[j] for r in rows) for j, c in enumerate(columns) if c in NUMERIC_COLUMNS}
    return [(f"total of the {len(rows)} shown rows", shown), ("model total", totals)]


def _title(prof, *, inputs_given: bool) -> str:
    from effkit.units import human  # torch: not imported by `effkit --help`

    totals = prof.totals.as_dict()
    shown = ", ".join(prof.inputs) if inputs_given else "x".join(map(str, prof.input_shape))
    mode = ("  channels-last" if prof.channels_last else "") + ("  executed on cpu" if prof.execute == "cpu" else "")
    return (f"{prof.model_name}  input {shown}  {prof.dtype}{mode}  "
            f"params {human(totals['params'])}  mult_adds {human(totals['mult_adds'])}  "
            f"FLOPs {human(totals['flops'])}  paper MAC {human(totals['paper_mac'])}  "
            f"MAC {human(totals['mac'])}  fused MAC {human(totals['mac_fused'])}")


def _notes(prof) -> list:
    from effkit.analysis.profile import MAC_DEFINITION

    notes = []
    if prof.uncounted:
        notes.append("uncounted ops (no formula; their cost is missing from the totals): "
                     + ", ".join(f"{k} x{v}" for k, v in sorted(prof.uncounted.items())))
    if prof.uncalled:
        notes.append(f"modules never called: {', '.join(prof.uncalled[:10])}"
                     + (" ..." if len(prof.uncalled) > 10 else ""))
    return [*notes, MAC_DEFINITION]


def _show(prof, view: _View, *, title: str, fmt: str, output: Optional[Path], terminal: bool) -> bool:
    """Print or write the table; True when stdout holds machine-readable output (the cross-check goes to stderr)."""
    import effkit.files as files
    from effkit.report import plain, tables

    columns = view.columns
    if fmt == "json":
        import json

        data = prof.to_dict()
        if view.df is not None or columns != [c for c in view.available if c not in _HIDDEN]:
            frame = view.df if view.df is not None else prof.layers
            data["layers"] = json.loads(tables.json_text(frame, columns))
        text = json.dumps(data, indent=2)
    elif fmt == "csv":
        text = plain.csv_table(view.rows(prof, columns), columns)
    else:
        rows = _display_rows(prof, view, columns)
        footers = _footers(prof, view, columns, view.rows(prof, columns))
        if fmt == "table":  # a call or repeat column that is 0 in every row says nothing, even in the title
            columns, rows = _without_constant_calls(columns, rows)
        if terminal:
            console = tables.console()
            console.print(_terminal_table(prof, columns, rows, footers, title=title, width=console.width))
            return False
        if fmt == "markdown":
            text = (f"**{title}**\n\n" + tables.markdown_rows(rows, columns, footers=footers)
                    + "\n" + "\n".join(f"- {n}" for n in _notes(prof)) + "\n")
        else:  # a table into a pipe or a file: aligned text, no rich layout
            text = plain.text_table(rows, columns, title=title, footers=footers, caption="\n".join(_notes(prof)),
                                    importance=_importance(columns))
            if output is None:
                typer.echo(text, nl=False)
                return False
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        files.write_text(output, text)
        typer.echo(f"wrote {output}", err=True)
    return True


def _without_constant_calls(columns: list, rows: list) -> tuple[list, list]:
    keep = [j for j, c in enumerate(columns) if not (c in ("call", "repeat") and len({r[j] for r in rows}) <= 1)]
    return [columns[j] for j in keep], [tuple(r[j] for j in keep) for r in rows]


def _importance(columns: list) -> list:
    return [c for c in IMPORTANCE if c in columns] + [c for c in columns if c not in IMPORTANCE]


def _terminal_table(prof, columns: list, rows: list, footers: list, *, title: str, width: int):
    """The rich table, fitted to ``width``."""
    from effkit.report import tables

    return tables.layout_table(columns, rows, title=title, caption="\n".join(_notes(prof)), width=width,
                               importance=_importance(columns), footers=footers)


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
    pattern: str = typer.Argument("*", help="A word found in a name or family (e.g. vovnet, densenet), or a "
                                            "shell-style pattern ('vovnet*')."),
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
