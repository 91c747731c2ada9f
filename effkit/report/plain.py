"""Tables from plain rows (tuples), for output that goes to a pipe or a file: no rich, no pandas.

rich's layout engine is built for a terminal (wrapping, colour, widths measured per cell); off a
terminal a table is read by people in a log or by ``grep``, and aligned text does that at a small
part of the cost. The cells are formatted as in :mod:`effkit.report.tables` (``format_cell``).
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Iterable, Mapping, Sequence

from effkit.report.tables import format_cell


def _numeric(values: Iterable[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def text_table(rows: Sequence[tuple], columns: Sequence[str], *, title: str | None = None,
               totals: Mapping[str, Any] | None = None, caption: str | None = None,
               footers: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> str:
    """An aligned text table: numbers right-aligned, text left-aligned, the footer rows under a rule.

    ``footers`` are (label, values) rows, the label in the first column; ``totals`` is one labelled ``total``.
    """
    cells = [[format_cell(c, v) for c, v in zip(columns, row)] for row in rows]
    if totals:
        footers = [*footers, ("total", totals)]
    foot = [[format_cell(c, values[c]) if c in values else (label if i == 0 else "")
             for i, c in enumerate(columns)] for label, values in footers]
    widths = [max([len(c), *(len(r[i]) for r in cells + foot)]) for i, c in enumerate(columns)]
    right = [bool(rows) and _numeric(row[i] for row in rows) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [title] if title else []
    out += [line(columns), rule, *(line(r) for r in cells)]
    if foot:
        out += [rule, *(line(r) for r in foot)]
    if caption:
        out.append(caption)
    return "\n".join(out) + "\n"


def csv_table(rows: Iterable[tuple], columns: Sequence[str]) -> str:
    """CSV as ``DataFrame.to_csv(index=False)`` writes it (NaN and None as empty cells)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row])
    return buf.getvalue()
