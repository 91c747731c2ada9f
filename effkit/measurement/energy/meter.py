"""Opening the meter for a device, and the energy measurement method built on the meter protocol (:mod:`.base`).

Backends: :mod:`.nvml` (NVIDIA GPUs), :mod:`.rapl` (CPU packages via Linux powercap); :class:`NullMeter`
stands in when neither works and carries the reason.

:func:`measure_energy` is the method: an idle power handed in (or an idle window first), then
``trials`` windows of at least ``min_window_s`` seconds and ``min_window_iters`` iterations of a steady
load, each started after the caller's warm-up (power ramps up over the first fraction of a second),
giving J/img gross (the headline, as the paper's nvidia-smi power x time and NVML's counter report it)
and net of an idle baseline (:mod:`.idle`: measured once per device per run).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional

from effkit.measurement.energy.base import EnergyMeter, EnergyReading, MeterStatus, NullMeter
from effkit.measurement.phases import report


def open_meter(device, *, nvml=None, rapl_root: str = "/sys/class/powercap", poll_hz: float = 100.0,
               allow_mig: bool = False) -> EnergyMeter:
    """The meter for ``device``: NVML for ``cuda``, RAPL for ``cpu``, else a :class:`NullMeter`.

    A backend that probes as unavailable is replaced by a :class:`NullMeter` carrying its reason, so
    callers only ever check ``probe().available``; a GPU that NVML reports lost raises
    :class:`~effkit.measurement.device_lost.GpuLostError` instead (nothing measured on it can be trusted).

    Args:
        device: a ``torch.device`` or string (``"cuda:0"``, ``"cpu"``).
        nvml: a ``pynvml``-compatible module to use instead of importing ``pynvml`` (tests).
        rapl_root: the powercap sysfs folder (tests point it at a fake tree).
        poll_hz: sampling rate of NVML's power-sampling fallback.
        allow_mig: on a MIG instance, measure the whole board anyway (it includes other tenants).
    """
    import torch

    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        from effkit.measurement.energy.nvml import NvmlMeter

        meter: EnergyMeter = NvmlMeter(dev.index if dev.index is not None else 0, nvml=nvml, poll_hz=poll_hz,
                                       allow_mig=allow_mig)
    elif dev.type == "cpu":
        from effkit.measurement.energy.rapl import RaplMeter

        meter = RaplMeter(rapl_root)
    else:
        return NullMeter(f"no energy backend for device type {dev.type!r}")
    try:
        status = meter.probe()
    except BaseException:  # a lost GPU (GpuLostError) fails the measurement; NVML is shut down first
        meter.close()
        raise
    if not status.available:
        meter.close()
        return NullMeter(status.reason, verbatim=status.verbatim)
    return meter


@dataclass(frozen=True)
class EnergyResult:
    """Energy per image from several windows: gross (the headline) and net of idle power.

    Attributes:
        energy_j_per_img: gross: mean over trials of window joules / images (what the device drew).
        energy_j_per_img_net: mean over trials of (window joules - idle_power_w * window seconds) / images;
            ``None`` when no idle power was measured.
        energy_j_per_img_std: sample standard deviation of the gross figure over trials (``None`` for one trial).
        mean_power_w: mean power during the load windows.
        peak_power_w: highest power sample seen (``None`` for counter methods).
        idle_power_w: the idle power subtracted for the net figure; ``None`` when none was measured.
        trials: number of load windows.
        window_s: mean load window length.
        iterations_per_trial: mean iterations per load window.
        method: the meter's method.
        readings: the raw load readings.
    """

    energy_j_per_img: float
    energy_j_per_img_net: Optional[float]
    energy_j_per_img_std: Optional[float]
    mean_power_w: float
    peak_power_w: Optional[float]
    idle_power_w: Optional[float]
    trials: int
    window_s: float
    iterations_per_trial: float
    method: str
    readings: tuple[EnergyReading, ...] = ()


def measure_idle_power(meter: EnergyMeter, seconds: float = 1.0, *, sync: Callable[[], None] = lambda: None,
                       sleep: Callable[[float], None] = time.sleep) -> float:
    """Mean power (W) of the device doing nothing for ``seconds`` (queued work finished first)."""
    sync()
    meter.start()
    sleep(seconds)
    idle = meter.stop()
    return idle.joules / idle.seconds if idle.seconds > 0 else 0.0


def measure_energy(
    meter: EnergyMeter,
    step: Callable[[], None],
    images_per_step: int,
    *,
    sync: Callable[[], None] = lambda: None,
    trials: int = 3,
    min_window_s: float = 5.0,
    min_window_iters: int = 32,
    idle_s: float = 0.0,
    idle_power_w: Optional[float] = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> EnergyResult:
    """Energy per image of ``step`` (one batch), gross and net of idle power, over ``trials`` windows.

    The caller warms up first. Each window runs ``step`` until both ``min_window_s`` (raised to the
    meter's own ``min_window_s``) and ``min_window_iters`` are reached, with ``sync`` (e.g.
    ``torch.cuda.synchronize``) before the window opens and before it closes so the energy belongs to
    exactly the iterations counted. Idle power comes from ``idle_power_w`` when the caller measured it
    (:class:`~.idle.IdleBaselines`: once per device per run, after a rest), else from an ``idle_s`` window
    here; with neither there is no net figure.

    Raises:
        BackendUnavailableError: the meter cannot measure (a :class:`NullMeter`, an NVML error).
        ValueError: ``trials`` or ``images_per_step`` below 1.
    """
    if trials < 1:
        raise ValueError(f"energy trials must be >= 1, got {trials}")
    if images_per_step < 1:
        raise ValueError(f"images per step must be >= 1, got {images_per_step}")
    window_s = max(float(min_window_s), float(getattr(meter, "min_window_s", 0.0) or 0.0))

    idle_w = idle_power_w
    if idle_w is None and idle_s > 0:
        idle_w = measure_idle_power(meter, idle_s, sync=sync, sleep=sleep)

    readings: list[EnergyReading] = []
    iters: list[int] = []
    for trial in range(trials):
        report("energy", f"window {trial + 1} of {trials}")  # before the window opens: it counts no report
        sync()
        meter.start()
        t0 = clock()
        n = 0
        while True:  # at least one step, then until both minimums are met
            step()
            n += 1
            if n >= min_window_iters and clock() - t0 >= window_s:
                break
        sync()
        readings.append(meter.stop())
        iters.append(n)

    gross = [r.joules / (n * images_per_step) for r, n in zip(readings, iters)]
    net = None if idle_w is None else statistics.fmean(
        (r.joules - idle_w * r.seconds) / (n * images_per_step) for r, n in zip(readings, iters))
    peaks = [r.peak_w for r in readings if r.peak_w is not None]
    return EnergyResult(
        energy_j_per_img=statistics.fmean(gross),
        energy_j_per_img_net=net,
        energy_j_per_img_std=statistics.stdev(gross) if len(gross) > 1 else None,
        mean_power_w=statistics.fmean(r.mean_w for r in readings),
        peak_power_w=max(peaks) if peaks else None,
        idle_power_w=idle_w,
        trials=trials,
        window_s=statistics.fmean(r.seconds for r in readings),
        iterations_per_trial=statistics.fmean(iters),
        method=readings[0].method if readings else "none",
        readings=tuple(readings),
    )
