"""Energy meters: one protocol (:mod:`.base`), NVML for NVIDIA GPUs (:mod:`.nvml`), RAPL for CPUs
(:mod:`.rapl`), and :class:`~.base.NullMeter` when neither can measure.

Adding a power source means one class with ``probe``/``start``/``stop``/``close`` and a branch in
:func:`~.meter.open_meter`.
"""

from effkit.measurement.energy.base import EnergyMeter, EnergyReading, MeterStatus, NullMeter
from effkit.measurement.energy.meter import EnergyResult, measure_energy, open_meter

__all__ = ["EnergyMeter", "EnergyReading", "EnergyResult", "MeterStatus", "NullMeter", "measure_energy",
           "open_meter"]
