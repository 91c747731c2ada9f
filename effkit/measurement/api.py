"""Measure models: latency, FPS, achieved FLOP/s, peak memory and energy per image, one row per configuration.

:func:`measure` sweeps batch sizes of one model, :func:`compare` several models, :func:`measure_config`
runs exactly one :class:`MeasureConfig` (what a sweep runner hands to a worker). Each row carries the
analysis totals at the same input shape, the settings, the machine fingerprint and, where it failed, the
error; a failed configuration never stops the others. Rows go to a :class:`~effkit.store.Store` as
each one is made.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import torch
from torch import nn

from effkit.errors import BackendUnavailableError, BadInputError, UnknownModelError, setting
from effkit.measurement.settings import MeasureSettings

#: The paper's backbones (Table 4), what ``compare`` measures by default.
DEFAULT_MODELS = ("vovnet39", "vovnet57", "densenet121", "densenet161", "densenet201", "resnet50", "resnet101")
#: ``compare(small=True)``: VoVNet-27-slim (the paper's Table 2 backbone) beside the smallest zoo ResNet and DenseNet.
SMALL_MODELS = ("vovnet27_slim", "resnet18", "densenet121")

#: Result columns in display order (fingerprint fields follow; see :data:`effkit.measurement.machine.FINGERPRINT_FIELDS`).
ROW_COLUMNS = [
    "model", "family", "status", "error", "device", "batch_size", "input_shape", "dtype", "channels_last",
    "cuda_graph", "params", "mult_adds", "flops", "paper_mac", "mac", "mac_bytes", "activations",
    "latency_ms", "latency_p90_ms", "latency_p99_ms", "latency_min_ms", "latency_iqr_ms", "iterations", "fps",
    "timed_span_s", "flops_per_s", "peak_memory_bytes", "peak_reserved_bytes", "weights_bytes",
    "activation_bytes", "memory_method", "energy_j_per_img", "energy_j_per_img_net", "energy_j_per_img_std",
    "mean_power_w", "peak_power_w", "idle_power_w", "idle_measured_at", "idle_method", "energy_method",
    "energy_status", "energy_trials", "energy_window_s", "clock_drop", "clocks_before", "clocks_after",
    "clocks_after_energy",
]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class MeasureConfig(MeasureSettings):
    """Everything that defines one measurement: a model, its input, its batch size and the
    :class:`~effkit.measurement.settings.MeasureSettings` (keyword-only); :meth:`key` names it for resuming sweeps.

    Attributes:
        model: zoo name or external spec (``"pkg.mod:factory"``, ``"file.py:factory"``, ...).
        input_size: square input side (default: the model's own, 224 or 32).
        input_shape: full input shape ``(N, C, H, W)``; its N must equal ``batch_size``.
        batch_size: images per forward pass.
        weights: local state_dict file to load first.
    """

    model: str
    input_size: Optional[int] = None
    input_shape: Optional[tuple[int, ...]] = None
    batch_size: int = 1
    weights: Optional[str] = None

    def __post_init__(self):
        if self.input_shape is not None and not isinstance(self.input_shape, tuple):
            from effkit.units import parse_shape

            object.__setattr__(self, "input_shape", parse_shape(self.input_shape))
        if self.weights is not None and not isinstance(self.weights, str):
            object.__setattr__(self, "weights", str(self.weights))

    def key(self) -> str:
        """A stable string of every setting (sorted JSON), equal for equal configurations."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape) if self.input_shape is not None else None
        for name, default in _KEYLESS_DEFAULTS.items():  # settings added later: stored keys still match
            if d[name] == default:
                del d[name]
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def shape(self) -> tuple[int, ...]:
        """The input shape measured: ``input_shape`` (its N must be this batch size), else (batch, 3, size, size)."""
        from effkit.units import resolve_input_shape

        return resolve_input_shape(self.model, self.input_size, self.input_shape, self.batch_size)


#: Settings added after keys were first stored, left out of :meth:`MeasureConfig.key` at these defaults.
_KEYLESS_DEFAULTS = MeasureSettings.keyless_defaults()


def validate(config: MeasureConfig) -> torch.device:
    """Check a configuration before running it; returns the device. Raises :class:`EffkitError` subclasses."""
    from effkit.devices import resolve_device

    if not isinstance(config.batch_size, int) or isinstance(config.batch_size, bool) or config.batch_size <= 0:
        raise BadInputError(f"batch size must be a positive integer, got {config.batch_size!r}")
    config.validate()  # the settings' bounds and dtype (MeasureSettings.validate)
    device = resolve_device(config.device)
    if config.tf32 is not None and device.type != "cuda":
        raise BadInputError(f"{setting('tf32')} needs a CUDA device (TF32 is a CUDA float32 mode); drop it",
                            field="tf32")
    if config.cuda_graph and device.type != "cuda":
        raise BadInputError(f"{setting('cuda_graph')} needs a CUDA device; drop it or use {setting('device')} cuda",
                            field="cuda_graph")
    if config.weights is not None and not Path(config.weights).is_file():
        raise BadInputError(f"weights file {config.weights} does not exist")
    config.shape()  # malformed shapes / sizes, and unknown zoo names, fail here
    return device


def check_weights(model_or_name: nn.Module | str, weights: str | Path) -> None:
    """Load ``weights`` once into a meta-device copy of the model, so a bad file is refused before a sweep.

    The meta device holds no storage, so this costs one read of the file, not a model's memory.

    Raises:
        ModelLoadError: the file is missing, not a ``weights_only`` checkpoint, or does not fit the model.
        EffkitError: the model name does not resolve.
    """
    from effkit.models import create_model
    from effkit.models.external import load_weights

    if isinstance(model_or_name, nn.Module):
        model = copy.deepcopy(model_or_name).to("meta")
    else:
        with torch.device("meta"):
            model = create_model(model_or_name)
    load_weights(model, weights)


def _family(model: str) -> str:
    if ":" in model:
        return "other"
    from effkit.models import get_entry

    try:
        return get_entry(model).family
    except UnknownModelError:
        return "other"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")


def _base_row(config: MeasureConfig, device: torch.device, fp: dict, name: str, family: str) -> dict:
    shape = config.shape()
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row.update(
        model=name, family=family, status="failed", device=str(device), batch_size=config.batch_size,
        input_shape="x".join(map(str, shape)), dtype=config.dtype, channels_last=config.channels_last,
        cuda_graph=config.cuda_graph, energy_status="not measured",
    )
    row.update(fp)
    row.update(
        config_key=config.key(), cudnn_benchmark=config.cudnn_benchmark, warmup_s=config.warmup_s,
        warmup_iters=config.warmup_iters, min_iters=config.min_iters, min_time_s=config.min_time_s,
        per_layer=config.per_layer, weights=config.weights, input_size=config.input_size,
    )
    return row


def _open_gpu(device: torch.device):
    if device.type != "cuda":
        return None
    try:
        from effkit.measurement.energy.nvml import NvmlGpu

        return NvmlGpu(device.index or 0)
    except Exception:  # clocks are context; a run without NVML is still a run
        return None


def _state(gpu) -> Optional[dict]:
    if gpu is None:
        return None
    try:
        return gpu.state()
    except Exception:
        return None


def _run(config: MeasureConfig, *, module: Optional[nn.Module] = None, fp: Optional[dict] = None,
         device: Optional[torch.device] = None, idle=None, analysis=None) -> dict:
    """One row; ``idle`` is the run's idle baselines (see :func:`run_measurer`), ``analysis`` this
    configuration's :func:`~effkit.measurement.preflight.analyse_configs` outcome (a Profile, an error that fails the row, or ``None``:
    analyse here)."""
    from effkit.analysis.profile import UncountedOpsWarning, profile
    from effkit.measurement import memory as mem
    from effkit.measurement.energy.base import NullMeter
    from effkit.measurement.energy.idle import IdleBaselines
    from effkit.measurement.energy.meter import measure_energy, open_meter
    from effkit.measurement.energy.nvml import MIG_WHOLE_BOARD, clocks_dropped, clocks_dropped_any, state_json
    from effkit.measurement.machine import fingerprint, precision_settings, tf32
    from effkit.measurement.timing import Runner, cudnn_benchmark, device_context, prepare, time_step, warm_up
    from effkit.models.resolve import build_model

    device = device if device is not None else validate(config)
    fp = fp if fp is not None else fingerprint(device)
    row = _base_row(config, device, fp, config.model, "other" if module is not None else _family(config.model))
    shape = config.shape()
    model = x = runner = meter = gpu = None
    try:
        if isinstance(analysis, BaseException):
            raise analysis
        prof = analysis
        if prof is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UncountedOpsWarning)
                # Channels-last runs take their analysis from a channels-last trace (its reshape copies).
                prof = profile(module if module is not None else config.model, shape, config.dtype, warn=False,
                               channels_last=config.channels_last)
        totals = prof.totals.as_dict()
        row.update(totals)
        row["uncounted_ops"] = ", ".join(f"{k} x{v}" for k, v in sorted(prof.uncounted.items())) or None

        model = build_model(module if module is not None else config.model, weights=config.weights)
        model, x = prepare(model, shape, device, channels_last=config.channels_last)
        runner = Runner(model, x, config.dtype, cuda_graph=config.cuda_graph)
        gpu = _open_gpu(device)

        if not config.energy:
            meter = NullMeter("energy measurement switched off")
            row["energy_status"] = "off"
        else:
            meter = open_meter(device, allow_mig=config.mig_energy)
            row["energy_status"] = meter.probe().row_status()
        idle_w = None
        if config.energy and meter.probe().available and config.idle_s > 0:
            idle = idle if idle is not None else IdleBaselines(config.idle_s)
            try:  # once per device per run: the first row measures it, later rows reuse it
                baseline = idle.get(device, meter, sync=runner.sync)
            except BackendUnavailableError as e:
                row["energy_status"] = f"failed: {e}"
            else:
                idle_w = baseline.power_w
                row.update(baseline.columns())

        with device_context(device), cudnn_benchmark(config.cudnn_benchmark), tf32(config.tf32):
            row.update(precision_settings(), tf32=config.tf32)  # what "float32" meant for this row
            warm_up(runner, runner.sync, warmup_s=config.warmup_s, warmup_iters=max(config.warmup_iters, 1))
            capture_peak = None
            if config.cuda_graph:  # the capture is the pass that allocates activations: its peak is the graph's
                capture_peak = mem.peak_during(runner.capture, device)
                warm_up(runner, runner.sync, warmup_s=0.0, warmup_iters=3)
            before = _state(gpu)
            timing = time_step(runner, device, config.batch_size, min_iters=config.min_iters,
                               min_time_s=config.min_time_s)
            after = _state(gpu)
            row.update(
                latency_ms=timing.latency_ms, latency_p90_ms=timing.latency_p90_ms,
                latency_p99_ms=timing.latency_p99_ms, latency_min_ms=timing.latency_min_ms,
                latency_iqr_ms=timing.latency_iqr_ms, iterations=timing.iterations, fps=timing.fps,
                timed_span_s=timing.span_s, flops_per_s=timing.flops_per_s(totals["flops"]), timer=timing.timer,
                clocks_before=state_json(before), clocks_after=state_json(after),
                clock_drop=clocks_dropped(before, after) if device.type == "cuda" else None,
            )

            memory = mem.measure_memory(runner, device, model, activations=totals["activations"],
                                        dtype=config.dtype, capture_peak=capture_peak)
            row.update(peak_memory_bytes=memory.peak_memory_bytes, peak_reserved_bytes=memory.peak_reserved_bytes,
                       weights_bytes=memory.weights_bytes, activation_bytes=memory.activation_bytes,
                       memory_method=memory.method)

            if row["energy_status"] == "pending":
                try:
                    result = measure_energy(
                        meter, runner, config.batch_size, sync=runner.sync, trials=config.energy_trials,
                        min_window_s=config.energy_window_s, min_window_iters=config.energy_window_iters,
                        idle_s=0.0, idle_power_w=idle_w)
                except BackendUnavailableError as e:
                    row["energy_status"] = f"failed: {e}"
                else:
                    row.update(
                        energy_j_per_img=result.energy_j_per_img,
                        energy_j_per_img_net=result.energy_j_per_img_net,
                        energy_j_per_img_std=result.energy_j_per_img_std,
                        mean_power_w=result.mean_power_w, peak_power_w=result.peak_power_w,
                        idle_power_w=result.idle_power_w, energy_method=result.method,
                        energy_trials=result.trials, energy_window_s=result.window_s,
                        energy_iters_per_trial=result.iterations_per_trial,
                        energy_status="ok" if result.method != "nvml_power_avg"
                        else "ok (driver-averaged power: may under-read)",
                    )
                    if MIG_WHOLE_BOARD in meter.probe().reason:
                        row["energy_status"] += f" ({MIG_WHOLE_BOARD})"
                    if result.idle_power_w is None:
                        row["energy_status"] += " (no idle baseline: no net figure)"
                # the energy windows are the longest load: a clock drop during them counts too
                after_energy = _state(gpu)
                row["clocks_after_energy"] = state_json(after_energy)
                if device.type == "cuda":
                    row["clock_drop"] = clocks_dropped_any(before, after, after_energy)

            if config.per_layer:
                from effkit.measurement.timing import time_layers

                layer_df = layers_frame(prof, time_layers(model, x, dtype=config.dtype))
                row["layers_json"] = layer_df.to_json(orient="records")
        row["status"] = "ok"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one configuration failing (OOM, a model that raises) never stops a sweep
        row["status"] = "failed"
        row["error"] = _out_of_memory_message(e, config) or _one_line(e)
        if row["energy_status"] in ("pending", "not measured"):
            row["energy_status"] = "not measured (configuration failed)"
    finally:
        if meter is not None:
            meter.close()
        if gpu is not None:
            gpu.close()
        del model, x, runner
        if device.type == "cuda":
            torch.cuda.empty_cache()  # give a failed large batch's memory back before the next one
    row["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row


def _out_of_memory_message(e: BaseException, config: MeasureConfig) -> Optional[str]:
    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    if (oom and isinstance(e, oom)) or isinstance(e, MemoryError) or "out of memory" in str(e).lower():
        return f"out of memory at batch size {config.batch_size} ({_one_line(e)})"
    return None


def layers_frame(prof, times: dict) -> "Any":
    """Join per-layer times ``{(path, call): ms}`` with the analysis rows of ``prof``.

    Rows without a timed leaf module (the model's own functional ops, containers) get an empty latency.
    ``flops_per_s`` = layer flops / layer latency; ``time_share`` = layer latency / sum of layer latencies.
    """
    df = prof.layers[["name", "type", "call", "params", "flops", "mac", "mac_bytes", "activations", "path"]].copy()
    df["latency_ms"] = [times.get((tuple(p), int(c)), math.nan) for p, c in zip(df["path"], df["call"])]
    df["flops_per_s"] = df["flops"] / (df["latency_ms"] / 1000.0)
    total = df["latency_ms"].sum(skipna=True)
    df["time_share"] = df["latency_ms"] / total if total > 0 else math.nan
    return df.drop(columns=["path"]).reset_index(drop=True)


def measure_config(config: MeasureConfig, *, idle=None) -> dict:
    """Measure exactly one configuration and return its result row (see :data:`ROW_COLUMNS`).

    ``idle``: the run's :class:`~effkit.measurement.energy.idle.IdleBaselines`, shared by every configuration
    of one run (see :func:`run_measurer`); without it this configuration measures its own idle baseline.

    Bad settings (device, dtype, batch size, shape, unknown model) raise :class:`EffkitError`; a failure
    while measuring (out of memory, the model raising) comes back as ``status="failed"`` with ``error``.
    """
    return _run(config, idle=idle)


def run_measurer(configs: Sequence[MeasureConfig]) -> Callable[[MeasureConfig], dict]:
    """:func:`measure_config` for one run of ``configs`` in this process: one idle baseline per device."""
    from effkit.measurement.energy.idle import IdleBaselines

    idle = IdleBaselines(max((c.idle_s for c in configs), default=0.0))
    return lambda config: measure_config(config, idle=idle)


def measure_layers(model_or_name: nn.Module | str, input_shape: Sequence[int] | str | None = None, *,
                   device: str = "auto", dtype: str = "float32", channels_last: bool = False,
                   iters: int = 10, warmup_iters: int = 3) -> "Any":
    """Per-layer latency and achieved FLOP/s, from a separate pass with timing hooks on every leaf module.

    Hook overhead makes per-layer times add up to more than the whole-model latency; compare layers with
    each other (which ones keep the device poorly busy), not with :func:`measure`'s numbers.

    Returns:
        A DataFrame: the analysis columns (name, type, call, params, flops, mac, mac_bytes, activations)
        plus ``latency_ms``, ``flops_per_s`` and ``time_share``.
    """
    from effkit.analysis.profile import profile
    from effkit.units import parse_shape
    from effkit.devices import resolve_device
    from effkit.measurement.timing import prepare, time_layers
    from effkit.models.resolve import build_model

    dev = resolve_device(device)
    prof = profile(model_or_name, input_shape, dtype, warn=False, channels_last=channels_last)
    shape = parse_shape(prof.input_shape)
    model, x = prepare(build_model(model_or_name), shape, dev, channels_last=channels_last)
    return layers_frame(prof, time_layers(model, x, dtype=dtype, iters=iters, warmup_iters=warmup_iters))


def _batch_list(batch_sizes, input_shape) -> list[int]:
    if batch_sizes is None:
        if input_shape is not None:
            from effkit.units import parse_shape

            return [parse_shape(input_shape)[0]]
        return [1]
    if isinstance(batch_sizes, int):
        batch_sizes = [batch_sizes]
    out = []
    for b in batch_sizes:
        if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
            raise BadInputError(f"batch sizes must be positive integers, got {b!r}")
        out.append(b)
    if not out:
        raise BadInputError("no batch size given")
    return out


def _open_store(db):
    from effkit.store import Store

    if db is None:
        return None, False
    if isinstance(db, Store):
        return db, False
    return Store(db), True


def _frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame(rows)
    front = [c for c in ["id", *ROW_COLUMNS] if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def _sweep(jobs: list[tuple[MeasureConfig, Optional[nn.Module]]], db, progress: Optional[Progress]):
    from effkit.measurement.energy.idle import IdleBaselines
    from effkit.measurement.machine import fingerprint
    from effkit.sweep.run import run_configs

    # Every name, setting and weights file is checked, and every configuration analysed, before the
    # database is opened: bad input leaves no file and no "failed" row behind.
    from effkit.measurement.preflight import preflight

    devices, analyses = preflight(jobs)
    store, owned = _open_store(db)  # a bad database is refused before anything is measured
    try:
        prints = {d: fingerprint(dev) for d, dev in devices.items()}
        modules = {id(config): module for config, module in jobs}
        idle = IdleBaselines(max(c.idle_s for c, _ in jobs) if jobs else None)  # one baseline per device per run

        def one(config: MeasureConfig) -> dict:
            return _run(config, module=modules[id(config)], fp=prints[config.device], device=devices[config.device],
                        idle=idle, analysis=analyses.get(id(config)))

        rows = run_configs([config for config, _ in jobs], store, one, _progress_events(progress),
                           label=str(db) if db is not None else None)
    finally:
        if owned:
            store.close()
    return _frame(rows)


def _progress_events(progress: Optional[Progress]):
    """The runner's events as ``progress(done, total, label)``: before each configuration, and once at the end."""
    def emit(event) -> None:
        if progress is None:
            return
        if event.kind == "begin":
            progress(event.done, event.total, f"{event.config.model} bs={event.config.batch_size}")
        elif event.kind == "done" and event.done == event.total:
            progress(event.total, event.total, "done")

    return emit


def _configs(model: str, batch_sizes, settings: MeasureSettings, **inputs) -> list[MeasureConfig]:
    return [MeasureConfig(model=model, batch_size=b, **inputs, **settings.as_dict()) for b in batch_sizes]


def measure(
    model_or_name: nn.Module | str,
    *,
    input_size: Optional[int] = None,
    input_shape: Sequence[int] | str | None = None,
    batch_sizes: Iterable[int] | int | None = None,
    dtype: str = "float32",
    device: str = "auto",
    channels_last: bool = False,
    cuda_graph: bool = False,
    cudnn_benchmark: bool = True,
    warmup_s: float = 1.0,
    min_iters: int = 20,
    min_time_s: float = 2.0,
    energy: bool = True,
    energy_trials: int = 3,
    per_layer: bool = False,
    db=None,
    progress: Optional[Progress] = None,
    weights: Optional[str] = None,
    warmup_iters: int = 10,
    energy_window_s: float = 5.0,
    energy_window_iters: int = 32,
    idle_s: float = 1.0,
    tf32: Optional[bool] = None,
    mig_energy: bool = False,
):
    """Measure one model at one or more batch sizes.

    Args:
        model_or_name: an ``nn.Module`` (measured on a copy; stored under its class name) or a zoo name /
            external spec.
        input_size: square input side (default: the model's own).
        input_shape: full input shape ``N,C,H,W`` (4 dims for zoo models).
        batch_sizes: batch sizes to sweep; ``None`` (default) = the ``N`` of ``input_shape``, else 1.
            Given together with ``input_shape``, each must equal its ``N`` (else :class:`BadInputError`).
        dtype: ``float32`` (default, as the paper) or ``float16``/``bfloat16`` (autocast).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        channels_last: NHWC memory format.
        cuda_graph: time a captured CUDA graph's replay (GPU only; batch 1 is launch-bound without it).
        cudnn_benchmark: cuDNN autotuning (on by default; the previous value is restored).
        warmup_s / warmup_iters: warm-up until both are reached.
        min_iters / min_time_s: timed iterations until both are reached.
        energy: measure energy per image where a meter works (NVML on GPUs, RAPL on CPUs).
        energy_trials: energy windows (mean and standard deviation are reported).
        energy_window_s / energy_window_iters: minimum length of each energy window (>= 5 s and >= 32
            iterations by default, as NVML's part-time sampling needs).
        idle_s: idle window (raised to 3 s), measured once per device per run after a 5 s rest;
            ``energy_j_per_img`` is gross (counter delta / images), ``energy_j_per_img_net`` subtracts it.
        per_layer: add a separate per-leaf-module timing pass (column ``layers_json``).
        db: a results database path or :class:`~effkit.store.Store`; every row is committed as made.
            ``None`` stores nothing.
        progress: ``progress(done, total, label)`` called before each configuration and at the end.
        weights: local state_dict file to load into the model.
        tf32: TF32 for float32 convolutions/matmuls on CUDA, restored after (``None``: torch's settings as
            they are; every row records them either way).
        mig_energy: measure a MIG instance's whole-board energy anyway (other tenants included).

    Returns:
        A DataFrame, one row per batch size (columns :data:`ROW_COLUMNS`, the machine fingerprint,
        ``config_key``, ``timestamp`` and ``id`` when stored). A configuration that failed has
        ``status="failed"`` and its ``error``; the others are still measured.

    Raises:
        EffkitError: bad settings (unknown model, malformed shape, batch size <= 0 or unlike the ``N`` of
            ``input_shape``, an unreadable or unfitting weights file, CUDA asked for but missing, ...),
            a model that cannot be analysed at any batch size (its factory raises, the wrong channel
            count; see :func:`~effkit.measurement.preflight.analyse_configs`) and a store that cannot be written, all raised before
            anything is measured or stored.
    """
    from effkit.models.resolve import model_name

    name = model_name(model_or_name)  # refuses anything but a module or a string
    module = model_or_name if isinstance(model_or_name, nn.Module) else None
    shape = tuple(input_shape) if input_shape is not None and not isinstance(input_shape, str) else input_shape
    if module is not None and input_shape is None and input_size is None:
        input_size = 224
    settings = MeasureSettings(
        dtype=dtype, device=device, channels_last=channels_last, cuda_graph=cuda_graph,
        cudnn_benchmark=cudnn_benchmark, warmup_s=warmup_s, min_iters=min_iters, min_time_s=min_time_s,
        energy=energy, energy_trials=energy_trials, per_layer=per_layer, warmup_iters=warmup_iters,
        energy_window_s=energy_window_s, energy_window_iters=energy_window_iters, idle_s=idle_s,
        tf32=tf32, mig_energy=mig_energy)
    configs = _configs(name, _batch_list(batch_sizes, input_shape), settings, input_size=input_size,
                       input_shape=shape, weights=weights)
    return _sweep([(c, module) for c in configs], db, progress)


def compare(
    models: Optional[Sequence[str]] = None,
    *,
    small: bool = False,
    input_size: Optional[int] = None,
    input_shape: Sequence[int] | str | None = None,
    batch_sizes: Iterable[int] | int | None = None,
    dtype: str = "float32",
    device: str = "auto",
    channels_last: bool = False,
    cuda_graph: bool = False,
    cudnn_benchmark: bool = True,
    warmup_s: float = 1.0,
    min_iters: int = 20,
    min_time_s: float = 2.0,
    energy: bool = True,
    energy_trials: int = 3,
    per_layer: bool = False,
    db=None,
    progress: Optional[Progress] = None,
    warmup_iters: int = 10,
    energy_window_s: float = 5.0,
    energy_window_iters: int = 32,
    idle_s: float = 1.0,
    tf32: Optional[bool] = None,
    mig_energy: bool = False,
):
    """Measure several models side by side (the paper's Table 4 set by default).

    Args:
        models: zoo names or external specs; default :data:`DEFAULT_MODELS` (VoVNet-39/57,
            DenseNet-121/161/201, ResNet-50/101), or :data:`SMALL_MODELS` with ``small=True``.
        small: use :data:`SMALL_MODELS` when ``models`` is not given.
        Other arguments: as :func:`measure`.

    Returns:
        One DataFrame, a row per model and batch size, in the order given.
    """
    names = list(models) if models else list(SMALL_MODELS if small else DEFAULT_MODELS)
    for n in names:
        if not isinstance(n, str):
            raise BadInputError(f"compare takes model names, got {type(n).__name__}")
    settings = MeasureSettings(
        dtype=dtype, device=device, channels_last=channels_last, cuda_graph=cuda_graph,
        cudnn_benchmark=cudnn_benchmark, warmup_s=warmup_s, min_iters=min_iters, min_time_s=min_time_s,
        energy=energy, energy_trials=energy_trials, per_layer=per_layer, warmup_iters=warmup_iters,
        energy_window_s=energy_window_s, energy_window_iters=energy_window_iters, idle_s=idle_s,
        tf32=tf32, mig_energy=mig_energy)
    shape = tuple(input_shape) if input_shape is not None and not isinstance(input_shape, str) else input_shape
    bs = _batch_list(batch_sizes, input_shape)
    jobs = [(c, None) for n in names for c in _configs(n, bs, settings, input_size=input_size, input_shape=shape)]
    return _sweep(jobs, db, progress)
