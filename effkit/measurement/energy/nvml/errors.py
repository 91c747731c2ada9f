"""NVML's errors in effkit's terms: the one place an ``NVMLError`` is read.

pynvml raises one exception type, ``NVMLError`` (a subclass per code), carrying the ``nvmlReturn_t`` code in
``value``. For a measurement a code means one of three things:

* the board is gone (``GPU_IS_LOST``, ``RESET_REQUIRED``): the configuration fails with
  :class:`~effkit.measurement.device_lost.GpuLostError`, and the runner skips that device from then on;
* the board or the driver's library does not offer this call (``NOT_SUPPORTED``, ``FUNCTION_NOT_FOUND``):
  try the next way of reading the same thing;
* anything else: NVML cannot be used for this (:class:`~effkit.errors.BackendUnavailableError`, in the
  caller's words), which leaves the energy columns empty with the reason and the measurement standing.

The error class is the NVML module's own (``nvml.NVMLError``), so an injected stand-in (the tests' fake)
is read exactly as pynvml is.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from effkit.errors import BackendUnavailableError
from effkit.measurement.device_lost import raise_if_lost

#: nvmlReturn_t codes (nvml.h) of a call this board or driver does not offer.
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NOT_OFFERED = frozenset({NVML_ERROR_NOT_SUPPORTED, NVML_ERROR_FUNCTION_NOT_FOUND})


def error_code(e: BaseException) -> Optional[int]:
    """The ``nvmlReturn_t`` code an NVML error carries (``None`` for any other exception)."""
    code = getattr(e, "value", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


class NvmlErrors:
    """How NVML errors of one module (pynvml, or a stand-in) are read for one device.

    Args:
        nvml: the ``pynvml``-compatible module whose ``NVMLError`` is caught.
        device: the CUDA device the calls are about (``"cuda:0"``), named in a lost-GPU error.
    """

    def __init__(self, nvml: Any, device: str):
        self.error: type = getattr(nvml, "NVMLError", Exception)
        self.device = device

    def raise_if_lost(self, e: BaseException) -> None:
        """Raise :class:`~effkit.measurement.device_lost.GpuLostError` from ``e`` when its code says the
        board is gone; return otherwise."""
        raise_if_lost(e, self.device)

    @staticmethod
    def not_offered(e: BaseException) -> bool:
        """Whether ``e`` says this board or driver does not offer the call (try another way)."""
        return error_code(e) in NOT_OFFERED

    @contextmanager
    def unavailable(self, message: str) -> Iterator[None]:
        """Run the block; an NVML error in it is a lost GPU, or :class:`BackendUnavailableError` with
        ``message`` (``{}`` is the NVML error's text)."""
        try:
            yield
        except self.error as e:
            self.raise_if_lost(e)
            raise BackendUnavailableError(message.format(e)) from e

    def answer(self, read: Callable[[], Any], *, lost: bool = True) -> Any:
        """``read()``, or ``None`` where NVML cannot answer it (an NVML error, or a function the binding lacks).

        ``lost``: a lost GPU raises :class:`GpuLostError` (``False``: context such as clocks, where the meter,
        not this read, reports the lost board).
        """
        try:
            return read()
        except (self.error, AttributeError) as e:
            if lost:
                self.raise_if_lost(e)
            return None


__all__ = ["NOT_OFFERED", "NVML_ERROR_FUNCTION_NOT_FOUND", "NVML_ERROR_NOT_SUPPORTED", "NvmlErrors", "error_code"]
