"""Latency and throughput of a model's forward pass.

Warm-up (at least ``warmup_iters`` and ``warmup_s``), then timed iterations until both ``min_iters``
and ``min_time_s`` are reached. On a GPU each iteration is bracketed by CUDA events and the host
synchronises once per chunk of iterations, never inside one, so the loop is the plain event loop a user
would write; on a CPU each iteration is timed with ``perf_counter``.

Two definitions, because eager inference has host-side gaps between iterations and a latency tail:
``fps`` is sustained throughput, images / timed span, where the span is the sum over chunks of the time
from the first iteration's start to the last one's end (gaps between back-to-back iterations included);
``latency_ms`` and its percentiles come from the per-iteration events (gaps excluded). ``batch / median
latency`` is neither: on an H100 it over-states throughput by 2-25 % for the paper's backbones.

Nothing else runs in the timed loop: no hooks, no per-layer bookkeeping. :func:`measure_layers` is a
separate pass for per-layer times.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch
from torch import nn

from effkit.errors import BackendUnavailableError, BadInputError, setting

#: Iterations between host synchronisations on a GPU (bounds the queue of pending CUDA events).
_CHUNK = 16


@dataclass(frozen=True)
class TimingResult:
    """Latency statistics of one configuration (all latencies per batch, in milliseconds).

    Attributes:
        latency_ms: median.
        latency_p90_ms / latency_p99_ms: 90th / 99th percentile (linear interpolation).
        latency_min_ms: fastest iteration.
        latency_iqr_ms: interquartile range (p75 - p25), the spread.
        iterations: timed iterations.
        batch_size: images per iteration.
        fps: sustained throughput, ``iterations * batch_size / span_s``.
        samples_ms: every timed iteration, in order.
        timer: ``"cuda_event"`` or ``"perf_counter"``.
        span_s: the timed span: summed over chunks, first iteration's start to last iteration's end.
    """

    latency_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_min_ms: float
    latency_iqr_ms: float
    iterations: int
    batch_size: int
    fps: float
    samples_ms: tuple[float, ...] = ()
    timer: str = "perf_counter"
    span_s: float = math.nan

    def flops_per_s(self, flops: float) -> float:
        """Achieved FLOP/s, sustained: ``flops`` of one batch x iterations / timed span (= flops x fps / batch)."""
        return flops * self.fps / self.batch_size


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of sorted values, linear between closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ms: Sequence[float], batch_size: int, timer: str = "perf_counter",
              span_s: Optional[float] = None) -> TimingResult:
    """Statistics of per-iteration latencies (ms) for ``batch_size`` images per iteration.

    ``span_s`` is the timed span of all iterations (gaps between them included); without it the span is
    the sum of the latencies (a loop with no gaps).
    """
    if not samples_ms:
        raise ValueError("no timed iterations")
    s = sorted(float(v) for v in samples_ms)
    median = statistics.median(s)
    span = float(span_s) if span_s is not None else sum(s) / 1000.0
    return TimingResult(
        latency_ms=median,
        latency_p90_ms=percentile(s, 90),
        latency_p99_ms=percentile(s, 99),
        latency_min_ms=s[0],
        latency_iqr_ms=percentile(s, 75) - percentile(s, 25),
        iterations=len(s),
        batch_size=batch_size,
        fps=len(s) * batch_size / span if span > 0 else math.inf,
        samples_ms=tuple(float(v) for v in samples_ms),
        timer=timer,
        span_s=span,
    )


def autocast_dtype(dtype: str | torch.dtype) -> Optional[torch.dtype]:
    """The autocast dtype for a measurement dtype; ``None`` for float32 (plain eager, as the paper)."""
    from effkit.units import parse_dtype

    d = parse_dtype(dtype)
    if d == torch.float32:
        return None
    if d in (torch.float16, torch.bfloat16):
        return d
    raise BadInputError(f"dtype {dtype!r} cannot be measured; use float32, float16 or bfloat16")


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for ``device`` to finish queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def device_context(device: torch.device):
    """Make ``device`` the current CUDA device for the block (events and streams belong to it); no-op on CPU."""
    if device.type == "cuda":
        return torch.cuda.device(device)
    return contextlib.nullcontext()


@contextlib.contextmanager
def cudnn_benchmark(enabled: bool):
    """Set ``torch.backends.cudnn.benchmark`` for the block and restore the previous value after."""
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def inference_context(device: torch.device, dtype: str | torch.dtype, *, cache_enabled: bool = True):
    """``inference_mode`` plus autocast for float16/bfloat16."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    ad = autocast_dtype(dtype)
    if ad is not None:
        stack.enter_context(torch.autocast(device_type=device.type, dtype=ad, cache_enabled=cache_enabled))
    return stack


class Runner:
    """One forward step of a prepared model on a fixed input: eager, or the replay of a captured CUDA graph.

    Args:
        model: the model, already in eval mode on ``x``'s device (and channels-last if wanted).
        x: the input batch.
        dtype: measurement dtype (autocast for float16/bfloat16).
        cuda_graph: capture one forward pass as a CUDA graph and replay it (after the caller's warm-up
            of at least a few eager iterations; capture itself warms up on a side stream first).
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, dtype: str | torch.dtype = "float32", *,
                 cuda_graph: bool = False):
        self.model = model
        self.x = x
        self.device = x.device
        self.dtype = dtype
        self.cuda_graph = cuda_graph
        self.graph = None
        self.out = None
        if cuda_graph and self.device.type != "cuda":
            raise BadInputError(f"{setting('cuda_graph')} needs a CUDA device; drop it or use {setting('device')} cuda",
                                field="cuda_graph")
        self.sync = synchronizer(self.device)

    def eager(self) -> None:
        with inference_context(self.device, self.dtype):
            self.out = self.model(self.x)

    def capture(self) -> None:
        """Capture the graph (a few eager passes on a side stream first, as PyTorch requires)."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.eager()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.sync()
        graph = torch.cuda.CUDAGraph()
        # Autocast's weight cache would be filled during capture and freed after: keep it off.
        with torch.cuda.graph(graph), inference_context(self.device, self.dtype, cache_enabled=False):
            self.out = self.model(self.x)
        self.graph = graph
        self.sync()

    def __call__(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        else:
            self.eager()


def warm_up(step: Callable[[], None], sync: Callable[[], None], *, warmup_s: float, warmup_iters: int,
            clock: Callable[[], float] = time.perf_counter) -> int:
    """Run ``step`` until both ``warmup_iters`` and ``warmup_s`` are reached; returns the iterations run."""
    n = 0
    t0 = clock()
    while n < warmup_iters or clock() - t0 < warmup_s:
        step()
        n += 1
        if n % _CHUNK == 0:
            sync()  # let the clock see the device's real progress, not the launch queue's
    sync()
    return n


def time_step(step: Callable[[], None], device: torch.device, batch_size: int, *, min_iters: int = 10,
              min_time_s: float = 1.0, clock: Callable[[], float] = time.perf_counter,
              event: Optional[Callable[[], object]] = None) -> TimingResult:
    """Time ``step`` until both ``min_iters`` iterations and ``min_time_s`` seconds are reached.

    GPU: a CUDA event pair per iteration, host synchronisation once per chunk of :data:`_CHUNK`
    iterations; the chunk's span runs from its first start event to its last end event. CPU: ``clock``
    around each iteration, the span from the chunk's first start to its last end the same way.

    Args:
        clock: seconds (CPU timing, and the ``min_time_s`` check on both).
        event: makes a timing event (default ``torch.cuda.Event(enable_timing=True)``; tests pass a fake).
    """
    samples: list[float] = []
    span_ms = 0.0
    t0 = clock()
    if device.type == "cuda":
        make = event or (lambda: torch.cuda.Event(enable_timing=True))
        while len(samples) < min_iters or clock() - t0 < min_time_s:
            events = [(make(), make()) for _ in range(_CHUNK)]
            for start, end in events:
                start.record()
                step()
                end.record()
            events[-1][1].synchronize()
            samples.extend(s.elapsed_time(e) for s, e in events)
            span_ms += events[0][0].elapsed_time(events[-1][1])
        return summarize(samples, batch_size, timer="cuda_event", span_s=span_ms / 1000.0)
    while len(samples) < min_iters or clock() - t0 < min_time_s:
        first = clock()
        for _ in range(_CHUNK):
            a = clock()
            step()
            samples.append((clock() - a) * 1000.0)
            if len(samples) >= min_iters and clock() - t0 >= min_time_s:
                break
        span_ms += (clock() - first) * 1000.0
    return summarize(samples, batch_size, timer="perf_counter", span_s=span_ms / 1000.0)


def prepare(model: nn.Module, input_shape: Sequence[int], device: torch.device, *,
            channels_last: bool = False, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """Put ``model`` in eval mode on ``device`` (channels-last if asked) and make a random input batch.

    The model stays float32: float16/bfloat16 are applied by autocast, as mixed-precision inference runs.
    """
    model = model.eval().to(device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tuple(input_shape), generator=gen).to(device)
    if channels_last:
        if x.dim() != 4:
            raise BadInputError(f"{setting('channels_last')} needs a 4-d input (N,C,H,W), got shape {tuple(input_shape)}",
                                field="channels_last")
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x


def plain_event_loop_fps(model: nn.Module, x: torch.Tensor, iters: int = 100, warmup: int = 20,
                         dtype: str | torch.dtype = "float32") -> float:
    """Images per second from the simplest loop there is: events around ``iters`` back-to-back forwards.

    The reference effkit's own timing is checked against (``benchmarks/``); CUDA only.
    """
    if x.device.type != "cuda":
        raise BackendUnavailableError("plain_event_loop_fps needs a CUDA tensor")
    with device_context(x.device), inference_context(x.device, dtype):
        for _ in range(warmup):
            model(x)
        torch.cuda.synchronize(x.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            model(x)
        end.record()
        end.synchronize()
    return iters * x.shape[0] / (start.elapsed_time(end) / 1000.0)


# --- per-layer pass ---------------------------------------------------------------------------

def _leaf_paths(model: nn.Module) -> dict[int, tuple[str, ...]]:
    """id(module) -> path tuple of the model's leaf modules (first name of a shared module, as the analysis)."""
    names: dict[int, tuple[str, ...]] = {}
    for name, mod in model.named_modules(remove_duplicate=False):
        if next(mod.children(), None) is None:
            names.setdefault(id(mod), tuple(name.split(".")) if name else ())
    return names


def time_layers(model: nn.Module, x: torch.Tensor, *, dtype: str | torch.dtype = "float32",
                iters: int = 10, warmup_iters: int = 3) -> dict[tuple[tuple[str, ...], int], float]:
    """Median time (ms) of every call of every leaf module over ``iters`` forward passes.

    Forward pre/post hooks bracket each leaf call with CUDA events (GPU) or ``perf_counter`` (CPU, or
    GPU with a synchronise in each hook when events are unavailable). This is a SEPARATE pass: hooks
    and events add overhead, so per-layer times sum to more than the whole-model latency.

    Returns:
        ``{(path, call index): median ms}``.
    """
    paths = _leaf_paths(model)
    cuda = x.device.type == "cuda"
    per_iter: list[list] = []
    current: list = []
    stack: dict[int, list] = {}
    counts: dict[int, int] = {}

    def pre(mod, args):
        n = counts.get(id(mod), 0)
        counts[id(mod)] = n + 1
        if cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            stack.setdefault(id(mod), []).append((n, ev))
        else:
            stack.setdefault(id(mod), []).append((n, time.perf_counter()))

    def post(mod, args, out):
        n, begin = stack[id(mod)].pop()
        if cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            current.append((paths[id(mod)], n, begin, ev))
        else:
            current.append((paths[id(mod)], n, begin, time.perf_counter()))

    handles = []
    seen = set()
    for mod in model.modules():
        if id(mod) in paths and id(mod) not in seen:
            seen.add(id(mod))
            handles.append(mod.register_forward_pre_hook(pre))
            handles.append(mod.register_forward_hook(post))
    try:
        with device_context(x.device), inference_context(x.device, dtype):
            for i in range(warmup_iters + iters):
                current.clear()
                counts.clear()
                model(x)
                if cuda:
                    torch.cuda.synchronize(x.device)
                if i >= warmup_iters:
                    per_iter.append([
                        (p, n, b.elapsed_time(e) if cuda else (e - b) * 1000.0) for p, n, b, e in current
                    ])
    finally:
        for h in handles:
            h.remove()
    times: dict[tuple[tuple[str, ...], int], list[float]] = {}
    for rows in per_iter:
        for p, n, ms in rows:
            times.setdefault((p, n), []).append(ms)
    return {k: statistics.median(v) for k, v in times.items()}
