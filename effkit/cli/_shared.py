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


def emit(df, *, fmt: str, title: str, columns=None, notes: Sequence[str] = (), extra=(), shown=None,
         output: Optional[Path] = None, keep=(), export_all: bool = False, markdown_title: bool = True,
         importance=None, whole=()) -> None:
    """Print (or write to ``output``) a table in one of the formats: table, csv, json or markdown.

    ``extra`` holds (title, frame, columns) tables after the main one; ``shown`` is the frame the rich
    table draws when it differs from the data (shortened names); ``export_all`` puts every column in
    csv/json rather than ``columns`` only; ``keep`` are files ``output`` must never replace. The table
    fits the terminal's width (200 characters in a file or a pipe), leaving out the columns last in
    ``importance`` (default: ``columns``' order) first; the names in ``whole`` columns are never cut.
    """
    import effkit.files as files
    from effkit.report import tables

    exported = None if export_all else columns
    if fmt == "csv":
        text = tables.csv_text(df, exported)
    elif fmt == "json":
        text = tables.json_text(df, exported)
    elif fmt == "markdown":
        text = (f"**{title}**\n\n" if markdown_title else "") + tables.markdown_table(df, columns=columns) + "".join(
            ["\n"] * bool(notes) + [f"- {n}\n" for n in notes])
        for sub_title, sub, sub_columns in extra:
            text += f"\n**{sub_title}**\n\n" + tables.markdown_table(sub, columns=sub_columns)
    elif output is None and tables.is_terminal():
        console = tables.console()
        console.print(tables.rich_table(df if shown is None else shown, title=title, columns=columns,
                                        caption="\n".join(notes) or None, width=console.width, importance=importance,
                                        whole=whole))
        for sub_title, sub, sub_columns in extra:
            console.print(tables.rich_table(sub, title=sub_title, columns=sub_columns, width=console.width))
        return
    else:  # a pipe or a file: the same table as aligned text
        text = tables.text_table(df if shown is None else shown, title=title, columns=columns,
                                 caption="\n".join(notes) or None, importance=importance, whole=whole)
        text += "".join("\n" + tables.text_table(sub, title=sub_title, columns=sub_columns)
                        for sub_title, sub, sub_columns in extra)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        files.write_text(output, text, keep=keep)
        typer.echo(f"wrote {output}", err=True)


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
