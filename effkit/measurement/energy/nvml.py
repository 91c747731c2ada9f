"""NVIDIA GPUs through NVML (``pynvml``, from the nvidia-ml-py package).

Three ways to get energy, in order of preference (measured on an H100: the driver's 1-second moving
average integrated at 10 Hz under-reads by ~41 % over 1 s windows and ~3.5 % over 10 s, while the
instant power field polled at 100 Hz stays within ~3 % of the counter):

1. ``nvmlDeviceGetTotalEnergyConsumption`` — a cumulative counter in mJ (Volta and newer): the delta.
2. the instant power field (``NVML_FI_DEV_POWER_INSTANT``) sampled by a background thread, integrated
   with the trapezoidal rule.
3. ``nvmlDeviceGetPowerUsage`` (mW, averaged by the driver over ~1 s) sampled the same way; it lags the
   load, so this method warns and asks for windows of at least :data:`AVERAGED_MIN_WINDOW_S`.

The NVML device is matched to the CUDA device by UUID (else PCI bus id): NVML numbers all GPUs in PCI
bus order, CUDA only the visible ones (``CUDA_VISIBLE_DEVICES``) and, by default, fastest first
(``CUDA_DEVICE_ORDER=FASTEST_FIRST``); only ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` makes the two orders agree.

On a MIG instance the CUDA UUID (``MIG-...``) matches no physical NVML device, the PCI id is the parent
board's, and the board's counter includes every other tenant: energy there is not attributable to this
process, so the meter is unavailable with :data:`MIG_NOT_ATTRIBUTABLE` unless the caller opts in.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from typing import Any, Callable, Optional

from effkit.errors import BackendUnavailableError
from effkit.measurement.device_lost import GpuLostError, raise_if_lost
from effkit.measurement.energy.base import EnergyReading, MeterStatus, trapezoid_joules

#: Window the averaged power reading needs before its lag stops mattering (~3.5 % low at 10 s on an H100).
AVERAGED_MIN_WINDOW_S = 10.0

_FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT in nvml.h, used when the module lacks the name
_ERROR_NOT_SUPPORTED = 3
_ERROR_FUNCTION_NOT_FOUND = 13
_MIG_ENABLE = 1  # NVML_DEVICE_MIG_ENABLE

#: ``energy_status`` of a MIG instance without the opt-in.
MIG_NOT_ATTRIBUTABLE = "whole board (MIG): not attributable"
#: What an opted-in MIG reading is, said beside its status.
MIG_WHOLE_BOARD = "whole board (MIG): includes every tenant of the board"

# nvmlValueType_t -> member of the c_nvmlValue_t union. Reading another member returns garbage, not an error.
_VALUE_MEMBER = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}

# Clock-event ("throttle") reason bits as nvml.h defines them.
THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


class PowerAverageWarning(UserWarning):
    """Energy comes from the driver's ~1 s moving-average power: short windows under-read."""


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def normalise_uuid(uuid: Any) -> str:
    """``"GPU-1A2b..."`` / ``"1a2b..."`` / a ``uuid.UUID`` -> ``"1a2b..."`` (lower case, no prefix)."""
    s = _text(uuid).strip().lower()
    for prefix in ("gpu-", "mig-"):
        if s.startswith(prefix):
            s = s[len(prefix):]
    return s


def _parse_bus_id(bus_id: Any) -> Optional[tuple[int, int, int]]:
    """``"00000000:3B:00.0"`` -> (domain, bus, device); ``None`` when unreadable."""
    try:
        dom, bus, rest = _text(bus_id).strip().split(":")
        return int(dom, 16), int(bus, 16), int(rest.split(".")[0], 16)
    except (ValueError, AttributeError):
        return None


def field_value(fv: Any) -> Optional[float]:
    """The number in one ``nvmlFieldValue_t``, read from the union member its ``valueType`` names;
    ``None`` when its own return code is not success or the type is unknown."""
    if getattr(fv, "nvmlReturn", 1) != 0:  # each field carries its own code; the call succeeds as a whole
        return None
    member = _VALUE_MEMBER.get(int(getattr(fv, "valueType", 1)))
    return None if member is None else float(getattr(fv.value, member))


def reason_names(bits: int) -> list[str]:
    """Names of the set clock-event reason bits; bits nvml.h did not name when this was written stay raw hex."""
    names = [name for bit, name in THROTTLE_REASONS.items() if bits & bit]
    unknown = bits & ~sum(THROTTLE_REASONS)
    names += [hex(1 << i) for i in range(unknown.bit_length()) if unknown >> i & 1]
    return names


def _error_code(e: BaseException) -> Optional[int]:
    return getattr(e, "value", None)


def _import_pynvml():
    try:
        import pynvml
    except ImportError as e:
        raise BackendUnavailableError(
            "pynvml is not installed (pip install nvidia-ml-py)"
        ) from e
    return pynvml


def _cuda_identity(cuda_index: int) -> tuple[Optional[str], Optional[tuple[int, int, int]]]:
    """(UUID, (domain, bus, device)) of a CUDA device as torch sees it."""
    import torch

    if not torch.cuda.is_available() or cuda_index >= torch.cuda.device_count():
        return None, None
    props = torch.cuda.get_device_properties(cuda_index)
    uuid = getattr(props, "uuid", None)
    pci = None
    if hasattr(props, "pci_bus_id"):
        pci = (int(getattr(props, "pci_domain_id", 0)), int(props.pci_bus_id), int(getattr(props, "pci_device_id", 0)))
    return (normalise_uuid(uuid) if uuid is not None else None), pci


class NvmlGpu:
    """An initialised NVML session bound to the NVML handle of one CUDA device.

    Args:
        cuda_index: the CUDA device index (as torch numbers the visible devices).
        nvml: a ``pynvml``-compatible module (default: ``import pynvml``).
        device_uuid: the CUDA device's UUID; default asks torch.
        pci_bus_id: ``"0000:3B:00.0"``-style id used when no UUID is known; default asks torch.

    Raises:
        BackendUnavailableError: no pynvml, no driver, or no NVML device matches.
    """

    def __init__(self, cuda_index: int, *, nvml=None, device_uuid: Optional[str] = None,
                 pci_bus_id: Optional[str] = None):
        self.nvml = nvml if nvml is not None else _import_pynvml()
        self.cuda_index = cuda_index
        err = getattr(self.nvml, "NVMLError", Exception)
        try:
            self.nvml.nvmlInit()
        except err as e:
            raise BackendUnavailableError(f"NVML could not start ({e}); is the NVIDIA driver loaded?") from e
        self._open = True
        try:
            want_uuid = normalise_uuid(device_uuid) if device_uuid else None
            want_pci = _parse_bus_id(pci_bus_id) if pci_bus_id else None
            if want_uuid is None and want_pci is None:
                want_uuid, want_pci = _cuda_identity(cuda_index)
            self.handle, self.uuid = self._match(want_uuid, want_pci)
            self.mig = self._is_mig(device_uuid)
        except BaseException:
            self.close()
            raise

    def _match(self, want_uuid, want_pci):
        try:
            return self._find(want_uuid, want_pci)
        except getattr(self.nvml, "NVMLError", Exception) as e:
            raise_if_lost(e, f"cuda:{self.cuda_index}")
            raise BackendUnavailableError(f"NVML could not list devices ({e})") from e

    def _find(self, want_uuid, want_pci):
        nv = self.nvml
        handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(nv.nvmlDeviceGetCount())]
        if want_uuid is not None:
            for h in handles:
                uuid = normalise_uuid(nv.nvmlDeviceGetUUID(h))
                if uuid == want_uuid:
                    return h, uuid
        if want_pci is not None:
            for h in handles:
                if _parse_bus_id(nv.nvmlDeviceGetPciInfo(h).busId) == want_pci:
                    return h, normalise_uuid(nv.nvmlDeviceGetUUID(h))
        if want_uuid is None and want_pci is None and "CUDA_VISIBLE_DEVICES" not in os.environ \
                and self.cuda_index < len(handles):
            # Nothing to match on (torch gave no identity); without CUDA_VISIBLE_DEVICES both number
            # all GPUs, and CUDA's default order is by PCI bus like NVML's.
            h = handles[self.cuda_index]
            return h, normalise_uuid(nv.nvmlDeviceGetUUID(h))
        raise BackendUnavailableError(
            f"no NVML device matches CUDA device {self.cuda_index} "
            f"(uuid {want_uuid or '?'}; NVML sees {len(handles)} device(s))"
        )

    def _is_mig(self, device_uuid: Optional[str]) -> bool:
        """Whether the CUDA device is a MIG instance: a ``MIG-`` UUID, or MIG mode on the matched board
        (a board in MIG mode is only usable through its instances)."""
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if _text(device_uuid or "").strip().upper().startswith("MIG-") or "MIG-" in visible.upper():
            return True
        try:
            current = self.nvml.nvmlDeviceGetMigMode(self.handle)[0]
        except (getattr(self.nvml, "NVMLError", Exception), AttributeError):
            return False  # no MIG on this board or this driver (NotSupported, FunctionNotFound)
        return int(current) == getattr(self.nvml, "NVML_DEVICE_MIG_ENABLE", _MIG_ENABLE)

    def name(self) -> str:
        return _text(self.nvml.nvmlDeviceGetName(self.handle))

    def driver_version(self) -> str:
        return _text(self.nvml.nvmlSystemGetDriverVersion())

    def state(self) -> dict:
        """Clocks (MHz), temperature (C), power (W) and active clock-event reasons; unreadable fields are left out."""
        nv = self.nvml
        err = getattr(nv, "NVMLError", Exception)
        out: dict[str, Any] = {}
        reads = {
            "sm_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(self.handle, getattr(nv, "NVML_CLOCK_SM", 1)),
            "mem_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(self.handle, getattr(nv, "NVML_CLOCK_MEM", 2)),
            "temperature_c": lambda: nv.nvmlDeviceGetTemperature(self.handle, getattr(nv, "NVML_TEMPERATURE_GPU", 0)),
            "power_w": lambda: nv.nvmlDeviceGetPowerUsage(self.handle) / 1000.0,
        }
        for key, fn in reads.items():
            try:
                out[key] = fn()
            except (err, AttributeError):
                pass
        bits = self._reason_bits()
        if bits is not None:
            out["throttle_reasons"] = reason_names(bits)
        return out

    def _reason_bits(self) -> Optional[int]:
        """Active clock-event reasons; the deprecated throttle-reasons call where the new one is missing
        from the binding or from the driver's library (FunctionNotFound) or not supported."""
        nv = self.nvml
        err = getattr(nv, "NVMLError", Exception)
        for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
            fn = getattr(nv, name, None)
            if fn is None:
                continue
            try:
                return int(fn(self.handle))
            except err as e:
                if _error_code(e) not in (_ERROR_FUNCTION_NOT_FOUND, _ERROR_NOT_SUPPORTED):
                    return None
        return None

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # shutting down a half-started NVML must not hide the real error
                pass


def clocks_dropped(before: Optional[dict], after: Optional[dict], tolerance: float = 0.05) -> Optional[bool]:
    """True when the SM clock after a run is more than ``tolerance`` below the one before, or a thermal /
    hardware slowdown appeared; ``None`` when either state is unknown."""
    if not before or not after or "sm_clock_mhz" not in before or "sm_clock_mhz" not in after:
        return None
    slow = {"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"}
    new_slow = bool(slow & (set(after.get("throttle_reasons", [])) - set(before.get("throttle_reasons", []))))
    return bool(after["sm_clock_mhz"] < (1.0 - tolerance) * before["sm_clock_mhz"] or new_slow)


def clocks_dropped_any(before: Optional[dict], *afters: Optional[dict], tolerance: float = 0.05) -> Optional[bool]:
    """:func:`clocks_dropped` over several later states (after the timed loop, after the energy windows):
    True if any dropped, None when none is known."""
    seen = [clocks_dropped(before, a, tolerance) for a in afters]
    known = [d for d in seen if d is not None]
    return any(known) if known else None


def state_json(state: Optional[dict]) -> Optional[str]:
    return None if state is None else json.dumps(state, sort_keys=True)


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
        nv, h = self.gpu.nvml, self.gpu.handle
        err = getattr(nv, "NVMLError", Exception)

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
            except (err, AttributeError) as e:
                self._check_lost(e)
                why.append(f"{what}: {e}")
        return "none"

    def _read_instant(self) -> Optional[tuple[float, Optional[float]]]:
        """(instant power in W, the driver's sample time in s or ``None``), or ``None`` where not supported."""
        nv, h = self.gpu.nvml, self.gpu.handle
        fid = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", _FI_POWER_INSTANT)
        try:
            values = nv.nvmlDeviceGetFieldValues(h, [fid])
        except (getattr(nv, "NVMLError", Exception), AttributeError) as e:
            self._check_lost(e)
            return None
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

    def _check_lost(self, e: BaseException) -> None:  # a lost GPU fails the row; other NVML errors do not
        raise_if_lost(e, f"cuda:{self.cuda_index}")

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
        err = getattr(self.gpu.nvml, "NVMLError", Exception)
        try:
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
        except err as e:
            self._check_lost(e)
            raise BackendUnavailableError(f"NVML error while starting an energy window: {e}") from e

    def stop(self) -> EnergyReading:
        """Close the window and return its energy (raises :class:`BackendUnavailableError` on NVML errors)."""
        self._ready()
        err = getattr(self.gpu.nvml, "NVMLError", Exception)
        try:
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
                self._check_lost(e)
                raise BackendUnavailableError(f"NVML error while sampling power: {e}") from e
            self.sample()
        except err as e:
            self._check_lost(e)
            raise BackendUnavailableError(f"NVML error while reading energy: {e}") from e
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
