"""A GPU that disappears mid-run, told apart from an ordinary failed configuration.

Two signs say a CUDA device is gone or unusable for the rest of the process:

* NVML answers ``NVML_ERROR_GPU_IS_LOST`` (15, ``pynvml.NVMLError_GpuIsLost``: the board fell off the bus,
  an XID 79) or ``NVML_ERROR_RESET_REQUIRED`` (16): every later call on that board fails the same way;
* torch raises a "sticky" CUDA error (``CUDA error: unspecified launch failure``, ``an illegal memory
  access was encountered``, ``device-side assert triggered`` ...): the CUDA context of that device is
  corrupted, and every later CUDA call on it in this process fails too.

An out-of-memory error is neither: the next (smaller) configuration may well run.

The energy meter raises :class:`GpuLostError` for the first; the sweep runner
(:func:`effkit.measurement.run.run_configs`) recognises both in a failed row, says so in its ``error`` and
stores the later configurations on that device as failed rows without touching it again.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from effkit.errors import EffkitError

#: nvmlReturn_t codes after which the board answers nothing (nvml.h; pynvml names them the same).
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
_NVML_LOST = {NVML_ERROR_GPU_IS_LOST: "GPU is lost", NVML_ERROR_RESET_REQUIRED: "GPU requires a reset"}
# The same two errors in a failed row's text, where only the words are left (lower case): pynvml's messages
# ("GPU is lost", "GPU requires restart"), its class names (``NVMLError_GpuIsLost: ...``), its wording when the
# library cannot name the code ("NVML Error with code 16"), and the cause as effkit words it.
_NVML_LOST_TEXT = re.compile(
    r"gpu is lost|nvmlerror_gpuislost|nvml error with code 15\b"
    r"|(?P<reset>gpu requires (?:a )?(?:restart|reset)|nvmlerror_resetrequired|nvml error with code 16\b)")

#: Texts of CUDA errors that leave the device's context unusable (as torch words them, lower case).
CUDA_STICKY = (
    "unspecified launch failure",
    "an illegal memory access was encountered",
    "illegal memory access",
    "device-side assert triggered",
    "misaligned address",
    "an illegal instruction was encountered",
    "uncorrectable ecc error encountered",
    "gpu has fallen off the bus",
    "the launch timed out and was terminated",
    "cuda error: unknown error",
)

#: How the lost-GPU reason starts (a failed row's ``error``).
LOST_PREFIX = "GPU lost during measurement"
_LOST_CAUSE = re.compile(re.escape(LOST_PREFIX) + r" \(([^()]+)\)")


class GpuLostError(EffkitError):
    """The GPU stopped answering in the middle of a measurement (NVML: GPU is lost, or a reset is required).

    Not a :class:`~effkit.errors.BackendUnavailableError`: a lost GPU fails the configuration (no number
    measured on it can be trusted), where a missing energy backend only leaves the energy columns empty.

    Attributes:
        device: the device, ``"cuda:N"``.
        cause: ``"NVML: GPU is lost"`` and the like.
    """

    def __init__(self, device: str, cause: str):
        super().__init__(f"{LOST_PREFIX} ({cause}) on {device}")
        self.device = device
        self.cause = cause


def nvml_lost_cause(e: BaseException) -> Optional[str]:
    """``"NVML: GPU is lost"`` (or ``"NVML: GPU requires a reset"``) when ``e`` (or an error it was raised from)
    is NVML's error of that code; else ``None``. The code decides, not the message's words."""
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, GpuLostError):
            return e.cause
        code = getattr(e, "value", None)
        if isinstance(code, int) and code in _NVML_LOST and "nvml" in type(e).__name__.lower():
            return f"NVML: {_NVML_LOST[code]}"
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def raise_if_lost(e: BaseException, device: str) -> None:
    """Raise :class:`GpuLostError` from ``e`` when ``e`` says the GPU is lost; return otherwise."""
    cause = nvml_lost_cause(e)
    if cause is not None:
        raise GpuLostError(device, cause) from e


def lost_cause(error: Any) -> Optional[str]:
    """What says the device is gone, from an exception or a failed row's ``error`` text; ``None`` otherwise.

    ``"NVML: GPU is lost"``, ``"CUDA error: unspecified launch failure"`` ...; an out-of-memory error is
    never one. An exception is judged by its NVML error code first (:func:`nvml_lost_cause`), by its text
    second; a row's ``error`` has only its text.
    """
    if isinstance(error, BaseException):
        cause = nvml_lost_cause(error)
        if cause is not None:
            return cause
        error = str(error)
    if not isinstance(error, str) or not error:
        return None
    found = _LOST_CAUSE.search(error)
    if found:
        return found.group(1)
    text = error.lower()
    if "out of memory" in text:
        return None
    nvml = _NVML_LOST_TEXT.search(text)
    if nvml:
        return f"NVML: {_NVML_LOST[NVML_ERROR_RESET_REQUIRED if nvml.group('reset') else NVML_ERROR_GPU_IS_LOST]}"
    for sticky in CUDA_STICKY:
        if sticky in text:
            return "CUDA error: " + sticky.removeprefix("cuda error: ")
    return None


def device_key(device: Any) -> str:
    """``"cuda"`` / ``"auto"`` (CUDA was in use, or nothing was lost) -> ``"cuda:0"``; ``"cuda:N"`` as given."""
    text = str(device or "").strip().lower()
    return "cuda:0" if text in ("cuda", "auto") else text


__all__ = ["CUDA_STICKY", "GpuLostError", "LOST_PREFIX", "NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_RESET_REQUIRED",
           "device_key", "lost_cause", "nvml_lost_cause", "raise_if_lost"]
