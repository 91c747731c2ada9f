"""The NVML device behind a CUDA device: an NVML session bound to the board torch calls ``cuda:N``.

The NVML device is matched to the CUDA device by UUID (else PCI bus id): NVML numbers all GPUs in PCI
bus order, CUDA only the visible ones (``CUDA_VISIBLE_DEVICES``) and, by default, fastest first
(``CUDA_DEVICE_ORDER=FASTEST_FIRST``); only ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` makes the two orders agree.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from effkit.errors import BackendUnavailableError
from effkit.measurement.energy.nvml.errors import NvmlErrors
from effkit.measurement.energy.nvml.state import read_state

_MIG_ENABLE = 1  # NVML_DEVICE_MIG_ENABLE


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
        GpuLostError: NVML says the board is lost.
    """

    def __init__(self, cuda_index: int, *, nvml=None, device_uuid: Optional[str] = None,
                 pci_bus_id: Optional[str] = None):
        self.nvml = nvml if nvml is not None else _import_pynvml()
        self.cuda_index = cuda_index
        self.errors = NvmlErrors(self.nvml, f"cuda:{cuda_index}")
        with self.errors.unavailable("NVML could not start ({}); is the NVIDIA driver loaded?"):
            self.nvml.nvmlInit()
        self._open = True
        try:
            want_uuid = normalise_uuid(device_uuid) if device_uuid else None
            want_pci = _parse_bus_id(pci_bus_id) if pci_bus_id else None
            if want_uuid is None and want_pci is None:
                want_uuid, want_pci = _cuda_identity(cuda_index)
            with self.errors.unavailable("NVML could not list devices ({})"):
                self.handle, self.uuid = self._find(want_uuid, want_pci)
            self.mig = self._is_mig(device_uuid)
        except BaseException:
            self.close()
            raise

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
        # no MIG on this board or this driver (NotSupported, FunctionNotFound): not a MIG instance
        modes = self.errors.answer(lambda: self.nvml.nvmlDeviceGetMigMode(self.handle), lost=False)
        if modes is None:
            return False
        return int(modes[0]) == getattr(self.nvml, "NVML_DEVICE_MIG_ENABLE", _MIG_ENABLE)

    def name(self) -> str:
        return _text(self.nvml.nvmlDeviceGetName(self.handle))

    def driver_version(self) -> str:
        return _text(self.nvml.nvmlSystemGetDriverVersion())

    def state(self) -> dict:
        """Clocks (MHz), temperature (C), power (W) and active clock-event reasons; unreadable fields are left out
        (see :func:`~effkit.measurement.energy.nvml.state.read_state`)."""
        return read_state(self)

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # shutting down a half-started NVML must not hide the real error
                pass


__all__ = ["NvmlGpu", "normalise_uuid"]
