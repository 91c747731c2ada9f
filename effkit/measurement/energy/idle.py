"""Idle power: measured once per device per run, after a rest, and reused for every row of that run.

Why not per configuration: NVML's energy counter steps every 100 ms (a 1 s window is +-10 %), and a board
that just ran at 500 W idles higher for seconds, so a short idle window right after the previous load
makes net figures depend on run order. The baseline is taken after :data:`REST_S` seconds with no load
over a window of at least :data:`MIN_WINDOW_S` seconds, and carries when and how it was measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Optional

from effkit.measurement.energy.base import EnergyMeter

#: Seconds with no load before the idle window opens (the board settles from the previous load).
REST_S = 5.0
#: Shortest idle window: 30 steps of a 100 ms counter, so the step error stays near 3 %.
MIN_WINDOW_S = 3.0


@dataclass(frozen=True)
class IdleBaseline:
    """Mean idle power of one device and how it was measured.

    Attributes:
        power_w: mean power of the window (W).
        measured_at: ISO 8601 UTC time the window closed.
        method: meter method, rest and window, in words (stored as ``idle_method``).
        window_s: the window as measured (s).
    """

    power_w: float
    measured_at: str
    method: str
    window_s: float

    def columns(self) -> dict:
        """The row columns of this baseline."""
        return {"idle_power_w": self.power_w, "idle_measured_at": self.measured_at, "idle_method": self.method}


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def measure_idle(meter: EnergyMeter, *, window_s: float = MIN_WINDOW_S, rest_s: float = REST_S,
                 sync: Callable[[], None] = lambda: None, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], str] = _utc_now) -> IdleBaseline:
    """Wait for queued work, rest ``rest_s`` seconds, then measure mean power over ``window_s`` seconds.

    Raises:
        BackendUnavailableError: the meter cannot measure.
    """
    sync()
    sleep(rest_s)
    meter.start()
    sleep(window_s)
    r = meter.stop()
    power = r.joules / r.seconds if r.seconds > 0 else 0.0
    method = f"{r.method}: {r.seconds:.1f} s window after {rest_s:g} s rest, once per device per run"
    return IdleBaseline(power, now(), method, r.seconds)


class IdleBaselines:
    """The run's idle baselines, one per device, measured the first time a device asks.

    Args:
        window_s / rest_s: as :func:`measure_idle` (``window_s`` is raised to :data:`MIN_WINDOW_S`;
            module defaults are read when the object is made).
        sleep / now: injected for tests.
    """

    def __init__(self, window_s: Optional[float] = None, rest_s: Optional[float] = None, *,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], str] = _utc_now):
        self.window_s = max(MIN_WINDOW_S, window_s or 0.0)
        self.rest_s = REST_S if rest_s is None else rest_s
        self.sleep = sleep
        self.now = now
        self._by_device: dict[str, IdleBaseline] = {}

    def get(self, device, meter: EnergyMeter, *, sync: Callable[[], None] = lambda: None) -> IdleBaseline:
        """The baseline of ``device`` (measured now with ``meter`` if this run has none yet)."""
        key = str(device)
        if key not in self._by_device:
            from effkit.measurement.phases import report

            report("idle baseline", f"{self.rest_s:g} s rest, {self.window_s:g} s window")
            self._by_device[key] = measure_idle(meter, window_s=self.window_s, rest_s=self.rest_s, sync=sync,
                                                sleep=self.sleep, now=self.now)
        return self._by_device[key]
