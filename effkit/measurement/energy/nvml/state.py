"""A GPU's state as NVML reports it, decoded: clocks, temperature, power, clock-event reasons, field values.

The state is context for a measurement (did the clocks drop while it ran?), never a reason to fail one: a
field NVML cannot read is left out.
"""

from __future__ import annotations

import json
from typing import Any, Optional

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
#: The reasons that mean the board slowed itself down (heat, power brake), not an idle or a setting.
SLOWDOWNS = frozenset({"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"})


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


def read_state(gpu) -> dict:
    """Clocks (MHz), temperature (C), power (W) and active clock-event reasons of an
    :class:`~effkit.measurement.energy.nvml.device.NvmlGpu`; unreadable fields are left out."""
    nv, h = gpu.nvml, gpu.handle
    reads = {
        "sm_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(h, getattr(nv, "NVML_CLOCK_SM", 1)),
        "mem_clock_mhz": lambda: nv.nvmlDeviceGetClockInfo(h, getattr(nv, "NVML_CLOCK_MEM", 2)),
        "temperature_c": lambda: nv.nvmlDeviceGetTemperature(h, getattr(nv, "NVML_TEMPERATURE_GPU", 0)),
        "power_w": lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
    }
    out: dict[str, Any] = {}
    for key, read in reads.items():
        value = gpu.errors.answer(read, lost=False)
        if value is not None:
            out[key] = value
    bits = _reason_bits(gpu)
    if bits is not None:
        out["throttle_reasons"] = reason_names(bits)
    return out


def _reason_bits(gpu) -> Optional[int]:
    """Active clock-event reasons; the deprecated throttle-reasons call where the new one is missing
    from the binding or from the driver's library (FunctionNotFound) or not supported."""
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        fn = getattr(gpu.nvml, name, None)
        if fn is None:
            continue
        try:
            return int(fn(gpu.handle))
        except gpu.errors.error as e:
            if not gpu.errors.not_offered(e):
                return None
    return None


def clocks_dropped(before: Optional[dict], after: Optional[dict], tolerance: float = 0.05) -> Optional[bool]:
    """True when the SM clock after a run is more than ``tolerance`` below the one before, or a thermal /
    hardware slowdown appeared; ``None`` when either state is unknown."""
    if not before or not after or "sm_clock_mhz" not in before or "sm_clock_mhz" not in after:
        return None
    new_slow = bool(SLOWDOWNS & (set(after.get("throttle_reasons", [])) - set(before.get("throttle_reasons", []))))
    return bool(after["sm_clock_mhz"] < (1.0 - tolerance) * before["sm_clock_mhz"] or new_slow)


def clocks_dropped_any(before: Optional[dict], *afters: Optional[dict], tolerance: float = 0.05) -> Optional[bool]:
    """:func:`clocks_dropped` over several later states (after the timed loop, after the energy windows):
    True if any dropped, None when none is known."""
    seen = [clocks_dropped(before, a, tolerance) for a in afters]
    known = [d for d in seen if d is not None]
    return any(known) if known else None


def state_json(state: Optional[dict]) -> Optional[str]:
    """A state as stored in a result row (``clocks_before`` ...): JSON with sorted keys, or ``None``."""
    return None if state is None else json.dumps(state, sort_keys=True)


__all__ = ["SLOWDOWNS", "THROTTLE_REASONS", "clocks_dropped", "clocks_dropped_any", "field_value", "read_state",
           "reason_names", "state_json"]
