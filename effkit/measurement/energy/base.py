"""The energy-meter protocol and its null object: what every backend implements and what stands in for none.

A meter measures windows: ``start()`` ... ``stop() -> EnergyReading``. ``probe()`` says beforehand
whether (and how) the device can be measured. The backends (:mod:`.nvml`, :mod:`.rapl`) import this module
only; :mod:`.meter` picks one for a device and runs the measurement method on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, runtime_checkable

from effkit.errors import BackendUnavailableError


@dataclass(frozen=True)
class EnergyReading:
    """One measured window.

    Attributes:
        joules: energy drawn by the measured device during the window.
        seconds: window length.
        mean_w: ``joules / seconds``.
        peak_w: highest power sample seen, or ``None`` when the method only reads a counter.
        samples: readings taken (2 for a counter: start and stop).
        method: how it was measured (``nvml_energy_counter``, ``nvml_power_instant``, ``nvml_power_avg``, ``rapl``).
    """

    joules: float
    seconds: float
    mean_w: float
    peak_w: Optional[float]
    samples: int
    method: str


@dataclass(frozen=True)
class MeterStatus:
    """What :meth:`EnergyMeter.probe` found: usable or not, by which method, and why not."""

    available: bool
    method: str
    reason: str = ""
    #: the reason is itself the row's ``energy_status`` (e.g. MIG's "whole board (MIG): not attributable")
    verbatim: bool = False

    def row_status(self) -> str:
        """``energy_status`` before measuring: ``pending``, the reason itself, or ``unavailable: <reason>``."""
        if self.available:
            return "pending"
        return self.reason if self.verbatim else f"unavailable: {self.reason}"


@runtime_checkable
class EnergyMeter(Protocol):
    """A source of energy readings for one device."""

    #: Shortest window the method gives trustworthy numbers for (seconds); 0 for counters.
    min_window_s: float

    def probe(self) -> MeterStatus:
        """Check, without raising, whether this meter can measure here."""

    def start(self) -> None:
        """Begin a window. Raises :class:`BackendUnavailableError` when the meter cannot measure."""

    def stop(self) -> EnergyReading:
        """End the window begun by :meth:`start` and return what it drew."""

    def close(self) -> None:
        """Release the backend (NVML handles, threads)."""


class NullMeter:
    """The meter for a device that cannot be measured; it remembers why.

    ``probe()`` reports unavailable with the reason; ``start``/``stop`` raise
    :class:`BackendUnavailableError` so nobody mistakes a missing reading for zero joules.
    """

    min_window_s = 0.0

    def __init__(self, reason: str, *, verbatim: bool = False):
        self.reason = reason
        self.verbatim = verbatim

    def probe(self) -> MeterStatus:
        return MeterStatus(False, "none", self.reason, verbatim=self.verbatim)

    def start(self) -> None:
        raise BackendUnavailableError(f"no energy meter: {self.reason}")

    def stop(self) -> EnergyReading:
        raise BackendUnavailableError(f"no energy meter: {self.reason}")

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"NullMeter({self.reason!r})"


def trapezoid_joules(times_s: list[float], power_w: list[float]) -> float:
    """Energy of a power trace by the trapezoidal rule: sum of (t[i+1]-t[i]) * (p[i]+p[i+1]) / 2."""
    return sum((t1 - t0) * (p0 + p1) / 2.0
               for t0, t1, p0, p1 in zip(times_s, times_s[1:], power_w, power_w[1:]))
