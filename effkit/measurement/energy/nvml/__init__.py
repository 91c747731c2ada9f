"""NVIDIA GPUs through NVML (``pynvml``, from the nvidia-ml-py package).

``device.py`` binds an NVML session to the board behind a CUDA device (:class:`NvmlGpu`); ``meter.py`` reads
its energy (:class:`NvmlMeter`: counter, else instant power, else averaged power); ``state.py`` decodes what
NVML says about the board (clocks, clock-event reasons, field values); ``errors.py`` is the one place an
NVML error code is turned into effkit's terms (a lost GPU, a call not offered, NVML unusable).
"""

from effkit.measurement.energy.nvml.device import NvmlGpu, normalise_uuid
from effkit.measurement.energy.nvml.errors import NvmlErrors
from effkit.measurement.energy.nvml.meter import (AVERAGED_MIN_WINDOW_S, MIG_NOT_ATTRIBUTABLE, MIG_WHOLE_BOARD,
                                                  NvmlMeter, PowerAverageWarning)
from effkit.measurement.energy.nvml.state import (THROTTLE_REASONS, clocks_dropped, clocks_dropped_any,
                                                  field_value, reason_names, state_json)

__all__ = ["AVERAGED_MIN_WINDOW_S", "MIG_NOT_ATTRIBUTABLE", "MIG_WHOLE_BOARD", "NvmlErrors", "NvmlGpu", "NvmlMeter",
           "PowerAverageWarning", "THROTTLE_REASONS", "clocks_dropped", "clocks_dropped_any", "field_value",
           "normalise_uuid", "reason_names", "state_json"]
