"""A configuration that could not be measured: its row, in one wording.

Every failed row says why in ``error``, worded by :func:`error_text` whether the failure came from inside a
measurement (:func:`effkit.measurement.row.measure_row`), from a ``measure_fn`` that raised
(:func:`effkit.measurement.run.measure_one`) or from a Ray task that died; a lost GPU is named first
(:func:`name_lost`), and the later configurations on it become rows of :class:`LostDevices`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from effkit.errors import EffkitError


def error_text(e: BaseException) -> str:
    """Why a configuration failed, on one line: an effkit error's own message (written for the reader), any
    other exception as ``Type: message``, its whitespace and line breaks collapsed to single spaces."""
    msg = " ".join(str(e).split())
    return msg if isinstance(e, EffkitError) else f"{type(e).__name__}: {msg}".rstrip(": ")


def failed_row(config, error: str, machine: Optional[Mapping[str, Any]] = None) -> dict:
    """A result row for a configuration that could not be measured (``status="failed"``, ``error`` set).

    The same row a measured configuration starts from (:func:`effkit.measurement.config.base_row`).
    """
    from effkit.measurement.config import base_row

    return base_row(config, machine=machine, error=error)


def out_of_memory_text(e: BaseException, batch_size: int) -> Optional[str]:
    """``out of memory at batch size N (...)`` for an out-of-memory error (CUDA's or the host's); else ``None``."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    if (oom and isinstance(e, oom)) or isinstance(e, MemoryError) or "out of memory" in str(e).lower():
        return f"out of memory at batch size {batch_size} ({error_text(e)})"
    return None


def name_lost(row: dict, error: Optional[BaseException] = None) -> dict:
    """A failed row whose error says its GPU is gone (NVML's "GPU is lost", a sticky CUDA error) says so first.

    ``error``: the exception the row's ``error`` was worded from, when there is one: its NVML code is read
    before the words."""
    from effkit.measurement.device_lost import LOST_PREFIX, device_key, lost_cause

    device = device_key(row.get("device"))
    said = error if error is not None else row.get("error")
    cause = lost_cause(said) if row.get("status") != "ok" and device.startswith("cuda") else None
    if cause is not None and not str(row["error"]).startswith(LOST_PREFIX):
        row["error"] = f"{LOST_PREFIX} ({cause}) on {device}"
    return row


def machine_columns(device) -> dict:
    """The fingerprint for a failed row: of ``device``, else of the CPU, else nothing (the row is still written)."""
    from effkit.measurement.machine import fingerprint

    for dev in (device, "cpu"):
        try:
            return fingerprint(dev)
        except Exception:  # e.g. the device itself is unusable; the failed row still needs writing
            continue
    return {}


class LostDevices:
    """The CUDA devices lost during this run: later configurations on them are stored failed, not measured.

    A lost GPU (or a CUDA context a sticky error has corrupted) fails every later call on it, some only
    after a long driver timeout; touching it again for each remaining configuration only adds failures.
    Other devices go on. Failed rows are retried by a later ``resume`` run, once the device is back.
    """

    def __init__(self) -> None:
        self._lost: dict[str, tuple[str, dict]] = {}  # device -> (its failed row's error, machine columns)

    def skip(self, config) -> Optional[dict]:
        """The failed row for ``config`` when its device was lost earlier in this run; else ``None``."""
        from effkit.measurement.device_lost import device_key

        key = device_key(config.device)
        if key not in self._lost:
            return None
        error, machine = self._lost[key]
        return failed_row(config, f"skipped: {error.split(';')[0]} in an earlier configuration of this run",
                          machine)

    def note(self, row: dict) -> None:
        """Remember the device of ``row`` if the row says it was lost (and say in the row what follows)."""
        from effkit.measurement.device_lost import LOST_PREFIX, device_key
        from effkit.measurement.machine import FINGERPRINT_FIELDS

        key = device_key(row.get("device"))
        error = str(row.get("error") or "")
        if row.get("status") == "ok" or key in self._lost or not error.startswith(LOST_PREFIX):
            return
        row["error"] = f"{error}; later configurations on that device are skipped"
        self._lost[key] = (error, {k: row.get(k) for k in FINGERPRINT_FIELDS if k in row})


__all__ = ["LostDevices", "error_text", "failed_row", "machine_columns", "name_lost", "out_of_memory_text"]
