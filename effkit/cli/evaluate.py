"""``effkit evaluate``: top-1 / top-5 accuracy with local weights on an ImageFolder-style directory."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from effkit.cli import app, fail
from effkit.cli._shared import MODEL_HELP, emit, note, progress


@app.command()
def evaluate(
    model: str = typer.Argument(..., help=MODEL_HELP),
    data: Path = typer.Option(..., "--data", help="ImageFolder-style directory: one sub-folder of images per class "
                              "(ImageNet val sorted into its 1000 wnid folders)."),
    weights: Path = typer.Option(..., "--weights", help="Local state_dict file (loaded with weights_only=True)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Images per forward pass."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate at most N images, spread evenly over the classes."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (default auto: cuda when "
                                         "available, else cpu)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Threads decoding images (default: up to 4)."),
    save_accuracy: Optional[Path] = typer.Option(
        None, "--save-accuracy", help="Append the result to this accuracy CSV (usable as `plot figure3 --accuracy`)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Top-1 / top-5 accuracy of MODEL with local weights on an ImageFolder-style directory.

    Preprocessing as the VoVNet model card: resize the shorter side to 256 (bilinear), centre-crop 224,
    ImageNet mean/std. Class indices are the sorted sub-folder names (ImageFolder's convention).
    """
    from effkit.evaluate import evaluate as run_evaluate
    from effkit.devices import resolve_device
    from effkit.report.tables import check_format

    check_format(fmt, ("table", "json"))
    if workers is not None and workers <= 0:
        raise fail(f"--workers must be a positive integer, got {workers}")
    resolve_device("auto" if device is None else device)  # a bad --device fails before any work
    if save_accuracy is not None:
        from effkit.report.accuracy import check_appendable

        check_appendable(save_accuracy)  # refuse an unwritable file now, not after the whole evaluation
    with _progress_bar(f"evaluating {model}") as on_progress, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = run_evaluate(model, data, weights=weights, batch_size=batch_size, limit=limit,
                              device=device, workers=workers, progress=on_progress)
    for w in caught:
        note(str(w.message))
    emit(_Accuracy(result), fmt=fmt)
    if save_accuracy is not None:
        from effkit.report.accuracy import append_accuracy

        append_accuracy(save_accuracy, result.accuracy_row())
        typer.echo(f"appended {result.model} to {save_accuracy}", err=True)


class _Accuracy:
    """An evaluation's result in each format (see :func:`effkit.cli._shared.emit`): one line, or its JSON."""

    def __init__(self, result) -> None:
        self.result = result

    def text(self) -> str:
        r = self.result
        return (f"{r.model}: top-1 {r.top1:.2f} %  top-5 {r.top5:.2f} %  ({r.correct1}/{r.images} and "
                f"{r.correct5}/{r.images} images, {r.classes} classes)\n")

    def rich(self, width=None):
        from rich.text import Text

        return Text(self.text().rstrip("\n"), no_wrap=True, overflow="ignore")  # as typed: no highlighting

    def json(self) -> str:
        import json

        return json.dumps(self.result.as_dict(), indent=2) + "\n"


@contextmanager
def _progress_bar(what: str) -> Iterator:
    """A rich progress bar on stderr; yields the ``progress(done, total)`` callback."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with progress("{task.description}", remaining=True, console=console) as bar:
        task = bar.add_task(what, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
