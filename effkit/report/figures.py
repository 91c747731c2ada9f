"""Making and saving figures: a new figure, the notes it carries, the file format from the suffix, byte-stable
SVG/PDF, PNG bytes for HTML reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

from effkit.errors import BadInputError

FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def new_figure(nrows: int, ncols: int, figsize, **kw):
    """A figure (object-oriented API, constrained layout) and its ``nrows`` x ``ncols`` axes, always 2-D."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def attach_notes(fig, notes: list[str], provenance: str | None = None) -> None:
    """Keep ``notes`` in ``fig.effkit_notes`` and write ``provenance`` (which data the figure shows: see
    :func:`effkit.report.chart_marks.provenance_line`) and the notes under the figure; then place the point
    labels queued with :func:`effkit.report.chart_marks.add_label`."""
    from effkit.report.chart_marks import place_labels

    fig.effkit_notes = list(notes)
    fig.effkit_provenance = provenance
    lines_in = ([provenance] if provenance else []) + list(notes)
    if lines_in:
        # Notes go in the figure itself, so a saved PNG still says what it shows and what it left out; as the
        # figure's x super-label they get their own space from the constrained layout.
        width = max(60, int(fig.get_figwidth() * 15))
        lines = [textwrap.fill(n, width, subsequent_indent="    ") for n in lines_in]
        fig.supxlabel("\n".join(lines), fontsize=7, color="#444444", x=0.005, ha="left",
                      multialignment="left")
    place_labels(fig)


def check_figure_path(path: str | Path) -> str:
    """The format (``png``/``svg``/``pdf``) a figure path asks for.

    Lets a caller refuse a bad output path before doing the work.

    Raises:
        BadInputError: an unknown suffix, or a path that cannot be written (see
            :func:`effkit.files.check_output`).
    """
    from effkit.files import check_output

    p = Path(path)
    fmt = FIGURE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise BadInputError(f"cannot tell the figure format of {p}: use a .png, .svg or .pdf file name")
    check_output(p)
    return fmt


def save_figure(fig, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG, SVG or PDF, chosen by the file suffix.

    Written through :func:`effkit.files.write_bytes`: atomically, through symbolic links, never over an
    SQLite file.

    Raises:
        BadInputError: an unknown suffix, a missing folder or a path that cannot be written.
    """
    import io

    from effkit.files import write_bytes

    p = Path(path)
    fmt = check_figure_path(p)
    # Rendered in memory, then written like every other output: atomically, through links, never over a
    # database, so a crash mid-write leaves the old figure and not half a new one.
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    write_bytes(p, buf.getvalue())
    return p


def _metadata(fmt: str) -> dict | None:
    # Fixed metadata keeps SVG/PDF output byte-stable between runs (no creation dates in committed figures).
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None


def figure_png_bytes(fig, *, dpi: int = 120) -> bytes:
    """PNG bytes of ``fig`` (for embedding in HTML reports)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


__all__ = ["FIGURE_FORMATS", "check_figure_path", "figure_png_bytes", "save_figure"]
