"""Render DataFrames as rich tables, markdown, CSV or JSON.

Tables for people have headers in words with units and cells in human units (K/M/G for counts, one
duration or byte unit per column; see :mod:`effkit.report.columns`) and fit the terminal's width; CSV
and JSON carry the raw column names and the raw numbers.
"""

from __future__ import annotations

import io
import json
from typing import Any, Iterable, Mapping, Sequence

from effkit.errors import BadInputError
from effkit.report.columns import column, format_column, is_numeric
from effkit.report.layout import FILE_WIDTH, Laid, wrap_title  # noqa: F401  (FILE_WIDTH: read by the CLI)
from effkit.units import human

FORMATS = ("table", "csv", "json", "markdown")

def _columns(df, columns: Iterable[str] | None) -> list[str]:
    cols = [c for c in (columns or df.columns) if c in df.columns and c != "path"]
    return cols


def rich_table(df, *, title: str | None = None, columns: Iterable[str] | None = None,
               totals: Mapping[str, Any] | None = None, caption: str | None = None, width: int | None = None,
               importance: Sequence[str] | None = None, footers: Sequence[tuple[str, Mapping[str, Any]]] = (),
               always: Iterable[str] = (), fold: bool = True, whole: Iterable[str] = ()):
    """A ``rich.table.Table`` of ``df`` for a person: headers in words with units, an optional totals row.

    See :func:`layout_table`; ``totals`` is one footer row labelled ``total``.
    """
    cols = _columns(df, columns)
    rows = list(df[cols].itertuples(index=False, name=None))
    if totals:
        footers = [*footers, ("total", totals)]
    return layout_table(cols, rows, title=title, caption=caption, width=width, importance=importance,
                        footers=footers, always=always, fold=fold, whole=whole)


def text_table(df, *, title: str | None = None, columns: Iterable[str] | None = None,
               totals: Mapping[str, Any] | None = None, caption: str | None = None, width: int | None = None,
               importance: Sequence[str] | None = None, always: Iterable[str] = (), fold: bool = True,
               whole: Iterable[str] = ()) -> str:
    """:func:`rich_table`'s table of ``df`` as aligned plain text, for a pipe or a file (see
    :func:`effkit.report.plain.text_table`)."""
    from effkit.report import plain

    cols = _columns(df, columns)
    rows = list(df[cols].itertuples(index=False, name=None))
    return plain.text_table(rows, cols, title=title, totals=totals, caption=caption, width=width,
                            importance=importance, always=always, fold=fold, whole=whole)


def layout_table(columns: Sequence[str], rows: Sequence[tuple], *, title: str | None = None,
                 caption: str | None = None, width: int | None = None, importance: Sequence[str] | None = None,
                 footers: Sequence[tuple[str, Mapping[str, Any]]] = (), always: Iterable[str] = (),
                 fold: bool = True, whole: Iterable[str] = ()):
    """A rich table that fits ``width`` terminal columns without cutting a number (with a width: a ``Group`` of
    the title, the ``rich.table.Table`` and the caption, each wrapped to the width, not to the table).

    Columns with no value are left out (except those in ``always``), and so, with ``fold``, are columns that
    hold one value in every row: that value goes to the title (``batch 1``). Where the table is wider than
    ``width``, the least important columns go first (``importance`` lists them most important first;
    default: the order of ``columns``), until the rest fit with names no narrower than their column's
    ``shrink`` width; then names are cut on the left (``…stage4.OSA4_2.concat``). Numbers are never cut nor
    wrapped, names never wrapped. ``footers`` are (label, values) rows under a rule, the label in the first
    column. ``whole``: name columns never cut (a file name a command takes). ``width=None``: every column at
    its full width.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    laid = Laid(columns, rows, title=title, width=width, importance=importance, footers=footers, always=always,
                fold=fold, whole=tuple(whole))
    caption = laid.caption(caption)
    # rich would wrap the title and caption to the table's own width (a narrow table: a tall column of words);
    # with a width they go above and below it instead, the title broken only between its parts
    table = Table(title=laid.title if width is None else None, caption=caption if width is None else None,
                  caption_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for c in laid.columns:
        numeric = c in laid.numeric
        # Numbers and names never wrap; other text (a description, an error) may, when no width is set.
        fixed = numeric or column(c).kind == "name" or width is not None
        table.add_column(laid.headers[c], justify="right" if numeric else "left", no_wrap=fixed,
                         overflow="fold" if numeric or not fixed else "ellipsis",
                         min_width=laid.widths[c] if numeric or width is not None else None)
    n = laid.n_body
    for k in range(n + len(footers)):
        if k == n:
            table.add_section()
        table.add_row(*(Text(x) for x in laid.row(k)), style="bold" if k >= n else None)
    if width is None:
        return table
    from rich.console import Group

    parts = [Text(wrap_title(laid.title, width), style="italic")] if laid.title else []
    parts.append(table)
    if caption:
        parts.append(Text(caption, style="dim italic"))
    return Group(*parts)


def markdown_table(df, *, columns: Iterable[str] | None = None,
                   totals: Mapping[str, Any] | None = None, human_units: bool = True) -> str:
    """A GitHub-flavoured markdown table."""
    cols = _columns(df, columns)
    rows = list(df[cols].itertuples(index=False, name=None))
    return markdown_rows(rows, cols, footers=[("total", totals)] if totals else (), human_units=human_units)


def markdown_rows(rows: Sequence[tuple], columns: Sequence[str], *,
                  footers: Sequence[tuple[str, Mapping[str, Any]]] = (), human_units: bool = True) -> str:
    """A GitHub-flavoured markdown table of plain rows; ``footers`` are bold (label, values) rows.

    Headers and cells as in the terminal's tables (words with units, one unit per column); every column is
    kept, none folded into a title. ``human_units=False``: the raw names and values.
    """
    foot = [tuple(label if i == 0 else values.get(c) for i, c in enumerate(columns)) for label, values in footers]
    if human_units:
        formatted = [format_column(c, [r[j] for r in [*rows, *foot]]) for j, c in enumerate(columns)]
        heads = [h for h, _ in formatted]
        cells = [[cs[k] for _, cs in formatted] for k in range(len(rows) + len(foot))]
        numeric = [is_numeric(c, [r[j] for r in rows]) and bool(rows) for j, c in enumerate(columns)]
    else:
        heads = list(columns)
        cells = [["" if v is None else str(v) for v in r] for r in [*rows, *foot]]
        numeric = [bool(rows) and all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows)
                   for i in range(len(columns))]
    lines = ["| " + " | ".join(heads) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    for k, rec in enumerate(cells):
        bold = k >= len(rows)
        lines.append("| " + " | ".join(
            (f"**{x}**" if bold and x else x).replace("|", "\\|") for x in rec) + " |")
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


def is_terminal() -> bool:
    """True when stdout is a terminal (a person reads the table there)."""
    import sys

    return sys.stdout.isatty()


def console(stderr: bool = False):
    """A rich Console; when the output is not a terminal (a pipe, a file, CI logs) use a wide fixed
    width so tables are not wrapped into unreadable columns."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=FILE_WIDTH)
