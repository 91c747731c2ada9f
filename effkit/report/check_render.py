"""Rendering of regression-check results (:class:`effkit.gate.CheckResult`): tables, markdown, JSON.

Tables for people show signed deltas in human units; JSON carries the raw numbers
(:meth:`CheckResult.to_dict`). The gate imports this module (``CheckResult.format``, the lines of a
regression), never the other way round: a result is read here only through its attributes.
"""

from __future__ import annotations

import json
import math
from typing import Sequence

from effkit.errors import BadInputError
from effkit.report.tables import human, markdown_table, rich_table

CHECK_FORMATS = ("table", "json", "markdown")


def pair_text(base, cur) -> tuple[str, str]:
    """Human units for both, unless that would print two different numbers the same (76M -> 76M)."""

    def exact(v):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(v):,}"

    hb, hc = human(base), human(cur)
    if hb == hc and exact(base) != exact(cur):
        return exact(base), exact(cur)
    return hb, hc


def check_text(result, fmt: str = "table") -> str:
    """One :class:`~effkit.gate.CheckResult` as text: ``"table"`` (plain-text tables), ``"json"`` or ``"markdown"``."""
    if fmt not in CHECK_FORMATS:
        raise BadInputError(f"unknown format {fmt!r}; use one of {', '.join(CHECK_FORMATS)}")
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2)
    if fmt == "markdown":
        return _markdown(result)
    return _plain(result)


def _plain(result) -> str:
    """The table format as aligned text (a pipe, a file): the same parts as :func:`check_renderables`."""
    from effkit.report.tables import text_table

    lines = [result.title, *(f"  {line}" for line in (*result.regressions, *result.improvements))]
    parts = ["\n".join(lines) + "\n", text_table(_display(result.totals), title=f"{result.model}: totals",
                                                  fold=False)]
    if len(result.layers):
        parts.append(text_table(_display(result.layers), fold=False,
                                title=f"{result.model}: layers that changed, were added or were removed"))
    elif result.per_layer:
        parts.append("no layer changed\n")
    parts += [f"note: {n}\n" for n in result.notes]
    return "".join(parts)


def check_renderables(result) -> list:
    """Rich renderables (title, totals table, per-layer table, notes) for a terminal."""
    from rich.text import Text

    out: list = [Text(result.title, style="bold green" if result.passed else "bold red")]
    for line in (*result.regressions, *result.improvements):
        out.append(Text(f"  {line}"))
    out.append(rich_table(_display(result.totals), title=f"{result.model}: totals"))
    if len(result.layers):
        out.append(rich_table(_display(result.layers),
                              title=f"{result.model}: layers that changed, were added or were removed"))
    elif result.per_layer:
        out.append(Text("no layer changed"))
    for n in result.notes:
        out.append(Text(f"note: {n}"))
    return out


def check_summary(results: Sequence) -> str:
    """One line: how many models passed, and which failed."""
    failed = [r.model for r in results if not r.passed]
    return (f"{len(results) - len(failed)} of {len(results)} model{'s' if len(results) != 1 else ''} passed"
            + (f"; FAILED: {', '.join(failed)}" if failed else ""))


def checks_text(results: Sequence, fmt: str, baseline: str) -> str:
    """Several results as one document: every result, then the summary (JSON: one object)."""
    if fmt == "json":
        return json.dumps({"passed": all(r.passed for r in results), "baseline": baseline,
                           "models": [r.to_dict() for r in results]}, indent=2) + "\n"
    summary = check_summary(results)
    return "\n".join(check_text(r, fmt) for r in results) + "\n" + (
        f"**{summary}**\n" if fmt == "markdown" else f"{summary}\n")


def _markdown(result) -> str:
    parts = [f"**{result.title}**\n"]
    parts += [f"- {line}" for line in (*result.regressions, *result.improvements)]
    if result.regressions or result.improvements:
        parts.append("")
    parts.append(markdown_table(_display(result.totals)))
    if len(result.layers):
        parts.append(markdown_table(_display(result.layers)))
    elif result.per_layer:
        parts.append("No layer changed.\n")
    parts += [f"- note: {n}" for n in result.notes]
    return "\n".join(parts).rstrip("\n") + "\n"


def _display(df):
    """A copy for people: signed deltas with human units, percentages with a sign."""
    out = df.copy()

    def signed(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return ("+" if v > 0 else "") + human(v)

    def pct(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if math.isinf(v):
            return "new"
        return f"{v:+.3g}%"

    if len(out):
        pairs = [pair_text(b, c) for b, c in zip(df["baseline"], df["current"])]
        out["baseline"] = [p[0] for p in pairs]
        out["current"] = [p[1] for p in pairs]
        out["delta"] = out["delta"].map(signed)
        out["delta_pct"] = out["delta_pct"].map(pct)
    return out
