"""One configuration measured, in a few steps: the analysis totals, the model on its device, the meters,
then timing, memory, energy and (optionally) per-layer times, each step filling its columns of one row.

A failure of the configuration itself (out of memory, a model that raises) ends as that row with
``status="failed"`` and its ``error``; nothing here raises for it, so a sweep goes on.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

import torch
from torch import nn

from effkit.errors import BackendUnavailableError
from effkit.measurement.config import MeasureConfig, base_row, validate
from effkit.measurement.failed import error_text, out_of_memory_text
from effkit.measurement.phases import report


@dataclass
class _Rig:
    """What one configuration holds while it is measured; :meth:`close` gives it all back."""

    model: Any = None
    x: Any = None
    runner: Any = None
    meter: Any = None
    gpu: Any = None
    idle_w: Optional[float] = None

    def close(self, device: torch.device) -> None:
        if self.meter is not None:
            self.meter.close()
        if self.gpu is not None:
            self.gpu.close()
        self.model = self.x = self.runner = None
        if device.type == "cuda":
            try:
                torch.cuda.empty_cache()  # give a failed large batch's memory back before the next one
            except RuntimeError:  # a lost device: the row already says why it failed; keep that row
                pass


def run_idle_baselines(configs) -> "Any":
    """The idle baselines one run of ``configs`` shares: each device's measured once, by its first row (at the
    longest ``idle_s`` of the run), and reused by the others
    (:class:`~effkit.measurement.energy.idle.IdleBaselines`)."""
    from effkit.measurement.energy.idle import IdleBaselines

    return IdleBaselines(max((c.idle_s for c in configs), default=0.0))


def measure_row(config: MeasureConfig, *, module: Optional[nn.Module] = None, fp: Optional[dict] = None,
                device: Optional[torch.device] = None, idle=None, analysis=None) -> dict:
    """One result row (see :data:`effkit.measurement.config.ROW_COLUMNS`).

    Args:
        config: what to measure.
        module: the user's module (measured on a copy) instead of ``config.model``'s zoo name or spec.
        fp / device: the machine fingerprint and resolved device, when the caller has them already.
        idle: the run's :class:`~effkit.measurement.energy.idle.IdleBaselines` (one per device per run).
        analysis: this configuration's :func:`~effkit.measurement.preflight.analyse_configs` outcome: a
            Profile, an error that fails the row, or ``None`` (analyse here).
    """
    from effkit.measurement.machine import fingerprint, load_columns

    device = device if device is not None else validate(config)
    fp = fp if fp is not None else fingerprint(device)
    row = base_row(config, device=device, machine=fp, family="other" if module is not None else None)
    row.update(load_columns())  # how busy the machine was: judged by effkit.trust
    rig = _Rig()
    try:
        report("analysis")
        prof = _analyse(config, module, analysis, row)
        report("set-up")
        _set_up(config, module, device, idle, rig, row)
        _measure_loaded(config, device, prof, rig, row)
        row["status"] = "ok"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one configuration failing (OOM, a model that raises) never stops a sweep
        row["status"] = "failed"
        row["error"] = out_of_memory_text(e, config.batch_size) or error_text(e)
        if row["energy_status"] in ("pending", "not measured"):
            row["energy_status"] = "not measured (configuration failed)"
    finally:
        rig.close(device)
    if config.tdp_estimate_w is not None:  # asked for: a labelled estimate beside (never in) the energy columns
        from effkit.measurement.energy.estimate import energy_estimate

        row.update(energy_estimate(row, config.tdp_estimate_w), tdp_estimate_w=config.tdp_estimate_w)
    _judge(row)
    row["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row


def _judge(row: dict) -> None:
    """The load after the measurement, the IQR/median ratio and the row's ``warnings`` (None when clean)."""
    from effkit.measurement.machine import load_average
    from effkit.trust import warnings_text

    row["load_1m_after"] = load_average()
    if row.get("latency_iqr_ms") is not None and row.get("latency_ms"):
        row["latency_iqr_ratio"] = row["latency_iqr_ms"] / row["latency_ms"]
    row["warnings"] = warnings_text(row)


def _analyse(config: MeasureConfig, module, analysis, row: dict):
    """The analysis totals at this shape (the preflight's, or a trace here); ``uncounted_ops`` beside them."""
    from effkit.analysis.profile import UncountedOpsWarning, profile

    if isinstance(analysis, BaseException):
        raise analysis
    prof = analysis
    if prof is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UncountedOpsWarning)
            # Channels-last runs take their analysis from a channels-last trace (its reshape copies).
            prof = profile(module if module is not None else config.model, config.shape(), config.dtype,
                           warn=False, channels_last=config.channels_last)
    row.update(prof.totals.as_dict())
    row["uncounted_ops"] = ", ".join(f"{k} x{v}" for k, v in sorted(prof.uncounted.items())) or None
    return prof


def _set_up(config: MeasureConfig, module, device: torch.device, idle, rig: _Rig, row: dict) -> None:
    """The model and input on the device, the runner, the clocks reader, the energy meter and the idle baseline."""
    from effkit.measurement.energy.base import NullMeter
    from effkit.measurement.energy.meter import open_meter
    from effkit.measurement.timing import Runner, prepare
    from effkit.models.resolve import build_model

    model = build_model(module if module is not None else config.model, weights=config.weights)
    rig.model, rig.x = prepare(model, config.shape(), device, channels_last=config.channels_last)
    rig.runner = Runner(rig.model, rig.x, config.dtype, cuda_graph=config.cuda_graph)
    rig.gpu = _open_gpu(device)
    if not config.energy:
        rig.meter = NullMeter("energy measurement switched off")
        row["energy_status"] = "off"
        return
    rig.meter = open_meter(device, allow_mig=config.mig_energy)
    row["energy_status"] = rig.meter.probe().row_status()
    if rig.meter.probe().available and config.idle_s > 0:
        idle = idle if idle is not None else run_idle_baselines([config])
        try:  # once per device per run: the first row measures it, later rows reuse it
            baseline = idle.get(device, rig.meter, sync=rig.runner.sync)
        except BackendUnavailableError as e:
            row["energy_status"] = f"failed: {e}"
        else:
            rig.idle_w = baseline.power_w
            row.update(baseline.columns())


def _measure_loaded(config: MeasureConfig, device: torch.device, prof, rig: _Rig, row: dict) -> None:
    """Warm-up, timing, memory, energy and per-layer times, under the run's cuDNN and TF32 settings."""
    from effkit.measurement import memory as mem
    from effkit.measurement.machine import precision_settings, tf32
    from effkit.measurement.timing import cudnn_benchmark, device_context, warm_up

    runner = rig.runner
    with device_context(device), cudnn_benchmark(config.cudnn_benchmark), tf32(config.tf32):
        row.update(precision_settings(), tf32=config.tf32)  # what "float32" meant for this row
        report("warm-up")
        warm_up(runner, runner.sync, warmup_s=config.warmup_s, warmup_iters=max(config.warmup_iters, 1))
        capture_peak = None
        if config.cuda_graph:  # the capture is the pass that allocates activations: its peak is the graph's
            report("graph capture")
            capture_peak = mem.peak_during(runner.capture, device)
            warm_up(runner, runner.sync, warmup_s=0.0, warmup_iters=3)
        report("timing")
        before, after = _time(config, device, rig, row)
        report("memory")
        memory = mem.measure_memory(runner, device, rig.model, activations=row["activations"],
                                    dtype=config.dtype, capture_peak=capture_peak)
        row.update(peak_memory_bytes=memory.peak_memory_bytes, peak_reserved_bytes=memory.peak_reserved_bytes,
                   weights_bytes=memory.weights_bytes, activation_bytes=memory.activation_bytes,
                   memory_method=memory.method)
        if row["energy_status"] == "pending":
            _energy(config, device, rig, row, before, after)
        if config.per_layer:
            from effkit.measurement.timing import time_layers

            report("per-layer")
            layer_df = layers_frame(prof, time_layers(rig.model, rig.x, dtype=config.dtype))
            row["layers_json"] = layer_df.to_json(orient="records")


def _time(config: MeasureConfig, device: torch.device, rig: _Rig, row: dict):
    """The timed iterations, with the GPU clocks read before and after them; returns those two readings."""
    from effkit.measurement.energy.nvml import clocks_dropped, state_json
    from effkit.measurement.timing import time_step

    before = _state(rig.gpu)
    timing = time_step(rig.runner, device, config.batch_size, min_iters=config.min_iters,
                       min_time_s=config.min_time_s)
    after = _state(rig.gpu)
    row.update(
        latency_ms=timing.latency_ms, latency_p90_ms=timing.latency_p90_ms,
        latency_p99_ms=timing.latency_p99_ms, latency_min_ms=timing.latency_min_ms,
        latency_iqr_ms=timing.latency_iqr_ms, iterations=timing.iterations, fps=timing.fps,
        timed_span_s=timing.span_s, flops_per_s=timing.flops_per_s(row["flops"]), timer=timing.timer,
        clocks_before=state_json(before), clocks_after=state_json(after),
        clock_drop=clocks_dropped(before, after) if device.type == "cuda" else None,
    )
    return before, after


def _energy(config: MeasureConfig, device: torch.device, rig: _Rig, row: dict, before, after) -> None:
    """The energy windows (gross and, with an idle baseline, net J/img), then the clocks after them."""
    from effkit.measurement.energy.meter import measure_energy
    from effkit.measurement.energy.nvml import MIG_WHOLE_BOARD, clocks_dropped_any, state_json

    try:
        result = measure_energy(
            rig.meter, rig.runner, config.batch_size, sync=rig.runner.sync, trials=config.energy_trials,
            min_window_s=config.energy_window_s, min_window_iters=config.energy_window_iters,
            idle_s=0.0, idle_power_w=rig.idle_w)
    except BackendUnavailableError as e:
        row["energy_status"] = f"failed: {e}"
    else:
        row.update(
            energy_j_per_img=result.energy_j_per_img, energy_j_per_img_net=result.energy_j_per_img_net,
            energy_j_per_img_std=result.energy_j_per_img_std, mean_power_w=result.mean_power_w,
            peak_power_w=result.peak_power_w, idle_power_w=result.idle_power_w, energy_method=result.method,
            energy_trials=result.trials, energy_window_s=result.window_s,
            energy_iters_per_trial=result.iterations_per_trial,
            energy_status="ok" if result.method != "nvml_power_avg"
            else "ok (driver-averaged power: may under-read)",
        )
        if MIG_WHOLE_BOARD in rig.meter.probe().reason:
            row["energy_status"] += f" ({MIG_WHOLE_BOARD})"
        if result.idle_power_w is None:
            row["energy_status"] += " (no idle baseline: no net figure)"
    # the energy windows are the longest load: a clock drop during them counts too
    after_energy = _state(rig.gpu)
    row["clocks_after_energy"] = state_json(after_energy)
    if device.type == "cuda":
        row["clock_drop"] = clocks_dropped_any(before, after, after_energy)


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
