"""What several commands share: the model help, the output options and their dispatch, progress on stderr (the
measuring options are in :mod:`effkit.cli._options`)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import typer

MODEL_HELP = (
    "Zoo name (see `effkit models`), 'pkg.module:factory', 'path/to/file.py:factory' "
    "(this EXECUTES that file), 'torchvision:NAME' or 'timm:NAME' (where those packages import)."
)

FORMAT_HELP = "table, csv, json or markdown."
FMT = typer.Option("table", "--format", "-f", help=FORMAT_HELP)
OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")
COLUMNS = typer.Option(None, "--columns", metavar="A,B,...|all",
                       help="Columns to show, by their result names (e.g. model,batch_size,latency_ms,fps), or all; "
                       "csv/json then hold just these. Default: a compact set fitted to the terminal.")


#: What :func:`chosen_columns` returns for ``--columns all``.
ALL_COLUMNS = "all"


def chosen_columns(text: Optional[str], known: Sequence[str]):
    """``--columns``: ``None`` (not given), :data:`ALL_COLUMNS`, or the names asked for, each one checked
    against ``known`` (before any work: a typo is one line, exit 2, listing the names)."""
    if text is None:
        return None
    if text.strip().lower() == ALL_COLUMNS:
        return ALL_COLUMNS
    names = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in names if c not in known]
    if bad or not names:
        from effkit.cli import fail

        raise fail(f"unknown column {(bad or [text])[0]!r} for --columns; choose from {', '.join(known)} (or all)")
    return list(dict.fromkeys(names))


def default_store_path() -> Path:
    """The default results database, its folder made if missing: the first command on a machine that stores
    something (a measurement, a sweep, a calibration) creates it."""
    from effkit.errors import StoreError
    from effkit.store import default_db_path

    path = default_db_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the results folder {path.parent}: {e.strerror or e}; pass --db") from e
    return path


def note(message: str) -> None:
    typer.echo(f"effkit: note: {message}", err=True)


def emit(table, *, fmt: str, output: Optional[Path] = None, keep=(), wrote: Optional[str] = None,
         **frame) -> None:
    """Print (or write to ``output``) ``table`` in one of the formats: table, csv, json or markdown.

    The one place a command's output format is dispatched. ``table`` renders itself: it has ``rich(width)``
    (a renderable or a list of them, for a terminal), ``text()`` (the table format into a pipe or a file),
    ``csv()``, ``json()`` and ``markdown()`` (those of the formats its command accepts), as :class:`FrameTable`
    and the library's :class:`~effkit.analysis.table.LayerTable` do. A DataFrame is taken as
    ``FrameTable(table, **frame)`` (:class:`effkit.report.tables.FrameTable`).
    ``keep`` are files ``output`` must never replace; ``wrote`` replaces the ``wrote FILE`` note on stderr.
    """
    from effkit.report import tables
    from effkit.report.tables import FrameTable

    if not callable(getattr(table, "rich", None)):
        table = FrameTable(table, **frame)
    if fmt == "table" and output is None and tables.is_terminal():
        console = tables.console()
        shown = table.rich(width=console.width)
        for renderable in shown if isinstance(shown, (list, tuple)) else [shown]:
            console.print(renderable)
        return
    text = getattr(table, fmt if fmt in ("csv", "json", "markdown") else "text")()
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        import effkit.files as files

        files.write_text(output, text, keep=keep)
        typer.echo(wrote or f"wrote {output}", err=True)


def progress(*columns, remaining: bool = False, console=None, disable: bool = False):
    """A transient rich progress bar on stderr: ``columns`` first, then bar, done/total and the time
    elapsed (or, with ``remaining``, the time left)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    first, *rest = [TextColumn(c) if isinstance(c, str) else c for c in columns]
    clock = TimeRemainingColumn() if remaining else TimeElapsedColumn()
    return Progress(first, BarColumn(), MofNCompleteColumn(), clock, *rest,
                    console=console or Console(stderr=True), transient=True, disable=disable)


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while slow work runs (only on a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield
