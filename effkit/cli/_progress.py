"""Progress of ``measure``, ``compare`` and ``sweep`` on stderr, fed the run's ``SweepEvent`` objects.

On a terminal: one transient bar with the configuration, its phase and the seconds spent in it, done/total,
the time elapsed and the estimated time left. Anywhere else (a CI log, a pipe): one plain line per finished
configuration, and a heartbeat line every 30 s while a configuration runs, so a log is never silent for long.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional, TextIO

#: Seconds between heartbeat lines in a log.
HEARTBEAT_S = 30.0


def short_model(model: str) -> str:
    """``/long/path/to/file.py:build`` -> ``file.py:build``."""
    target, sep, factory = model.rpartition(":")
    return f"{Path(target).name}:{factory}" if sep and target.endswith(".py") else model


def duration(seconds: Optional[float]) -> str:
    """``4.2 s``, ``3 min 05 s``, ``1 h 02 min``; ``?`` for unknown."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def config_label(config) -> str:
    """``model bs=N`` with the input shape, dtype and memory format."""
    try:
        shape = "x".join(map(str, config.shape()))
    except Exception:  # a malformed shape is the configuration's failure, reported with its row
        shape = "?"
    cl = " channels_last" if config.channels_last else ""
    return f"{short_model(config.model)} bs={config.batch_size} ({shape} {config.dtype}{cl})"


def _numbers(row: dict) -> str:
    from effkit.units import human

    def have(k):
        v = row.get(k)
        return v is not None and v == v

    parts = []
    if have("latency_ms"):
        ms = row["latency_ms"]
        parts.append(f"latency {ms:.3g} ms" if ms < 1000 else f"latency {ms / 1000:.3g} s")
    if have("fps"):
        parts.append(f"{human(row['fps'])} img/s")
    if have("energy_j_per_img"):
        parts.append(f"{row['energy_j_per_img']:.3g} J/img")
    return ", ".join(parts)


class RunProgress:
    """A ``SweepEvent`` callback that shows a run's progress on ``stream`` (default: stderr).

    Nothing is drawn before the run's first event, so an error found while checking the input stays one
    clean line. Use it as a context manager around the run: leaving it stops the bar and the heartbeat.

    Args:
        title: what the run does (``measuring resnet18``, ``sweep``).
        terminal: draw the bar (default: whether ``stream`` is a terminal); otherwise plain lines.
        heartbeat_s / clock: the heartbeat interval and the clock (injected for tests).
    """

    def __init__(self, title: str, *, stream: Optional[TextIO] = None, terminal: Optional[bool] = None,
                 heartbeat_s: float = HEARTBEAT_S, clock: Callable[[], float] = time.monotonic):
        from effkit.measurement.progress import Heartbeat, RunTracker

        self.title = title
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = terminal if terminal is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.tracker = RunTracker(clock)
        self.heartbeat = Heartbeat(self._beat, heartbeat_s)
        self._lock = threading.Lock()
        self._bar = None
        self._task = None

    def __enter__(self) -> "RunProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.heartbeat.stop()
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def __call__(self, event) -> None:
        self.tracker(event)
        if self.terminal:
            self._draw(event)
        elif event.kind == "start":
            self.heartbeat.start()
        elif event.kind == "done":
            self._line(self.done_line())

    # -- plain lines -------------------------------------------------------------------------------

    def _where(self) -> str:
        t = self.tracker
        left = t.remaining_s()
        if left == 0:  # done, or the last configuration has outrun its estimate
            return f"elapsed {duration(t.elapsed_s())}" + (", past the estimate" if t.running else "")
        return f"elapsed {duration(t.elapsed_s())}, ~{duration(left)} left"

    def done_line(self) -> str:
        """``effkit: [2/6] model bs=N (shape dtype): ok in 3.1 s: latency ..., ... img/s; elapsed ..., ~... left``."""
        t = self.tracker
        row = t.last_row or {}
        config = config_label(t.last_config) if t.last_config is not None else _row_label(row)
        took = f" in {duration(t.last_seconds)}" if t.last_seconds is not None else ""
        if row.get("status") == "ok":
            numbers = _numbers(row)
            what = f"ok{took}" + (f": {numbers}" if numbers else "")
        else:
            error = " ".join(str(row.get("error") or "").split())
            what = f"{row.get('status', '?')}{took}: {error[:160] + '...' if len(error) > 160 else error}"
        return f"effkit: [{t.done}/{t.total}] {config}: {what}; {self._where()}"

    def heartbeat_line(self) -> str:
        """``effkit: ... [3/6] model bs=N (...): timing, 30.0 s in this configuration; elapsed ..., ~... left``."""
        t = self.tracker
        phase = " ".join(p for p in (t.phase or "starting", t.detail) if p)
        return (f"effkit: ... [{t.done + 1}/{t.total}] {config_label(t.config)}: {phase}, "
                f"{duration(t.in_config_s())} in this configuration; {self._where()}")

    def _beat(self) -> None:
        if self.tracker.running:
            self._line(self.heartbeat_line())

    def _line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    # -- the terminal bar --------------------------------------------------------------------------

    def _draw(self, event) -> None:
        if self._bar is None:
            from rich.console import Console

            from effkit.cli._shared import progress

            console = Console(file=self.stream) if self.stream is not sys.stderr else Console(stderr=True)
            self._bar = progress("[bold]{task.description}", _live(self._now_text), _live(self._left_text),
                                 console=console)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.title, total=self.tracker.total or None)
        t = self.tracker
        failed = f" ({t.failed} failed)" if t.failed else ""
        label = config_label(t.config) if t.config is not None else ("done" if t.done == t.total else "")
        self._bar.update(self._task, total=t.total or None, completed=t.done,
                         description=f"{self.title}{failed}: {label}" if label else self.title + failed)

    def _now_text(self) -> str:
        t = self.tracker
        if not t.running:
            return ""
        phase = " ".join(p for p in (t.phase or "starting", t.detail) if p)
        return f"{phase} {duration(t.in_phase_s())}"

    def _left_text(self) -> str:
        left = self.tracker.remaining_s()
        return f"~{duration(left)} left" if left else ""


def _row_label(row: dict) -> str:
    model = short_model(str(row.get("model", "?")))
    return f"{model} bs={row.get('batch_size', '?')} ({row.get('input_shape') or '?'} {row.get('dtype', '?')})"


def _live(text: Callable[[], str]):
    """A rich column whose text is computed at every refresh (the phase's seconds tick, the estimate counts down)."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Live(ProgressColumn):
        def render(self, task) -> Text:
            return Text(text(), style="progress.remaining")

    return Live()


def estimate_note(estimate) -> str:
    """The run-time estimate of a dry run in words: the total, what one configuration and each idle baseline add."""
    parts = {(e.warmup_s, e.timing_s, e.energy_trials, e.energy_window_s) for e in estimate.configs}
    n = len(estimate.configs)
    text = f"estimated run time: at least {duration(estimate.total_s)} for {n} configuration{'s' * (n != 1)}"
    if len(parts) == 1:
        e = estimate.configs[0]
        energy = f" + energy {e.energy_trials} x {e.energy_window_s:g} s" if e.energy_trials else ""
        text += (f" of {duration(e.total_s)}{' each' * (n != 1)} "
                 f"(warm-up {e.warmup_s:g} s + timing {e.timing_s:g} s{energy})")
    for device, idle in estimate.idle.items():
        text += (f" + the idle baseline of device {device}, once: {duration(idle.total_s)} ({idle.rest_s:g} s rest + "
                 f"{idle.window_s:g} s window)")
    return (text + ". From the timing settings: analysis, loading models and iterations slower than the minimums "
            "add to it; without an energy meter the energy windows are skipped.")
