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


class Laid:
    """A table laid out for people, before it is drawn: what :func:`layout_table` (rich, on a terminal),
    :func:`effkit.report.plain.text_table` (a pipe or a file) and :func:`markdown_rows` share.

    ``columns``: those shown, in order; ``headers`` and ``cells`` (body rows, then footer rows) by column;
    ``numeric``: the right-aligned ones; ``widths``: each shown column's width; ``title``: with the columns
    that hold one value in every row appended (``batch 1``); ``left_out``: the headers not shown at this width.
    """

    def __init__(self, columns, rows, *, title=None, width=None, importance=None, footers=(), always=(),
                 fold=True, measure=None, whole=()):
        keep = set(always)
        cols = [c for i, c in enumerate(columns) if c in keep or not says_nothing([r[i] for r in rows])]
        index = {c: list(columns).index(c) for c in cols}
        body = [[r[index[c]] for c in cols] for r in rows]
        foot = [[label if i == 0 else values.get(c) for i, c in enumerate(cols)] for label, values in footers]
        formatted = [format_column(c, [r[j] for r in body + foot]) for j, c in enumerate(cols)]
        self.headers = {c: h for c, (h, _) in zip(cols, formatted)}
        self.cells = {c: cs for c, (_, cs) in zip(cols, formatted)}
        self.numeric = {c for c in cols if is_numeric(c, [r[index[c]] for r in rows])}
        self.n_body = len(body)
        folded = [c for j, c in enumerate(cols) if fold and _constant(c, j, body, foot, keep)]
        self.title = _with_constants(title, [(self.headers[c], self.cells[c][0]) for c in folded])
        cols = [c for c in cols if c not in folded]
        self.widths = _fit(cols, self.headers, self.cells, width, importance, [label for label, _ in footers],
                           measure=measure, whole=whole)
        self.left_out = [self.headers[c] for c in cols if c not in self.widths]
        self.columns = [c for c in cols if c in self.widths]
        #: The characters the table's lines take.
        self.width = sum(self.widths.values()) + _GAP * max(len(self.columns) - 1, 0)

    def caption(self, caption: str | None) -> str | None:
        """``caption`` with a last line naming the columns left out at this width."""
        if not self.left_out:
            return caption
        return "\n".join([*([caption] if caption else []), "not shown at this width: " + ", ".join(self.left_out)
                          + " (a wider terminal, csv or json output has them)"])

    def row(self, k: int) -> list[str]:
        """Row ``k`` (body rows first, then footers), each cell cut to its column's width."""
        return [_cut(c, self.cells[c][k], self.widths[c]) for c in self.columns]


def _constant(c: str, j: int, body, foot, keep) -> bool:
    """Column ``c`` (at ``j``) holds one value in two rows or more, and no footer needs it: it goes to the title."""
    if j == 0 or c in keep or len(body) < 2 or any(not _empty(r[j]) for r in foot):
        return False
    first = body[0][j]
    return not _empty(first) and all(_same(r[j], first) for r in body)


def _empty(v) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _with_constants(title: str | None, constants: Sequence[tuple[str, str]]) -> str | None:
    """``title`` and then ``label value unit`` of each constant column (``batch 1``, ``time share 100 %``)."""
    parts = []
    for head, cell in constants:
        label, _, unit = head.partition(" (")
        parts.append(f"{label} {cell}" + (f" {unit[:-1]}" if unit else ""))
    if not parts:
        return title
    return "  ".join([*([title] if title else []), *parts])


#: What separates the parts of a title (``model  batch 1  float32``): a title breaks only there.
TITLE_GAP = "  "


def wrap_title(title: str | None, width: int | None) -> str | None:
    """``title`` in lines of at most ``width`` characters, broken only between its parts (two spaces), so a
    label stays with its value; a part longer than the width is broken at its spaces."""
    import textwrap

    if not title or width is None or len(title) <= width:
        return title
    lines: list[str] = []
    for part in title.split(TITLE_GAP):
        part = part.strip()
        if not part:
            continue
        if lines and len(lines[-1]) + len(TITLE_GAP) + len(part) <= width:
            lines[-1] += TITLE_GAP + part
        elif len(part) <= width:
            lines.append(part)
        else:
            lines += textwrap.wrap(part, width, break_on_hyphens=False, break_long_words=False)
    return "\n".join(lines)


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


#: Characters between two columns (padding, collapsed) of :func:`layout_table`'s tables.
_GAP = 2


def _fit(cols, headers, cells, width, importance, labels, measure=None, whole=()) -> dict[str, int]:
    """The width of each column shown (those in ``whole`` never cut); the columns left out are not in the answer."""
    if measure is None:
        from rich.cells import cell_len as measure

    natural = {c: max([measure(headers[c]), *(measure(x) for x in cells[c])]) for c in cols}
    if width is None:
        return natural
    label_room = max([0, *(measure(x) for x in labels)])
    least = {}
    for i, c in enumerate(cols):
        floor = 0 if c in whole else column(c).shrink
        if i == 0:
            floor = max(floor, label_room)  # the footer labels are not cut
        least[c] = min(natural[c], max(floor, measure(headers[c]))) if floor else natural[c]
    order = [c for c in (importance or cols) if c in natural] + [c for c in cols if c not in (importance or ())]
    shown = list(cols)

    def room(shown_cols) -> int:
        return sum(least[c] for c in shown_cols) + _GAP * (len(shown_cols) - 1)

    for c in reversed(order):
        if room(shown) <= width or len(shown) <= 1:
            break
        if cols and c != cols[0] and c in shown:
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


#: The width of a table written to a file, or into a pipe.
FILE_WIDTH = 200


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
