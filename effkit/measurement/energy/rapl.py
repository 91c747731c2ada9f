"""CPU package energy from Intel/AMD RAPL counters under Linux powercap (``/sys/class/powercap``).

Each top-level zone (``intel-rapl:0``, ``intel-rapl:1``, one per CPU package) has a cumulative
``energy_uj`` counter that wraps to zero after ``max_energy_range_uj``. Sub-zones (``intel-rapl:0:0``,
cores / DRAM) are parts of their package and are not added again. RAPL measures the whole package —
every process on it, not just this one — which is why the method subtracts idle power.

Since Linux 5.10 ``energy_uj`` is readable by root only; without permission the meter is
unavailable and says so.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Callable, Optional

from effkit.errors import BackendUnavailableError
from effkit.measurement.energy.base import EnergyReading, MeterStatus

_TOP_ZONE = re.compile(r"^[a-z-]+rapl:\d+$")


class RaplMeter:
    """Energy of the CPU packages from RAPL counters.

    Args:
        root: the powercap folder (tests point it at a fake tree).
        clock: seconds for window lengths (default ``time.perf_counter``).

    A window must be shorter than one counter wrap (``max_energy_range_uj`` / power: tens of minutes
    at typical package power); one wrap per window is undone, more cannot be detected.
    """

    min_window_s = 0.0
    method = "rapl"

    def __init__(self, root: str | os.PathLike = "/sys/class/powercap", *,
                 clock: Optional[Callable[[], float]] = None):
        self.root = Path(root)
        self.clock = clock or time.perf_counter
        self.zones: list[Path] = []
        self._status: Optional[MeterStatus] = None
        self._t0 = 0.0
        self._e0: list[int] = []

    def probe(self) -> MeterStatus:
        """Find the package zones and check their counters can be read; never raises."""
        if self._status is not None:
            return self._status
        if not self.root.is_dir():
            self._status = MeterStatus(False, "none", f"no RAPL: {self.root} does not exist (not Linux, or no powercap driver)")
            return self._status
        zones = sorted(p for p in self.root.iterdir()
                       if _TOP_ZONE.match(p.name) and (p / "energy_uj").exists())
        if not zones:
            self._status = MeterStatus(False, "none", f"no RAPL package zones under {self.root}")
            return self._status
        try:
            for z in zones:
                self._read(z / "energy_uj")
                self._read(z / "max_energy_range_uj")
        except BackendUnavailableError as e:
            self._status = MeterStatus(False, "none", str(e))
            return self._status
        self.zones = zones
        self._status = MeterStatus(True, self.method, "")
        return self._status

    @staticmethod
    def _read(path: Path) -> int:
        try:
            return int(path.read_text().strip())
        except PermissionError as e:
            raise BackendUnavailableError(
                f"permission denied reading {path} (root-only since Linux 5.10; run as root or "
                "make it readable, e.g. sudo chmod o+r on the energy_uj files)"
            ) from e
        except (OSError, ValueError) as e:
            raise BackendUnavailableError(f"cannot read {path}: {e}") from e

    def _counters(self) -> list[int]:
        return [self._read(z / "energy_uj") for z in self.zones]

    def start(self) -> None:
        """Open a window (raises :class:`BackendUnavailableError` when RAPL cannot be read)."""
        status = self.probe()
        if not status.available:
            raise BackendUnavailableError(f"RAPL energy meter unavailable: {status.reason}")
        self._t0 = self.clock()
        self._e0 = self._counters()

    def stop(self) -> EnergyReading:
        """Close the window; a counter that went backwards wrapped once at ``max_energy_range_uj``."""
        if not self._e0:
            raise BackendUnavailableError("RAPL meter stopped without a start")
        e1 = self._counters()
        t1 = self.clock()
        total_uj = 0
        for zone, a, b in zip(self.zones, self._e0, e1):
            if b >= a:
                total_uj += b - a
            else:
                total_uj += self._read(zone / "max_energy_range_uj") - a + b
        self._e0 = []
        seconds = t1 - self._t0
        joules = total_uj / 1e6
        return EnergyReading(joules, seconds, joules / seconds if seconds > 0 else float("nan"),
                             None, 2, self.method)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"RaplMeter({str(self.root)!r}, zones={[z.name for z in self.zones]})"
