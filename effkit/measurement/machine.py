"""Which machine a measurement came from: the fingerprint stored beside every result row."""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import socket
import subprocess
from typing import Any, Optional

import torch

#: What "float32" means on CUDA: TF32 convolutions are torch's default, TF32 matmuls are not.
PRECISION_FIELDS = (
    "cudnn_allow_tf32", "matmul_allow_tf32", "float32_matmul_precision", "conv_fp32_precision",
    "matmul_fp32_precision",
)

FINGERPRINT_FIELDS = (
    "machine_id", "gpu_name", "gpu_uuid", "driver_version", "cuda_version", "cudnn_version", "cpu_model",
    "hostname", "torch_version", "effkit_version", "git_commit", *PRECISION_FIELDS,
)


def _read(fn) -> Any:
    try:
        return fn()
    except (AttributeError, RuntimeError):  # an older torch without the setting, or a legacy/new API clash
        return None


def precision_settings() -> dict:
    """torch's float32 precision settings now: the legacy ``allow_tf32`` flags, ``get_float32_matmul_precision()``
    and, where torch has them, the per-backend ``fp32_precision`` settings (``None`` where missing)."""
    b = torch.backends
    return {
        "cudnn_allow_tf32": _read(lambda: bool(b.cudnn.allow_tf32)),
        "matmul_allow_tf32": _read(lambda: bool(b.cuda.matmul.allow_tf32)),
        "float32_matmul_precision": _read(torch.get_float32_matmul_precision),
        "conv_fp32_precision": _read(lambda: str(b.cudnn.conv.fp32_precision)),
        "matmul_fp32_precision": _read(lambda: str(b.cuda.matmul.fp32_precision)),
    }


def _knobs() -> list[tuple[Any, str]]:
    """torch's per-backend ``fp32_precision`` settings that exist in this version, parents before children."""
    b = torch.backends
    found = []
    for path in ("", "cuda", "cuda.matmul", "cudnn", "cudnn.conv", "cudnn.rnn", "mkldnn", "mkldnn.matmul",
                 "mkldnn.conv", "mkldnn.rnn"):
        obj = b
        for part in filter(None, path.split(".")):
            obj = getattr(obj, part, None)
        if obj is not None and _read(lambda: obj.fp32_precision) is not None:
            found.append((obj, "fp32_precision"))
    return found


@contextlib.contextmanager
def tf32(enabled: Optional[bool]):
    """TF32 for float32 convolutions and matmuls on (``True``) or off (``False``) for the block; ``None``
    leaves torch's settings alone. Every setting it touches is restored after, exactly as it was read."""
    if enabled is None:
        yield
        return
    b = torch.backends
    # Restore the legacy flags first when they were readable (writing only the per-backend values back
    # leaves torch refusing legacy reads), then every per-backend value exactly as it was.
    legacy = (_read(lambda: b.cudnn.allow_tf32), _read(lambda: b.cuda.matmul.allow_tf32),
              _read(torch.get_float32_matmul_precision))
    knobs = [(obj, name, getattr(obj, name)) for obj, name in _knobs()]
    try:
        b.cudnn.allow_tf32 = bool(enabled)
        b.cuda.matmul.allow_tf32 = bool(enabled)
        torch.set_float32_matmul_precision("high" if enabled else "highest")
        yield
    finally:
        if None not in legacy:
            torch.set_float32_matmul_precision(legacy[2])
            b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32 = legacy[0], legacy[1]
        for obj, name, value in knobs:  # parents first: setting a parent resets its children
            setattr(obj, name, value)


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_commit(cwd: Optional[str] = None) -> Optional[str]:
    """HEAD of the git checkout around ``cwd`` (default: the current folder), or ``None``; never raises."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd or os.getcwd(), capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) >= 7 else None


def _gpu_fields(device: torch.device, nvml=None) -> dict:
    props = torch.cuda.get_device_properties(device)
    uuid = getattr(props, "uuid", None)
    fields = {"gpu_name": props.name, "gpu_uuid": str(uuid) if uuid is not None else None, "driver_version": None}
    try:
        from effkit.measurement.energy.nvml import NvmlGpu

        gpu = NvmlGpu(device.index or 0, nvml=nvml)
        try:
            fields["driver_version"] = gpu.driver_version()
            fields["gpu_uuid"] = fields["gpu_uuid"] or gpu.uuid
        finally:
            gpu.close()
    except Exception:  # the driver version is a nicety; a fingerprint never fails for it
        pass
    return fields


def fingerprint(device: str | torch.device = "cpu", *, nvml=None) -> dict:
    """Facts about this machine and software, plus a stable ``machine_id``.

    Args:
        device: the device measured (``"cpu"``, ``"cuda:0"``, ``"auto"``); GPU fields are ``None`` on the CPU.
        nvml: a ``pynvml``-compatible module for the driver version (default ``import pynvml``).

    Returns:
        ``{field: value}`` for :data:`FINGERPRINT_FIELDS`. ``machine_id`` is a hash of host name, CPU
        model and GPU UUID: the same for every run on this machine and device, different elsewhere.
    """
    from effkit._version import __version__
    from effkit.devices import resolve_device

    dev = resolve_device(device)
    fp = {
        "gpu_name": None, "gpu_uuid": None, "driver_version": None,
        "cuda_version": torch.version.cuda,
        "cudnn_version": None,
        "cpu_model": cpu_model(),
        "hostname": socket.gethostname(),
        "torch_version": torch.__version__,
        "effkit_version": __version__,
        "git_commit": git_commit(),
        **precision_settings(),
    }
    if dev.type == "cuda":
        fp.update(_gpu_fields(dev, nvml))
        try:
            v = torch.backends.cudnn.version()
            fp["cudnn_version"] = str(v) if v else None
        except Exception:
            pass
    key = "|".join(str(fp[k] or "") for k in ("hostname", "cpu_model", "gpu_uuid"))
    fp["machine_id"] = hashlib.sha256(key.encode()).hexdigest()[:16]
    return {k: fp[k] for k in FINGERPRINT_FIELDS}


# -- how busy the machine is while a row is measured (stored with every row; see effkit.trust) --


def load_average() -> Optional[float]:
    """The 1-minute load average now (:func:`os.getloadavg`), or ``None`` where the OS has none (Windows)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def usable_cpus() -> Optional[int]:
    """The CPUs this process may run on: its affinity mask where the OS has one, else :func:`os.cpu_count`."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def load_columns() -> dict:
    """The columns read before a row is measured: ``load_1m_before``, ``torch_threads`` and ``cpu_count``."""
    return {"load_1m_before": load_average(), "torch_threads": torch.get_num_threads(), "cpu_count": usable_cpus()}
