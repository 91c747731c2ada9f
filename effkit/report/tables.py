"""Render DataFrames as rich tables, markdown, CSV or JSON.

Tables for people use human units (K/M/G); CSV and JSON carry the raw numbers.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any, Iterable, Mapping

from effkit.errors import BadInputError
from effkit.units import human

FORMATS = ("table", "csv", "json", "markdown")

# Columns shown as plain integers (no K/M/G): counters and indices.
_PLAIN_COLUMNS = {"call", "depth", "layers", "batch_size", "iterations", "repeat", "id", "trials",
                  "samples", "row", "layer_index"}


def format_cell(column: str, value: Any) -> str:
    if column in _PLAIN_COLUMNS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return "" if isinstance(value, float) and math.isnan(value) else str(int(value))
    return human(value)


def _columns(df, columns: Iterable[str] | None) -> list[str]:
    cols = [c for c in (columns or df.columns) if c in df.columns and c != "path"]
    return cols


def rich_table(df, *, title: str | None = None, columns: Iterable[str] | None = None,
               totals: Mapping[str, Any] | None = None, caption: str | None = None):
    """A ``rich.table.Table`` of ``df`` with human units and an optional totals row."""
    from rich.table import Table

    cols = _columns(df, columns)
    table = Table(title=title, caption=caption, caption_justify="left", show_lines=False)
    numeric = {c for c in cols if df[c].dtype.kind in "iuf"}
    for c in cols:
        table.add_column(c, justify="right" if c in numeric else "left",
                         overflow="fold" if c not in numeric else "ellipsis")
    for rec in df[cols].itertuples(index=False, name=None):
        table.add_row(*(format_cell(c, v) for c, v in zip(cols, rec)))
    if totals:
        table.add_section()
        table.add_row(*(format_cell(c, totals.get(c, "")) if c in totals else
                        ("total" if i == 0 else "") for i, c in enumerate(cols)), style="bold")
    return table


def markdown_table(df, *, columns: Iterable[str] | None = None,
                   totals: Mapping[str, Any] | None = None, human_units: bool = True) -> str:
    """A GitHub-flavoured markdown table."""
    cols = _columns(df, columns)
    fmt = format_cell if human_units else (lambda c, v: "" if v is None else str(v))
    lines = ["| " + " | ".join(cols) + " |",
             "| " + " | ".join("---:" if df[c].dtype.kind in "iuf" else "---" for c in cols) + " |"]
    for rec in df[cols].itertuples(index=False, name=None):
        lines.append("| " + " | ".join(fmt(c, v).replace("|", "\\|") for c, v in zip(cols, rec)) + " |")
    if totals:
        lines.append("| " + " | ".join(
            f"**{fmt(c, totals[c])}**" if c in totals else ("**total**" if i == 0 else "")
            for i, c in enumerate(cols)) + " |")
    return "\n".join(lines) + "\n"


def csv_text(df, columns: Iterable[str] | None = None) -> str:
    return df[_columns(df, columns)].to_csv(index=False)


def json_text(df, columns: Iterable[str] | None = None, **extra) -> str:
    records = json.loads(df[_columns(df, columns)].to_json(orient="records"))
    if extra:
        return json.dumps({**extra, "rows": records}, indent=2, default=str)
    return json.dumps(records, indent=2, default=str)


def check_format(fmt: str, allowed: Iterable[str] = FORMATS) -> str:
    allowed = tuple(allowed)
    if fmt not in allowed:
        raise BadInputError(f"unknown format {fmt!r}; use one of {', '.join(allowed)}")
    return fmt


def render_text(renderable) -> str:
    """Plain text of a rich renderable (for output files)."""
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=200, no_color=True, force_terminal=False).print(renderable)
    return buf.getvalue()


def console(stderr: bool = False):
    """A rich Console; when the output is not a terminal (a pipe, a file, CI logs) use a wide fixed
    width so tables are not wrapped into unreadable columns."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=200)
