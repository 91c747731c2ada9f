"""How a table for people is laid out before it is drawn: which columns, their headers and cells, their widths.

One layout for the terminal's rich tables (:mod:`effkit.report.tables`) and the aligned text written into a
pipe or a file (:mod:`effkit.report.plain`), so both show the same columns with the same words.
"""

from __future__ import annotations

import math
from typing import Sequence

from effkit.report.columns import column, format_column, is_numeric, says_nothing

#: The width of a table written to a file, or into a pipe.
FILE_WIDTH = 200


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
