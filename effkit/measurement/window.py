"""Time and energy around the caller's own code: ``with effkit.energy_window("cuda:0") as w: ...``.

effkit's own loop (:func:`effkit.measure`) times a model it builds; this module measures whatever the
caller runs — a training step, a data-loader pass, a whole epoch — with the same meters
(:func:`~effkit.measurement.energy.meter.open_meter`: NVML's energy counter, then its instant power field,
then its averaged power on GPUs; RAPL on CPUs; a :class:`~effkit.measurement.energy.meter.NullMeter`
carrying its reason where neither works).

A window never raises because energy cannot be read: the time is always measured, and the result's
``status`` says why the joules are missing. Where no meter exists the caller may ask for an estimate
(``tdp_estimate_w``): power × time, labelled ``method="tdp estimate"`` so it is never mistaken for a
measurement.

CUDA work is asynchronous, so the window synchronises the device before it opens and before it closes:
the energy and time belong to exactly the work issued inside the block.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from effkit.errors import BackendUnavailableError, BadInputError, setting
from effkit.measurement.energy.base import EnergyMeter, NullMeter
from effkit.measurement.energy.meter import measure_idle_power, open_meter

#: ``method`` of a result whose joules are an estimate (power × time), not a measurement.
TDP_ESTIMATE = "tdp estimate"


@dataclass(frozen=True)
class EnergyWindow:
    """What one window measured.

    Attributes:
        device: the device whose energy was read (``"cuda:0"``, ``"cpu"``).
        seconds: wall time from opening to closing the window (queued CUDA work included).
        joules_gross: energy drawn during the window, idle included; ``None`` when nothing could read it.
        joules_net: ``joules_gross - idle_power_w * seconds``; ``None`` unless an idle power is known.
        mean_power_w: ``joules_gross / seconds``.
        peak_power_w: highest power sample (power-sampling methods only), else ``None``.
        idle_power_w: the idle power subtracted (given by the caller or measured before the window).
        method: the meter's method (``nvml_energy_counter``, ``nvml_power_instant``, ``nvml_power_avg``,
            ``rapl``), ``"tdp estimate"`` for an estimate, or ``"none"``.
        status: ``"ok"``; ``"ok (...)"`` with a caveat; ``"unavailable: <reason>"``; ``"failed: <error>"``;
            ``"estimate: <why>"``.
    """

    device: str
    seconds: float
    joules_gross: Optional[float]
    joules_net: Optional[float]
    mean_power_w: Optional[float]
    peak_power_w: Optional[float]
    idle_power_w: Optional[float]
    method: str
    status: str

    @property
    def measured(self) -> bool:
        """True when the joules come from a meter (not missing, not an estimate)."""
        return self.joules_gross is not None and self.method not in (TDP_ESTIMATE, "none")


class OpenWindow:
    """A window between :func:`begin_window` and :func:`end_window`.

    Once ended, ``result`` holds the :class:`EnergyWindow` and its fields read through this object too
    (``w.seconds``, ``w.joules_gross``), which is what the ``with ... as w`` form gives.
    """

    def __init__(self, device: str, meter: EnergyMeter, *, owns_meter: bool, sync: Callable[[], None],
                 clock: Callable[[], float], idle_power_w: Optional[float], tdp_estimate_w: Optional[float]):
        self.device = device
        self.meter = meter
        self.result: Optional[EnergyWindow] = None
        self._owns_meter = owns_meter
        self._sync = sync
        self._clock = clock
        self._idle_w = idle_power_w
        self._tdp_w = tdp_estimate_w
        self._problem = ""  # why the meter gives nothing (set when it is unavailable or fails to start)
        self._t0 = 0.0

    def __getattr__(self, name: str):
        # Only reached for names the handle itself lacks: the result's fields.
        if name.startswith("_") or (name not in EnergyWindow.__dataclass_fields__ and name != "measured"):
            raise AttributeError(name)
        result = self.__dict__.get("result")
        if result is None:
            raise AttributeError(f"the energy window on {self.device} is still open: {name} is known once it ends")
        return getattr(result, name)

    def __repr__(self) -> str:
        return f"OpenWindow({self.device}, {'open' if self.result is None else self.result})"


def _device_and_sync(device) -> tuple[str, str, Callable[[], None]]:
    """(device name, why it cannot be metered or "", a function waiting for its queued work)."""
    import torch

    from effkit.devices import parse_device

    # Any device torch knows is accepted: the window meters the code it brackets, whatever that runs on.
    dev = parse_device(device, measured=False)
    if dev is None:  # auto
        dev = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if dev.type == "cuda":
        dev = torch.device("cuda", dev.index if dev.index is not None else 0)
        if not torch.cuda.is_available():
            return str(dev), "CUDA is not available here", lambda: None
        return str(dev), "", lambda: torch.cuda.synchronize(dev)
    return str(dev), "", lambda: None


def _check_watts(name: str, value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{setting(name)} must be a number of watts, got {value!r}", field=name) from None
    if not math.isfinite(w) or w < 0 or (name == "tdp_estimate_w" and w == 0):
        raise BadInputError(f"{setting(name)} must be a finite, positive number of watts, got {value!r}",
                            field=name)
    return w


def begin_window(device="auto", *, idle_power_w: Optional[float] = None, idle_s: float = 0.0,
                 tdp_estimate_w: Optional[float] = None, meter: Optional[EnergyMeter] = None,
                 sync: Optional[Callable[[], None]] = None, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> OpenWindow:
    """Open a window on ``device``; close it with :func:`end_window`.

    Args:
        device: ``"cuda:N"``, ``"cuda"``, ``"cpu"`` or ``"auto"`` (the default: CUDA when available, else the CPU).
        idle_power_w: the device's idle power, subtracted to give ``joules_net``.
        idle_s: when ``idle_power_w`` is not given, measure idle power for this many seconds first
            (the device must be doing nothing meanwhile); ``0`` measures none (``joules_net`` is ``None``).
        tdp_estimate_w: where no meter can read the device, report ``tdp_estimate_w × seconds`` as
            an estimate (``method="tdp estimate"``); ignored when a meter works.
        meter: an :class:`~effkit.measurement.energy.meter.EnergyMeter` to use instead of opening one (tests,
            or one meter reused over many windows; the caller closes it).
        sync: waits for the device's queued work (default: ``torch.cuda.synchronize`` on CUDA).
        clock: seconds, monotonic (default ``time.perf_counter``).
        sleep: waits out the idle window (default ``time.sleep``).

    Raises:
        BadInputError: an unknown device, or watts that are negative or not numbers.
    """
    name, why_not, default_sync = _device_and_sync(device)
    idle_w = _check_watts("idle_power_w", idle_power_w)
    tdp_w = _check_watts("tdp_estimate_w", tdp_estimate_w)
    if not (isinstance(idle_s, (int, float)) and math.isfinite(idle_s) and idle_s >= 0):
        raise BadInputError(f"{setting('idle_s')} must be a non-negative number of seconds, got {idle_s!r}",
                            field="idle_s")
    owns = meter is None
    if meter is None:
        meter = NullMeter(why_not) if why_not else open_meter(name)
    window = OpenWindow(name, meter, owns_meter=owns, sync=sync or default_sync, clock=clock,
                        idle_power_w=idle_w, tdp_estimate_w=tdp_w)
    status = meter.probe()
    if not status.available:
        window._problem = f"unavailable: {status.reason}"
    elif idle_w is None and idle_s > 0:
        try:
            window._idle_w = measure_idle_power(meter, idle_s, sync=window._sync, sleep=sleep)
        except BackendUnavailableError as e:
            window._problem = f"failed: {e}"
    window._sync()  # the caller's earlier work is not this window's
    if not window._problem:
        try:
            meter.start()
        except BackendUnavailableError as e:
            window._problem = f"failed: {e}"
    window._t0 = clock()
    return window


def end_window(window: OpenWindow) -> EnergyWindow:
    """Close ``window`` (after waiting for the device's queued work) and return what it measured.

    Raises:
        BadInputError: the window was already ended.
    """
    if window.result is not None:
        raise BadInputError(f"the energy window on {window.device} was already ended")
    window._sync()  # work queued inside the block is this window's
    seconds = window._clock() - window._t0
    joules = peak = None
    method, status = "none", window._problem
    if not status:
        try:
            reading = window.meter.stop()
            joules, peak, method, status = reading.joules, reading.peak_w, reading.method, "ok"
            need = float(getattr(window.meter, "min_window_s", 0.0) or 0.0)
            if seconds < need:
                status = (f"ok (a {seconds:.3g} s window is shorter than the {need:g} s that {method} "
                          "needs: it under-reads)")
        except BackendUnavailableError as e:
            status = f"failed: {e}"
    if window._owns_meter:
        window.meter.close()
    if joules is None and window._tdp_w is not None:
        joules, method = window._tdp_w * seconds, TDP_ESTIMATE
        status = f"estimate: {window._tdp_w:g} W x {seconds:.3g} s, not a measurement (meter {status})"
    idle_w = window._idle_w
    window.result = EnergyWindow(
        device=window.device,
        seconds=seconds,
        joules_gross=joules,
        joules_net=None if joules is None or idle_w is None else joules - idle_w * seconds,
        mean_power_w=None if joules is None or seconds <= 0 else joules / seconds,
        peak_power_w=peak,
        idle_power_w=idle_w,
        method=method,
        status=status,
    )
    return window.result


@contextmanager
def energy_window(device="auto", **options) -> Iterator[OpenWindow]:
    """Measure time and energy of the block: ``with energy_window() as w: ...; w.joules_gross`` (on the GPU when
    there is one, else the CPU; ``energy_window("cuda:1")`` names one).

    Takes :func:`begin_window`'s options. The window closes even when the block raises; its fields
    read through ``w`` once the block has ended (``w.result`` is the :class:`EnergyWindow`).
    """
    window = begin_window(device, **options)
    try:
        yield window
    finally:
        end_window(window)


__all__ = ["EnergyWindow", "OpenWindow", "TDP_ESTIMATE", "begin_window", "end_window", "energy_window"]
