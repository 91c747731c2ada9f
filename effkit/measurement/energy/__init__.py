"""Energy meters: one protocol (:mod:`.meter`), NVML for NVIDIA GPUs (:mod:`.nvml`), RAPL for CPUs
(:mod:`.rapl`), and :class:`~.meter.NullMeter` when neither can measure.

Adding a power source means one class with ``probe``/``start``/``stop``/``close`` and a branch in
:func:`~.meter.open_meter`.
"""

from effkit.measurement.energy.meter import (
    EnergyMeter, EnergyReading, EnergyResult, MeterStatus, NullMeter, measure_energy, open_meter,
)

__all__ = ["EnergyMeter", "EnergyReading", "EnergyResult", "MeterStatus", "NullMeter", "measure_energy",
           "open_meter"]
