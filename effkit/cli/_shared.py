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


def note(message: str) -> None:
    typer.echo(f"effkit: note: {message}", err=True)


class FrameTable:
    """A DataFrame as :func:`emit` prints it: title, columns, notes and extra tables under it.

    ``extra`` holds (title, frame, columns) tables after the main one; ``shown`` is the frame the tables
    draw when it differs from the data (shortened names); ``export_all`` puts every column in csv/json
    rather than ``columns`` only. The table fits the width given (200 characters in a file or a pipe),
    leaving out the columns last in ``importance`` (default: ``columns``' order) first; the names in
    ``whole`` columns are never cut.
    """

    def __init__(self, df, *, title: str = "", columns=None, notes: Sequence[str] = (), extra=(), shown=None,
                 export_all: bool = False, markdown_title: bool = True, importance=None, whole=()) -> None:
        self.df, self.title, self.columns, self.notes, self.extra = df, title, columns, list(notes), list(extra)
        self.shown = df if shown is None else shown
        self.exported = None if export_all else columns
        self.markdown_title, self.importance, self.whole = markdown_title, importance, whole

    def csv(self) -> str:
        from effkit.report import tables

        return tables.csv_text(self.df, self.exported)

    def json(self) -> str:
        from effkit.report import tables

        return tables.json_text(self.df, self.exported)

    def markdown(self) -> str:
        from effkit.report import tables

        text = (f"**{self.title}**\n\n" if self.markdown_title else "") + tables.markdown_table(
            self.df, columns=self.columns) + "".join(["\n"] * bool(self.notes) + [f"- {n}\n" for n in self.notes])
        for sub_title, sub, sub_columns in self.extra:
            text += f"\n**{sub_title}**\n\n" + tables.markdown_table(sub, columns=sub_columns)
        return text

    def text(self) -> str:
        """Aligned text: what a pipe or a file gets for the table format."""
        from effkit.report import tables

        text = tables.text_table(self.shown, title=self.title, columns=self.columns,
                                 caption="\n".join(self.notes) or None, importance=self.importance, whole=self.whole)
        return text + "".join("\n" + tables.text_table(sub, title=sub_title, columns=sub_columns)
                              for sub_title, sub, sub_columns in self.extra)

    def rich(self, width: Optional[int] = None) -> list:
        from effkit.report import tables

        return [tables.rich_table(self.shown, title=self.title, columns=self.columns,
                                  caption="\n".join(self.notes) or None, width=width, importance=self.importance,
                                  whole=self.whole),
                *(tables.rich_table(sub, title=sub_title, columns=sub_columns, width=width)
                  for sub_title, sub, sub_columns in self.extra)]


def emit(table, *, fmt: str, output: Optional[Path] = None, keep=(), wrote: Optional[str] = None,
         **frame) -> None:
    """Print (or write to ``output``) ``table`` in one of the formats: table, csv, json or markdown.

    The one place a command's output format is dispatched. ``table`` renders itself: it has ``rich(width)``
    (a renderable or a list of them, for a terminal), ``text()`` (the table format into a pipe or a file),
    ``csv()``, ``json()`` and ``markdown()`` (those of the formats its command accepts), as :class:`FrameTable`
    and the library's :class:`~effkit.analysis.table.LayerTable` do. A DataFrame is taken as ``FrameTable(table, **frame)``.
    ``keep`` are files ``output`` must never replace; ``wrote`` replaces the ``wrote FILE`` note on stderr.
    """
    from effkit.report import tables

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
