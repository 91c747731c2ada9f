"""What a progress display needs from a run's :class:`~effkit.measurement.run.SweepEvent` stream: the configuration
and phase now running, elapsed time and an estimate of the time left (:class:`RunTracker`), and a
:class:`Heartbeat` thread for logs, which would otherwise be silent through a long configuration.

The estimate of the time left: each configuration's settings estimate (:mod:`effkit.measurement.estimate`),
scaled by how long the finished configurations took against their own estimates; before any has finished,
the settings estimate as it is. On the Ray engine (no ``begin`` events, many configurations at once) it is
the run's average time per finished configuration times those left.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from effkit.measurement.estimate import config_estimate, idle_estimate, meter_works


class RunTracker:
    """Follows one run's events; call it with each :class:`~effkit.measurement.run.SweepEvent`.

    Args:
        clock: seconds, monotonic (injected for tests).

    Attributes:
        total / done / skipped / failed: configurations to run, finished, skipped by resume, failed.
        config / phase / detail: the running configuration (``None`` between configurations) and its step.
        last_config / last_row / last_seconds: the latest finished configuration, its row and how long it took.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, metered: Optional[Callable[[str], bool]] = None):
        self.clock = clock
        #: Whether a meter reads a device setting: where none does, its energy windows are not waited for.
        self.metered = meter_works if metered is None else metered
        self.started: Optional[float] = None
        self.total = self.done = self.skipped = self.failed = 0
        self.config: Any = None
        self.phase: Optional[str] = None
        self.detail: Optional[str] = None
        self.last_config: Any = None
        self.last_row: Optional[dict] = None
        self.last_seconds: Optional[float] = None
        self._config_started: Optional[float] = None
        self._phase_started: Optional[float] = None
        self._expected: float = 0.0  # the settings estimate of the running configuration
        self._per_config: Optional[float] = None  # the latest configuration's own estimate (no idle)
        self._actual = self._estimated = 0.0  # over finished configurations that began here
        self._devices: set = set()

    def __call__(self, event) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        if event.kind == "start":
            self.total, self.skipped = event.total, event.skipped
        elif event.kind == "begin":
            self._begin(event.config, now)
        elif event.kind == "phase":
            self.phase, self.detail, self._phase_started = event.phase, event.detail, now
        elif event.kind == "done":
            self._finish(event, now)

    def _begin(self, config, now: float) -> None:
        self.config, self.phase, self.detail = config, None, None
        self._config_started = self._phase_started = now
        works = bool(config.energy) and self.metered(config.device)
        self._per_config = config_estimate(config, metered=works).total_s
        self._expected = self._per_config
        if works and config.idle_s > 0 and config.device not in self._devices:
            self._expected += idle_estimate(config.idle_s).total_s  # the device's first row measures it
        self._devices.add(config.device)

    def _finish(self, event, now: float) -> None:
        self.done = event.done
        self.last_config, self.last_row = event.config, event.row
        self.failed += (event.row or {}).get("status") != "ok"
        if self._config_started is not None:
            self.last_seconds = now - self._config_started
            self._actual += self.last_seconds
            self._estimated += self._expected
        else:
            self.last_seconds = None
        self.config, self.phase, self.detail, self._config_started, self._phase_started = (None,) * 5

    @property
    def running(self) -> bool:
        return self._config_started is not None

    def elapsed_s(self) -> float:
        """Seconds since the first event."""
        return 0.0 if self.started is None else self.clock() - self.started

    def in_config_s(self) -> float:
        """Seconds the running configuration has taken so far (0 between configurations)."""
        return 0.0 if self._config_started is None else self.clock() - self._config_started

    def in_phase_s(self) -> float:
        """Seconds the running phase has taken so far (0 between configurations)."""
        return 0.0 if self._phase_started is None else self.clock() - self._phase_started

    def remaining_s(self) -> Optional[float]:
        """Estimated seconds left; ``None`` when nothing is known to estimate from yet."""
        left = self.total - self.done
        if left <= 0:
            return 0.0
        if self._per_config is None:  # Ray: no begin events; the run's own pace
            return self.elapsed_s() / self.done * left if self.done else None
        if self._estimated > 0:
            scale = self._actual / self._estimated
            expected, per_config = self._expected * scale, self._per_config * scale
        elif self._actual > 0:  # settings of zero seconds: the finished configurations' mean
            expected = per_config = self._actual / self.done
        else:
            expected, per_config = self._expected, self._per_config
        if self.running:
            return max(0.0, expected - self.in_config_s()) + per_config * (left - 1)
        return per_config * left


class Heartbeat:
    """Calls ``beat()`` every ``interval_s`` seconds on a background thread, from :meth:`start` to :meth:`stop`.

    Use it as a context manager, or call :meth:`stop` in a ``finally``: the thread waits on an event, so
    stopping it is immediate.
    """

    def __init__(self, beat: Callable[[], None], interval_s: float = 30.0):
        self.beat = beat
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "Heartbeat":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="effkit-heartbeat", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["Heartbeat", "RunTracker"]
