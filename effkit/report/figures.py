"""Saving figures: the file format from the suffix, byte-stable SVG/PDF, PNG bytes for HTML reports."""

from __future__ import annotations

from pathlib import Path

from effkit.errors import BadInputError

FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


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
