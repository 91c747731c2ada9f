"""Memory footprint of inference: measured peak beside the weights and the analytic activations.

GPU: ``torch.cuda.max_memory_allocated`` (and ``max_memory_reserved``) over a few forward passes
after ``reset_peak_memory_stats``; the weights are already on the device, so the peak includes them
(the paper's "memory footprint" = parameters + intermediate activations), and the weights-only size is
reported beside it. A CUDA-graph replay allocates nothing (its memory came from the pool at capture), so
the peak over replays shows weights and static input/output only (about 98 MiB instead of 468 MiB for
ResNet-50 at batch 32): a graph's peak is taken across its capture (:func:`peak_during`) or, after
capture, from eager passes of the same model; ``memory_method`` says which.

CPU: the peak increase of the process's resident set size (RSS) over its RSS just before the passes,
sampled every millisecond by a thread reading ``/proc/self/statm`` (Linux), after glibc's
``malloc_trim`` returned freed heap pages. The weights were resident before, so they are NOT in this
number; allocator caching and one-time buffers are; spikes shorter than the sampling period can be missed. Elsewhere the CPU figure is missing, with the reason.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

_STATM = "/proc/self/statm"


@dataclass(frozen=True)
class MemoryResult:
    """Measured and analytic memory of one configuration (bytes; ``None`` where not measurable).

    Attributes:
        peak_memory_bytes: GPU: peak allocated during inference, weights included. CPU: peak RSS increase
            during inference, weights excluded.
        peak_reserved_bytes: GPU: peak reserved by PyTorch's caching allocator; ``None`` on the CPU.
        weights_bytes: parameters and buffers of the model as measured (float32 unless converted).
        activation_bytes: the analysis's activation elements x element size of the measured dtype.
        method: what ``peak_memory_bytes`` measures, in words.
    """

    peak_memory_bytes: Optional[int]
    peak_reserved_bytes: Optional[int]
    weights_bytes: int
    activation_bytes: Optional[int]
    method: str


def weights_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters and buffers (shared tensors counted once)."""
    seen: dict[int, int] = {}
    for t in (*model.parameters(), *model.buffers()):
        seen.setdefault(id(t), t.numel() * t.element_size())
    return sum(seen.values())


def activation_bytes(activations: int, dtype: str | torch.dtype) -> int:
    """Analytic activation footprint: output elements of every op x bytes per element of ``dtype``."""
    from effkit.units import parse_dtype

    return int(activations) * torch.empty((), dtype=parse_dtype(dtype)).element_size()


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``) so that reusing them shows up as growth.

    Without it, memory freed by earlier passes (or an earlier model) sits in the heap and the next
    passes reuse it without the RSS moving: the increase would read near zero.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the measurement is rougher, not wrong
        pass


def _rss_bytes() -> int:
    with open(_STATM) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """Samples this process's RSS in a thread; ``peak_increase`` is the max over samples minus the start."""

    def __init__(self, period_s: float = 0.001):
        self.period_s = period_s
        self.start_bytes = 0
        self.peak_bytes = 0
        self._halt = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @staticmethod
    def available() -> bool:
        return os.path.exists(_STATM)

    def _run(self) -> None:
        while not self._halt.wait(self.period_s):
            self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    def __enter__(self) -> "RssPeak":
        _trim_heap()
        self.start_bytes = self.peak_bytes = _rss_bytes()
        self._thread = threading.Thread(target=self._run, name="effkit-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._halt.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, _rss_bytes())

    @property
    def peak_increase(self) -> int:
        return max(0, self.peak_bytes - self.start_bytes)


def peak_during(fn: Callable[[], None], device: torch.device) -> tuple[int, int]:
    """(peak allocated, peak reserved) bytes on ``device`` while ``fn`` runs (the peak is reset first).

    Wrap a CUDA-graph capture in it: the capture is the one pass whose activations are allocated.
    """
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device)), int(torch.cuda.max_memory_reserved(device))


#: ``memory_method`` of each way the GPU peak is taken.
CUDA_EAGER = "cuda: peak max_memory_allocated during eager inference, weights included"
CUDA_GRAPH_EAGER = ("cuda: peak max_memory_allocated during eager passes of the captured model "
                    "(a graph replay allocates nothing), weights included")
CUDA_GRAPH_CAPTURE = "cuda: peak max_memory_allocated across the CUDA-graph capture, weights included"


def measure_memory(step: Callable[[], None], device: torch.device, model: nn.Module, *,
                   activations: Optional[int] = None, dtype: str | torch.dtype = "float32",
                   iters: int = 3, capture_peak: Optional[tuple[int, int]] = None) -> MemoryResult:
    """Peak memory over ``iters`` forward passes of ``step`` on ``device``.

    ``step`` may be a :class:`~effkit.measurement.timing.Runner`: when it replays a captured graph, the
    peak comes from ``capture_peak`` (what :func:`peak_during` saw around the capture) if given, else
    from its eager passes (``step.eager``), never from replays. Run it after warm-up and outside the
    timed loop (the CPU sampler thread would disturb timing).
    """
    wb = weights_bytes(model)
    ab = activation_bytes(activations, dtype) if activations is not None else None
    if device.type == "cuda":
        graph = getattr(step, "graph", None) is not None
        if graph and capture_peak is not None:
            return MemoryResult(int(capture_peak[0]), int(capture_peak[1]), wb, ab, CUDA_GRAPH_CAPTURE)
        passes = step.eager if graph else step

        def run():
            for _ in range(iters):
                passes()

        allocated, reserved = peak_during(run, device)
        return MemoryResult(allocated, reserved, wb, ab, CUDA_GRAPH_EAGER if graph else CUDA_EAGER)
    if not RssPeak.available():
        return MemoryResult(None, None, wb, ab, "cpu: not measured (no /proc/self/statm on this system)")
    with RssPeak() as rss:
        for _ in range(iters):
            step()
    return MemoryResult(
        rss.peak_increase, None, wb, ab,
        "cpu: peak RSS increase over the RSS before inference (1 ms sampling), weights excluded",
    )
