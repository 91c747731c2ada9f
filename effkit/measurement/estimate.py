"""How long a run takes, from its timing settings alone: what a dry run of a sweep shows and what the progress
display counts down from before the first configuration has finished.

Per configuration: the warm-up (``warmup_s``), the timed iterations (``min_time_s``) and, with ``energy`` on,
``energy_trials`` windows of ``energy_window_s``. Once per device per run, with ``energy`` on and ``idle_s`` > 0:
the idle baseline, a :data:`~effkit.measurement.energy.idle.REST_S` rest and a window of ``idle_s`` raised to
:data:`~effkit.measurement.energy.idle.MIN_WINDOW_S`. These are the settings' minimums: analysis, loading the
model, iterations slower than ``min_time_s / min_iters``, the per-layer pass and the memory passes add to them.
A device no energy meter can read here skips the energy part (windows and idle baseline), and so does its
estimate (:func:`meter_works`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional, Sequence

from effkit.measurement.energy.idle import MIN_WINDOW_S, REST_S


@dataclass(frozen=True)
class ConfigEstimate:
    """The seconds one configuration's settings ask for.

    Attributes:
        warmup_s: warm-up.
        timing_s: timed iterations.
        energy_trials / energy_window_s: the energy windows (0 trials with ``energy`` off).
    """

    warmup_s: float
    timing_s: float
    energy_trials: int
    energy_window_s: float

    @property
    def energy_s(self) -> float:
        return self.energy_trials * self.energy_window_s

    @property
    def total_s(self) -> float:
        return self.warmup_s + self.timing_s + self.energy_s


@dataclass(frozen=True)
class IdleEstimate:
    """The idle baseline of one device: a rest, then a window (seconds)."""

    rest_s: float
    window_s: float

    @property
    def total_s(self) -> float:
        return self.rest_s + self.window_s


@dataclass(frozen=True)
class RunEstimate:
    """A run of configurations: each one's estimate, the idle baseline of each device, and their sum.

    Attributes:
        configs: one :class:`ConfigEstimate` per configuration, in order.
        idle: ``{device setting: IdleEstimate}`` for the devices that measure an idle baseline.
        seconds: per configuration, its own estimate plus, for the first configuration of a device, that
            device's idle baseline (where it is measured in a run).
    """

    configs: tuple[ConfigEstimate, ...]
    idle: dict
    seconds: tuple[float, ...]

    @property
    def total_s(self) -> float:
        return sum(self.seconds)


@lru_cache(maxsize=None)
def meter_works(device: str) -> bool:
    """Whether an energy meter reads ``device`` (a device setting: ``auto``, ``cpu``, ``cuda:N``) here, so that its
    energy windows will run; asked once per device and process."""
    from effkit.devices import resolve_device
    from effkit.measurement.energy.meter import open_meter

    try:
        meter = open_meter(resolve_device(device))
    except Exception:  # a device that cannot be opened measures no energy either; the run says why
        return False
    try:
        return bool(meter.probe().available)
    finally:
        meter.close()


def config_estimate(settings, *, metered: bool = True) -> ConfigEstimate:
    """The estimate of one configuration (a ``MeasureConfig`` or ``MeasureSettings``); ``metered=False``: no
    meter reads its device, so its energy windows will not run."""
    return ConfigEstimate(warmup_s=float(settings.warmup_s), timing_s=float(settings.min_time_s),
                          energy_trials=int(settings.energy_trials) if settings.energy and metered else 0,
                          energy_window_s=float(settings.energy_window_s))


def idle_estimate(idle_s: float) -> IdleEstimate:
    """One device's idle baseline for a run whose largest ``idle_s`` is this (the run measures one window)."""
    return IdleEstimate(rest_s=REST_S, window_s=max(MIN_WINDOW_S, float(idle_s)))


def run_estimate(configs: Sequence, *, metered: Optional[Callable[[str], bool]] = None) -> RunEstimate:
    """The estimate of measuring ``configs`` one after another in one run (see the module's description).

    ``metered(device)``: whether a meter reads that device setting (default :func:`meter_works`)."""
    metered = meter_works if metered is None else metered
    works = {c.device: metered(c.device) for c in configs if c.energy}
    estimates = tuple(config_estimate(c, metered=works.get(c.device, False)) for c in configs)
    idle_s = max((c.idle_s for c in configs), default=0.0)  # one baseline window per run, the largest asked for
    idle: dict = {}
    seconds = []
    for c, e in zip(configs, estimates):
        extra = 0.0
        if c.energy and works.get(c.device) and c.idle_s > 0 and c.device not in idle:
            idle[c.device] = idle_estimate(idle_s)
            extra = idle[c.device].total_s
        seconds.append(e.total_s + extra)
    return RunEstimate(configs=estimates, idle=idle, seconds=tuple(seconds))


__all__ = ["ConfigEstimate", "IdleEstimate", "RunEstimate", "config_estimate", "idle_estimate", "meter_works",
           "run_estimate"]
