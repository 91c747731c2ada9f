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


def html_table(df, *, title: str | None = None, columns: Iterable[str] | None = None, caption: str | None = None,
               importance: Sequence[str] | None = None, whole: Iterable[str] = ()) -> str:
    """:func:`text_table`'s table of ``df`` as HTML (a notebook's view): the same title, columns left out or folded
    into the title, headers and cells, and the caption's lines under the table."""
    import html

    from effkit.report.layout import FILE_WIDTH, Laid

    cols = _columns(df, columns)
    laid = Laid(cols, list(df[cols].itertuples(index=False, name=None)), title=title, width=FILE_WIDTH,
                importance=importance, measure=len, whole=tuple(whole))

    def cells(tag: str, values) -> str:
        return "<tr>" + "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values) + "</tr>"

    body = "".join(cells("td", laid.row(k)) for k in range(laid.n_body))
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in (laid.caption(caption) or "").splitlines())
    return (f"<table><caption>{html.escape(laid.title or '')}</caption>"
            f"<thead>{cells('th', [laid.headers[c] for c in laid.columns])}</thead><tbody>{body}</tbody></table>"
            + notes)


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


class FrameTable:
    """A DataFrame as :func:`emit` prints it: title, columns, notes and extra tables under it.

    ``extra`` holds (title, frame, columns) tables after the main one; ``shown`` is the frame the tables
    draw when it differs from the data (shortened names); ``export_all`` puts every column in csv/json
    rather than ``columns`` only. The table fits the width given (200 characters in a file or a pipe),
    leaving out the columns last in ``importance`` (default: ``columns``' order) first; the names in
    ``whole`` columns are never cut.
    """

    def __init__(self, df, *, title: str = "", columns=None, notes: Sequence[str] = (), extra=(), shown=None,
                 export_all: bool = False, markdown_title: bool = True, importance=None, whole=()) -> None:
        self.df, self.title, self.columns, self.notes, self.extra = df, title, columns, list(notes), list(extra)
        self.shown = df if shown is None else shown
        self.exported = None if export_all else columns
        self.markdown_title, self.importance, self.whole = markdown_title, importance, whole

    def csv(self) -> str:
        return csv_text(self.df, self.exported)

    def json(self) -> str:
        return json_text(self.df, self.exported)

    def markdown(self) -> str:
        text = (f"**{self.title}**\n\n" if self.markdown_title else "") + markdown_table(
            self.df, columns=self.columns) + "".join(["\n"] * bool(self.notes) + [f"- {n}\n" for n in self.notes])
        for sub_title, sub, sub_columns in self.extra:
            text += f"\n**{sub_title}**\n\n" + markdown_table(sub, columns=sub_columns)
        return text

    def text(self) -> str:
        """Aligned text: what a pipe or a file gets for the table format."""
        text = text_table(self.shown, title=self.title, columns=self.columns,
                                 caption="\n".join(self.notes) or None, importance=self.importance, whole=self.whole)
        return text + "".join("\n" + text_table(sub, title=sub_title, columns=sub_columns)
                              for sub_title, sub, sub_columns in self.extra)

    def html(self) -> str:
        """An HTML table (a notebook's view): the text table's title, headers and cells, the notes under it."""
        return html_table(self.shown, title=self.title, columns=self.columns, caption="\n".join(self.notes) or None,
                          importance=self.importance, whole=self.whole)

    def rich(self, width: Optional[int] = None) -> list:
        return [rich_table(self.shown, title=self.title, columns=self.columns,
                                  caption="\n".join(self.notes) or None, width=width, importance=self.importance,
                                  whole=self.whole),
                *(rich_table(sub, title=sub_title, columns=sub_columns, width=width)
                  for sub_title, sub, sub_columns in self.extra)]
