"""What every chart carries besides its points: where the data came from, which points effkit does not trust,
model labels that do not overprint each other, and axes in K/M/G.

A figure pasted into slides must stand on its own, so the machine, batch size, dtype, input size and the source
of the numbers are written in the figure (:func:`provenance_line`), and rows :mod:`effkit.trust` doubts are drawn
grey (:data:`UNTRUSTED_FACE`) and named in a note (:func:`untrusted_note`).
"""

from __future__ import annotations

from typing import Any, Iterable

#: Face colour of a point effkit does not trust (busy machine, noisy timing ...): grey, its family's colour kept
#: on the edge, so it is still found in the legend but does not read as a clean measurement.
UNTRUSTED_FACE = "#d0d0d0"
UNTRUSTED_LABEL = "grey: effkit does not trust the timing"


def data_source(results, source: str | None = None) -> str:
    """Where the rows came from, in words: ``source`` when given, else what the DataFrame's ``attrs`` say
    (``"shipped"``: a shipped file, ``"source"``: set by whoever read the rows), else ``"source not recorded"``."""
    if source:
        return str(source)
    attrs = getattr(results, "attrs", {}) or {}
    shipped = attrs.get("shipped")
    if shipped is not None:
        return f"shipped file {getattr(shipped, 'name', shipped)}"
    return str(attrs.get("source") or "source not recorded")


def _distinct(rows, column: str) -> list[str]:
    if rows is None or column not in getattr(rows, "columns", ()):
        return []
    out = []
    for v in rows[column].dropna():
        text = str(v).strip()
        if isinstance(v, float) and v == int(v):
            text = str(int(v))
        if text and text.lower() not in ("nan", "none") and text not in out:
            out.append(text)
    return out


def provenance_line(rows, source: str | None = None) -> str:
    """``"data: <machine>, <N> torch thread(s), batch <B>, <dtype>, input <CxHxW> — <source>"`` for the rows a
    chart draws; a part the rows do not record says so (``batch ?``)."""
    from effkit.report.select import setup_key

    recs = rows.to_dict(orient="records") if rows is not None and len(rows) else []
    keys = [setup_key(r) for r in recs] or [{"machine": "unknown machine", "batch_size": "?", "dtype": "?",
                                             "input_size": "?"}]

    def join(field: str) -> str:
        return " / ".join(dict.fromkeys(k[field] for k in keys))

    threads = _distinct(rows, "torch_threads")
    machine = join("machine") + (f", {' / '.join(threads)} torch thread{'s' if threads != ['1'] else ''}"
                                 if threads else "")
    return (f"data: {machine}, batch {join('batch_size')}, {join('dtype')}, input {join('input_size')}"
            f" — {data_source(rows, source)}")


def untrusted_note(models: Iterable[str], tags: Iterable[Iterable[str]]) -> list[str]:
    """The note naming the points drawn grey: ``[]`` when every point is trusted."""
    parts = [f"{m} ({', '.join(t)})" for m, t in zip(models, tags) if t]
    if not parts:
        return []
    return [f"{UNTRUSTED_LABEL} (busy machine, noisy timing ...; see the status column): " + ", ".join(parts)]


def untrusted_handle():
    """A legend entry for the grey points."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color="#444444", marker="o", linestyle="", markerfacecolor=UNTRUSTED_FACE,
                  markeredgewidth=1.0, label=UNTRUSTED_LABEL)


def eng_axes(ax, *, x: bool = True, y: bool = True) -> None:
    """Tick labels in K/M/G (1.5G, not 1.5 x 1e9) on linear axes."""
    from matplotlib.ticker import EngFormatter

    if x and ax.get_xscale() == "linear":
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    if y and ax.get_yscale() == "linear":
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))


# ---------------------------------------------------------------------------------------------------------------
# labels that do not overprint


#: Where a label may go relative to its point, in points: right, left, above, below, then farther out (drawn
#: with a thin leader line); (dx, dy, horizontal alignment, vertical alignment).
_NEAR = [(4, 2, "left", "bottom"), (4, -2, "left", "top"), (-4, 2, "right", "bottom"), (-4, -2, "right", "top"),
         (0, 6, "center", "bottom"), (0, -6, "center", "top")]
_FAR = [(dx * k, dy * k, ha, va) for k in (2.5, 4, 5.5) for dx, dy, ha, va in _NEAR]
_MARKER_PT = 4.0  # half the side of the box a marker keeps free


def add_label(ax, x: float, y: float, text: str, *, fontsize: float = 7) -> None:
    """Queue a label for point (x, y); :func:`place_labels` puts every queued label where it overlaps least."""
    if not hasattr(ax, "effkit_labels"):
        ax.effkit_labels = []
    ax.effkit_labels.append((float(x), float(y), str(text), float(fontsize)))


def _box(px: float, py: float, dx: float, dy: float, ha: str, va: str, w: float, h: float):
    x0 = px + dx - (w if ha == "right" else w / 2 if ha == "center" else 0)
    y0 = py + dy - (h if va == "top" else 0)
    return (x0, y0, x0 + w, y0 + h)


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(fig) -> None:
    """Place the labels queued with :func:`add_label` on every Axes of ``fig``: greedy, in the order queued, each
    where its box overlaps the labels already placed, the markers and the axes edge least (far positions get a
    leader line). Runs the layout first, so positions are those of the saved figure."""
    queued = [ax for ax in fig.axes if getattr(ax, "effkit_labels", None)]
    if not queued:
        return
    fig.draw_without_rendering()  # the constrained layout fixes each Axes' size before labels are measured
    for ax in queued:
        _place_on(ax, ax.effkit_labels, fig.dpi / 72.0)
        ax.effkit_labels = []


def _place_on(ax, labels: list[tuple[float, float, str, float]], px_per_pt: float) -> None:
    import numpy as np

    ax.set_autoscale_on(False)  # labels must not move the limits their positions were computed in
    pts = ax.transData.transform(np.array([(x, y) for x, y, _, _ in labels])) / px_per_pt  # in points
    bb = ax.get_window_extent()
    frame = (bb.x0 / px_per_pt, bb.y0 / px_per_pt, bb.x1 / px_per_pt, bb.y1 / px_per_pt)
    m = _MARKER_PT
    taken = [(px - m, py - m, px + m, py + m) for px, py in pts]
    for (x, y, text, size), (px, py) in zip(labels, pts):
        w, h = 0.6 * size * len(text), 1.15 * size  # a text box from its length: no renderer needed
        best, best_cost = None, None
        for i, (dx, dy, ha, va) in enumerate(_NEAR + _FAR):
            box = _box(px, py, dx, dy, ha, va, w, h)
            outside = w * h - _overlap(box, frame)
            cost = sum(_overlap(box, t) for t in taken) + 2 * outside + i * 0.01
            if best_cost is None or cost < best_cost:
                best, best_cost = (dx, dy, ha, va, box), cost
            if cost < 0.5:
                break
        dx, dy, ha, va, box = best
        far = abs(dx) > 6 or abs(dy) > 7
        ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=size, ha=ha, va=va,
                          arrowprops={"arrowstyle": "-", "color": "#888888", "lw": 0.5, "shrinkA": 0,
                                      "shrinkB": 3} if far else None)
        ann.set_in_layout(False)
        taken.append(box)


def labels_overlap(fig) -> list[tuple[str, str]]:
    """Pairs of model labels whose drawn boxes overlap (for tests and checks); renders the figure once."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig) if not isinstance(fig.canvas, FigureCanvasAgg) else fig.canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    out: list[tuple[str, str]] = []
    for ax in fig.axes:
        texts = [t for t in ax.texts if t.get_text() and hasattr(t, "xyann")]
        # the text's own box: an annotation's extent would include its leader line
        boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in texts]
        for i, (a, ba) in enumerate(boxes):
            for b, bb in boxes[i + 1:]:
                if ba.overlaps(bb):
                    out.append((a, b))
    return out


__all__: list[Any] = ["UNTRUSTED_FACE", "UNTRUSTED_LABEL", "add_label", "data_source", "eng_axes",
                      "labels_overlap", "place_labels", "provenance_line", "untrusted_handle", "untrusted_note"]
