"""The steps of one measurement, reported as each begins, so that long runs can say what they are doing.

:func:`effkit.measurement.row.measure_row` (and the idle baseline and the energy windows below it) call
:func:`report` at the start of every step; nothing is reported inside a timed loop or an energy window, so
reporting changes no number. Whoever runs the measurement decides where the reports go with
:func:`reporting` (the runner turns them into ``SweepEvent(kind="phase")``); with no reporter they cost a
lookup and go nowhere (on a Ray node, say).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, Optional

#: The phases of one configuration, in the order they run (``idle baseline``: once per device per run, with
#: energy on and a working meter; ``graph capture``: with ``cuda_graph``; ``energy``: one report per window,
#: its detail ``"window i of n"``; ``per-layer``: with ``per_layer``).
PHASES = ("analysis", "set-up", "idle baseline", "warm-up", "graph capture", "timing", "memory", "energy",
          "per-layer")

#: ``callback(phase, detail)``.
PhaseCallback = Callable[[str, Optional[str]], None]

_reporter: ContextVar[Optional[PhaseCallback]] = ContextVar("effkit_phase_reporter", default=None)


def report(phase: str, detail: Optional[str] = None) -> None:
    """Say that ``phase`` (one of :data:`PHASES`) begins, to the reporter of this context, if any."""
    callback = _reporter.get()
    if callback is not None:
        callback(phase, detail)


@contextmanager
def reporting(callback: Optional[PhaseCallback]) -> Iterator[None]:
    """Send the :func:`report` calls made inside the block to ``callback(phase, detail)`` (``None``: nowhere)."""
    token = _reporter.set(callback)
    try:
        yield
    finally:
        _reporter.reset(token)


__all__ = ["PHASES", "PhaseCallback", "report", "reporting"]
