"""Tables from plain rows (tuples), for output that goes to a pipe or a file: no rich layout, no pandas.

rich's layout engine is built for a terminal (wrapping, colour, widths measured per cell); off a
terminal a table is read by people in a log or by ``grep``, and aligned text does that at a small
part of the cost. Every command writes its tables into a pipe or a file this one way: the headers, cells,
column choice and title of the terminal's table (:class:`effkit.report.layout.Laid`), fitted to
:data:`effkit.report.layout.FILE_WIDTH` characters, a rule under the header and above the footers, the
caption wrapped at that width.
"""

from __future__ import annotations

import csv
import io
import math
import textwrap
from typing import Any, Iterable, Mapping, Sequence


def text_table(rows: Sequence[tuple], columns: Sequence[str], *, title: str | None = None,
               totals: Mapping[str, Any] | None = None, caption: str | None = None,
               footers: Sequence[tuple[str, Mapping[str, Any]]] = (), width: int | None = None,
               importance: Sequence[str] | None = None, always: Iterable[str] = (), fold: bool = True,
               whole: Iterable[str] = ()) -> str:
    """An aligned text table no wider than ``width`` (default :data:`~effkit.report.layout.FILE_WIDTH`).

    ``footers`` are (label, values) rows, the label in the first column; ``totals`` is one labelled ``total``.
    The other arguments are :func:`effkit.report.tables.layout_table`'s.
    """
    from effkit.report.layout import FILE_WIDTH, Laid, wrap_title

    width = FILE_WIDTH if width is None else width
    if totals:
        footers = [*footers, ("total", totals)]
    laid = Laid(columns, rows, title=title, width=width, importance=importance, footers=footers, always=always,
                fold=fold, measure=len, whole=tuple(whole))
    widths = [laid.widths[c] for c in laid.columns]
    right = [c in laid.numeric for c in laid.columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [wrap_title(laid.title, width)] if laid.title else []
    out += [line([laid.headers[c] for c in laid.columns]), rule]
    out += [line(laid.row(k)) for k in range(laid.n_body)]
    if footers:
        out += [rule, *(line(laid.row(k)) for k in range(laid.n_body, laid.n_body + len(footers)))]
    for para in (laid.caption(caption) or "").splitlines():
        out += textwrap.wrap(para, width, break_on_hyphens=False, break_long_words=False) or [""]
    return "\n".join(out) + "\n"


def csv_table(rows: Iterable[tuple], columns: Sequence[str]) -> str:
    """CSV as ``DataFrame.to_csv(index=False)`` writes it (NaN and None as empty cells)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row])
    return buf.getvalue()
