"""Render DataFrames as rich tables, markdown, CSV or JSON.

Tables for people have headers in words with units and cells in human units (K/M/G for counts, one
duration or byte unit per column; see :mod:`effkit.report.columns`) and fit the terminal's width; CSV
and JSON carry the raw column names and the raw numbers.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any, Iterable, Mapping, Sequence

from effkit.errors import BadInputError
from effkit.report.columns import column, format_column, is_numeric, says_nothing
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
               totals: Mapping[str, Any] | None = None, caption: str | None = None, width: int | None = None,
               importance: Sequence[str] | None = None, footers: Sequence[tuple[str, Mapping[str, Any]]] = (),
               always: Iterable[str] = ()):
    """A ``rich.table.Table`` of ``df`` for a person: headers in words with units, an optional totals row.

    See :func:`layout_table`; ``totals`` is one footer row labelled ``total``.
    """
    cols = _columns(df, columns)
    rows = list(df[cols].itertuples(index=False, name=None))
    if totals:
        footers = [*footers, ("total", totals)]
    return layout_table(cols, rows, title=title, caption=caption, width=width, importance=importance,
                        footers=footers, always=always)


def layout_table(columns: Sequence[str], rows: Sequence[tuple], *, title: str | None = None,
                 caption: str | None = None, width: int | None = None, importance: Sequence[str] | None = None,
                 footers: Sequence[tuple[str, Mapping[str, Any]]] = (), always: Iterable[str] = ()):
    """A ``rich.table.Table`` that fits ``width`` terminal columns without cutting a number.

    Columns with no value are left out (except those in ``always``). Where the table is wider than
    ``width``, the least important columns go first (``importance`` lists them most important first;
    default: the order of ``columns``), until the rest fit with names no narrower than their column's
    ``shrink`` width; then names are cut on the left (``…stage4.OSA4_2.concat``). Numbers are never cut nor
    wrapped, names never wrapped. ``footers`` are (label, values) rows under a rule, the label in the first
    column. ``width=None``: every column at its full width.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    keep = set(always)
    cols = [c for i, c in enumerate(columns)
            if c in keep or not says_nothing([r[i] for r in rows])]
    index = {c: list(columns).index(c) for c in cols}
    body = [[r[index[c]] for c in cols] for r in rows]
    foot = [[label if i == 0 else values.get(c) for i, c in enumerate(cols)] for label, values in footers]
    formatted = [format_column(c, [r[j] for r in body + foot]) for j, c in enumerate(cols)]
    headers = {c: h for c, (h, _) in zip(cols, formatted)}
    cells = {c: cs for c, (_, cs) in zip(cols, formatted)}
    widths = _fit(cols, headers, cells, width, importance, [label for label, _ in footers])
    left_out = [headers[c] for c in cols if c not in widths]
    if left_out:
        caption = "\n".join([*([caption] if caption else []), "not shown at this width: " + ", ".join(left_out)
                             + " (a wider terminal, csv or json output has them)"])
    cols = [c for c in cols if c in widths]

    table = Table(title=title, caption=caption, caption_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, collapse_padding=True)
    numeric = {c for c in cols if is_numeric(c, [r[index[c]] for r in rows])}
    for c in cols:
        # Numbers and names never wrap; other text (a description, an error) may, when no width is set.
        fixed = c in numeric or column(c).kind == "name" or width is not None
        table.add_column(headers[c], justify="right" if c in numeric else "left", no_wrap=fixed,
                         overflow="fold" if c in numeric or not fixed else "ellipsis",
                         min_width=widths[c] if c in numeric or width is not None else None)
    n = len(body)
    for k in range(n + len(foot)):
        if k == n:
            table.add_section()
        line = [Text(_cut(c, cells[c][k], widths[c])) for c in cols]
        table.add_row(*line, style="bold" if k >= n else None)
    return table


#: Characters between two columns (padding, collapsed) of :func:`layout_table`'s tables.
_GAP = 2


def _fit(cols, headers, cells, width, importance, labels) -> dict[str, int]:
    """The width of each column shown; the columns left out are not in the answer."""
    from rich.cells import cell_len

    natural = {c: max([cell_len(headers[c]), *(cell_len(x) for x in cells[c])]) for c in cols}
    if width is None:
        return natural
    label_room = max([0, *(cell_len(x) for x in labels)])
    least = {}
    for i, c in enumerate(cols):
        floor = column(c).shrink
        if i == 0:
            floor = max(floor, label_room)  # the footer labels are not cut
        least[c] = min(natural[c], max(floor, cell_len(headers[c]))) if floor else natural[c]
    order = [c for c in (importance or cols) if c in natural] + [c for c in cols if c not in (importance or ())]
    shown = list(cols)

    def room(shown_cols) -> int:
        return sum(least[c] for c in shown_cols) + _GAP * (len(shown_cols) - 1)

    for c in reversed(order):
        if room(shown) <= width or len(shown) <= 1:
            break
        if c != cols[0] and c in shown:
            shown.remove(c)
    spare = width - room(shown)
    out = {c: least[c] for c in shown}
    for c in shown:  # give the cut columns back what room there is, in order
        extra = min(max(spare, 0), natural[c] - least[c])
        out[c] += extra
        spare -= extra
    return out


def _cut(col: str, text: str, width: int) -> str:
    """``text`` in ``width`` cells: names keep their tail (``…OSA4_2.concat``), other text its head."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    if column(col).kind == "name":
        tail = text
        while cell_len(tail) > width - 1:
            tail = tail[1:]
        return "…" + tail
    head = text
    while cell_len(head) > width - 1:
        head = head[:-1]
    return head + "…"


def markdown_table(df, *, columns: Iterable[str] | None = None,
                   totals: Mapping[str, Any] | None = None, human_units: bool = True) -> str:
    """A GitHub-flavoured markdown table."""
    cols = _columns(df, columns)
    rows = list(df[cols].itertuples(index=False, name=None))
    return markdown_rows(rows, cols, footers=[("total", totals)] if totals else (), human_units=human_units)


def markdown_rows(rows: Sequence[tuple], columns: Sequence[str], *,
                  footers: Sequence[tuple[str, Mapping[str, Any]]] = (), human_units: bool = True) -> str:
    """A GitHub-flavoured markdown table of plain rows; ``footers`` are bold (label, values) rows."""
    fmt = format_cell if human_units else (lambda c, v: "" if v is None else str(v))
    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows)
               for i in range(len(columns))]
    lines = ["| " + " | ".join(columns) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    for rec in rows:
        lines.append("| " + " | ".join(fmt(c, v).replace("|", "\\|") for c, v in zip(columns, rec)) + " |")
    for label, values in footers:
        lines.append("| " + " | ".join(
            f"**{fmt(c, values[c])}**" if c in values else (f"**{label}**" if i == 0 else "")
            for i, c in enumerate(columns)) + " |")
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


#: The width of a table written to a file, or into a pipe.
FILE_WIDTH = 200


def render_text(renderable) -> str:
    """Plain text of a rich renderable (for output files)."""
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=FILE_WIDTH, no_color=True, force_terminal=False).print(renderable)
    return buf.getvalue()


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
