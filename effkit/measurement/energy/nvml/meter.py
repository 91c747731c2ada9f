"""The energy of one NVIDIA GPU through NVML (``pynvml``, from the nvidia-ml-py package).

Three ways to get energy, in order of preference (measured on an H100: the driver's 1-second moving
average integrated at 10 Hz under-reads by ~41 % over 1 s windows and ~3.5 % over 10 s, while the
instant power field polled at 100 Hz stays within ~3 % of the counter):

1. ``nvmlDeviceGetTotalEnergyConsumption`` — a cumulative counter in mJ (Volta and newer): the delta.
2. the instant power field (``NVML_FI_DEV_POWER_INSTANT``) sampled by a background thread, integrated
   with the trapezoidal rule.
3. ``nvmlDeviceGetPowerUsage`` (mW, averaged by the driver over ~1 s) sampled the same way; it lags the
   load, so this method warns and asks for windows of at least :data:`AVERAGED_MIN_WINDOW_S`.

On a MIG instance the CUDA UUID (``MIG-...``) matches no physical NVML device, the PCI id is the parent
board's, and the board's counter includes every other tenant: energy there is not attributable to this
process, so the meter is unavailable with :data:`MIG_NOT_ATTRIBUTABLE` unless the caller opts in.
"""

from __future__ import annotations

import threading
import time
import warnings
from typing import Callable, Optional

from effkit.errors import BackendUnavailableError
from effkit.measurement.device_lost import GpuLostError
from effkit.measurement.energy.base import EnergyReading, MeterStatus, trapezoid_joules
from effkit.measurement.energy.nvml.device import NvmlGpu
from effkit.measurement.energy.nvml.state import field_value

#: Window the averaged power reading needs before its lag stops mattering (~3.5 % low at 10 s on an H100).
AVERAGED_MIN_WINDOW_S = 10.0

_FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT in nvml.h, used when the module lacks the name

#: ``energy_status`` of a MIG instance without the opt-in.
MIG_NOT_ATTRIBUTABLE = "whole board (MIG): not attributable"
#: What an opted-in MIG reading is, said beside its status.
MIG_WHOLE_BOARD = "whole board (MIG): includes every tenant of the board"


class PowerAverageWarning(UserWarning):
    """Energy comes from the driver's ~1 s moving-average power: short windows under-read."""


class NvmlMeter:
    """Energy of one CUDA device from NVML: counter, else instant power, else averaged power.

    Args:
        cuda_index: the CUDA device index (torch's numbering of the visible devices).
        nvml: a ``pynvml``-compatible module (tests inject a fake); default ``import pynvml``.
        clock: seconds for window lengths and sample times (default ``time.perf_counter``).
        poll_hz: sampling rate of the power fallbacks; ``0`` samples only when :meth:`sample` is called
            (tests drive it by hand with a fake clock).
        device_uuid: the CUDA device's UUID (default: torch's); matched against NVML's devices.
        pci_bus_id: matched when no UUID is known.
        allow_mig: measure a MIG instance's whole board anyway (its counter includes other tenants).
    """

    def __init__(self, cuda_index: int, *, nvml=None, clock: Optional[Callable[[], float]] = None,
                 poll_hz: float = 100.0, device_uuid: Optional[str] = None, pci_bus_id: Optional[str] = None,
                 allow_mig: bool = False):
        self.cuda_index = cuda_index
        self.allow_mig = allow_mig
        self._nvml_in = nvml
        self.clock = clock or time.perf_counter
        self.poll_hz = poll_hz
        self._uuid_in = device_uuid
        self._pci_in = pci_bus_id
        self.gpu: Optional[NvmlGpu] = None
        self.method = "none"
        self._status: Optional[MeterStatus] = None
        self._lock = threading.Lock()
        self._samples: list[tuple[float, float]] = []
        self._stamped = False  # samples carry the driver's timestamps (instant field), not the host clock
        self._thread: Optional[threading.Thread] = None
        self._halt = threading.Event()
        self._thread_error: Optional[BaseException] = None
        self._t0 = 0.0
        self._e0 = 0

    @property
    def min_window_s(self) -> float:
        return AVERAGED_MIN_WINDOW_S if self.method == "nvml_power_avg" else 0.0

    # -- probing ---------------------------------------------------------------------------------
    def probe(self) -> MeterStatus:
        """Start NVML, find the device, and pick the best method that works.

        Raises only :class:`~effkit.measurement.device_lost.GpuLostError` (the GPU answers NVML's "GPU is
        lost"): a missing or unusable NVML is a status, a lost GPU fails the measurement.
        """
        if self._status is not None:
            return self._status
        try:
            self.gpu = NvmlGpu(self.cuda_index, nvml=self._nvml_in, device_uuid=self._uuid_in,
                               pci_bus_id=self._pci_in)
        except BackendUnavailableError as e:
            self._status = MeterStatus(False, "none", str(e))
            return self._status
        if self.gpu.mig and not self.allow_mig:
            self.gpu.close()
            self._status = MeterStatus(False, "none", MIG_NOT_ATTRIBUTABLE, verbatim=True)
            return self._status
        why = [MIG_WHOLE_BOARD] if self.gpu.mig else []
        self.method = self._best_method(why)
        if self.method == "none":
            self.gpu.close()
            self._status = MeterStatus(False, "none", "NVML cannot read energy or power here (" + "; ".join(why) + ")")
        else:
            self._status = MeterStatus(True, self.method, "; ".join(why))
        return self._status

    def _best_method(self, why: list[str]) -> str:
        """The first method that reads on this GPU (counter, instant field, averaged power); ``why`` gets the
        reason each one before it did not."""
        nv, h, errors = self.gpu.nvml, self.gpu.handle, self.gpu.errors

        def instant():
            if self._read_instant() is None:
                raise AttributeError("not supported")

        for method, what, read in (("nvml_energy_counter", "energy counter",
                                    lambda: nv.nvmlDeviceGetTotalEnergyConsumption(h)),
                                   ("nvml_power_instant", "instant power field", instant),
                                   ("nvml_power_avg", "power usage", lambda: nv.nvmlDeviceGetPowerUsage(h))):
            try:
                read()
                return method
            except (errors.error, AttributeError) as e:
                errors.raise_if_lost(e)  # a lost GPU fails the row; any other failure is a reason to try the next
                why.append(f"{what}: {e}")
        return "none"

    def _read_instant(self) -> Optional[tuple[float, Optional[float]]]:
        """(instant power in W, the driver's sample time in s or ``None``), or ``None`` where not supported."""
        nv, h = self.gpu.nvml, self.gpu.handle
        fid = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", _FI_POWER_INSTANT)
        values = self.gpu.errors.answer(lambda: nv.nvmlDeviceGetFieldValues(h, [fid]))
        mw = field_value(values[0]) if values else None
        if mw is None:
            return None
        ts_us = getattr(values[0], "timestamp", 0) or 0  # microseconds since the epoch; 0 when not given
        return mw / 1000.0, (ts_us / 1e6 if ts_us > 0 else None)

    def _read_power_w(self) -> tuple[float, Optional[float]]:
        if self.method == "nvml_power_instant":
            got = self._read_instant()
            if got is None:
                raise BackendUnavailableError("NVML stopped returning the instant power field")
            return got
        return self.gpu.nvml.nvmlDeviceGetPowerUsage(self.gpu.handle) / 1000.0, None

    # -- windows ---------------------------------------------------------------------------------
    def _ready(self) -> None:
        status = self.probe()
        if not status.available:
            raise BackendUnavailableError(f"NVML energy meter unavailable: {status.reason}")

    def sample(self) -> None:
        """Take one power sample now (the thread calls this; with ``poll_hz=0`` the caller does)."""
        t = self.clock()
        w, stamped = self._read_power_w()
        with self._lock:
            if stamped is not None:
                # the driver's own sample time: a field read twice between driver updates is one sample
                if self._stamped and self._samples and stamped <= self._samples[-1][0]:
                    return
                self._stamped = True
                t = stamped
            self._samples.append((t, w))

    def _poll(self) -> None:
        period = 1.0 / self.poll_hz
        try:
            while not self._halt.wait(period):
                self.sample()
        except BaseException as e:  # handed to stop(), which raises it on the caller's thread
            self._thread_error = e

    def start(self) -> None:
        """Open a window (raises :class:`BackendUnavailableError` on NVML errors)."""
        self._ready()
        with self.gpu.errors.unavailable("NVML error while starting an energy window: {}"):
            if self.method == "nvml_energy_counter":
                self._t0 = self.clock()
                self._e0 = self.gpu.nvml.nvmlDeviceGetTotalEnergyConsumption(self.gpu.handle)
                return
            if self.method == "nvml_power_avg":
                warnings.warn(
                    "GPU energy from nvmlDeviceGetPowerUsage, a ~1 s moving average: windows under "
                    f"{AVERAGED_MIN_WINDOW_S:g} s under-read (no energy counter or instant power field here)",
                    PowerAverageWarning, stacklevel=2)
            with self._lock:
                self._samples = []
                self._stamped = False
            self._thread_error = None
            self.sample()
            if self.poll_hz and self.poll_hz > 0:
                self._halt.clear()
                self._thread = threading.Thread(target=self._poll, name="effkit-nvml-power", daemon=True)
                self._thread.start()

    def stop(self) -> EnergyReading:
        """Close the window and return its energy (raises :class:`BackendUnavailableError` on NVML errors)."""
        self._ready()
        errors = self.gpu.errors
        with errors.unavailable("NVML error while reading energy: {}"):
            if self.method == "nvml_energy_counter":
                e1 = self.gpu.nvml.nvmlDeviceGetTotalEnergyConsumption(self.gpu.handle)
                t1 = self.clock()
                seconds = t1 - self._t0
                joules = (e1 - self._e0) / 1000.0  # mJ
                return EnergyReading(joules, seconds, joules / seconds if seconds > 0 else float("nan"),
                                     None, 2, self.method)
            if self._thread is not None:
                self._halt.set()
                self._thread.join()
                self._thread = None
            if self._thread_error is not None:
                e = self._thread_error
                self._thread_error = None
                if isinstance(e, (BackendUnavailableError, GpuLostError)):
                    raise e
                errors.raise_if_lost(e)
                raise BackendUnavailableError(f"NVML error while sampling power: {e}") from e
            self.sample()
        with self._lock:
            samples = list(self._samples)
        times = [t for t, _ in samples]
        watts = [w for _, w in samples]
        seconds = times[-1] - times[0]
        joules = trapezoid_joules(times, watts)
        return EnergyReading(joules, seconds, joules / seconds if seconds > 0 else float("nan"),
                             max(watts), len(samples), self.method)

    def close(self) -> None:
        if self._thread is not None:
            self._halt.set()
            self._thread.join()
            self._thread = None
        if self.gpu is not None:
            self.gpu.close()
            self.gpu = None
        self._status = None  # a later start() probes again
        self.method = "none"

    def __repr__(self) -> str:
        return f"NvmlMeter(cuda:{self.cuda_index}, method={self.method})"
