"""One measurement's definition: :class:`MeasureConfig` (a model, its input and batch, and the settings), its
checks before anything runs (:func:`validate`, :func:`check_weights`), and :func:`base_row`, the one place a
result row is started — by a measured configuration and by one that failed before it could be measured.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

import torch
from torch import nn

from effkit.errors import BadInputError, UnknownModelError, setting
from effkit.measurement.settings import MeasureSettings

#: Result columns in display order (fingerprint fields follow; see :data:`effkit.measurement.machine.FINGERPRINT_FIELDS`).
ROW_COLUMNS = [
    "model", "family", "status", "error", "device", "batch_size", "input_shape", "dtype", "channels_last",
    "cuda_graph", "params", "mult_adds", "flops", "paper_mac", "mac", "mac_bytes", "activations",
    "latency_ms", "latency_p90_ms", "latency_p99_ms", "latency_min_ms", "latency_iqr_ms", "iterations", "fps",
    "timed_span_s", "flops_per_s", "peak_memory_bytes", "peak_reserved_bytes", "weights_bytes",
    "activation_bytes", "memory_method", "energy_j_per_img", "energy_j_per_img_net", "energy_j_per_img_std",
    "mean_power_w", "peak_power_w", "idle_power_w", "idle_measured_at", "idle_method", "energy_method",
    "energy_status", "energy_trials", "energy_window_s", "clock_drop", "clocks_before", "clocks_after",
    "clocks_after_energy", "load_1m_before", "load_1m_after", "torch_threads", "cpu_count", "latency_iqr_ratio",
    "warnings",
]

#: Columns a row may hold beyond ROW_COLUMNS and the fingerprint: totals, keys, settings, the timer, extras.
_OTHER_COLUMNS = ("id", "config_key", "timestamp", "mac_fused", "mac_fused_bytes", "uncounted_ops", "timer",
                  "tf32", "energy_iters_per_trial", "energy_estimate_j_per_img", "tdp_estimate_w", "layers_json",
                  "traceback")

#: Settings copied into every row beside the columns above (what a reader needs to redo the run).
_SETTING_COLUMNS = ("cudnn_benchmark", "warmup_s", "warmup_iters", "min_iters", "min_time_s", "per_layer",
                    "weights", "input_size")


def result_columns() -> tuple[str, ...]:
    """Every column a result row can have, in display order: :data:`ROW_COLUMNS`, the machine fingerprint,
    then the totals, keys and settings stored beside them (what a caller may pick columns from)."""
    from effkit.measurement.machine import FINGERPRINT_FIELDS

    return tuple(dict.fromkeys([*ROW_COLUMNS, *FINGERPRINT_FIELDS, *_OTHER_COLUMNS, *_SETTING_COLUMNS]))


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
        for name in MeasureSettings.unkeyed():
            d.pop(name, None)
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def shape(self) -> tuple[int, ...]:
        """The input shape measured: ``input_shape`` (its N must be this batch size), else (batch, 3, size, size)."""
        from effkit.models.resolve import resolve_input_shape

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
    from effkit.models.external import load_weights
    from effkit.models.resolve import resolve

    load_weights(resolve(model_or_name).build(device="meta"), weights)


def model_family(model: str) -> str:
    """The zoo family of a model name (``"vovnet"``, ``"resnet"``, ...); ``"other"`` for specs and unknown names."""
    if ":" in model:
        return "other"
    from effkit.models import get_entry

    try:
        return get_entry(model).family
    except UnknownModelError:
        return "other"


def base_row(config: MeasureConfig, *, device: Any = None, machine: Optional[Mapping[str, Any]] = None,
             family: Optional[str] = None, error: Optional[str] = None) -> dict:
    """A result row holding the configuration and the machine, ``status="failed"`` until measured.

    The one place a row is started: :func:`effkit.measurement.row.measure_row` fills in the measured
    columns and sets ``status="ok"``; a configuration that could not be measured at all is this row with its
    ``error`` (see :func:`effkit.measurement.failed.failed_row`).

    Args:
        config: the configuration.
        device: the resolved device (default: the configuration's device setting as written).
        machine: the machine fingerprint columns.
        family: the model family (default: :func:`model_family` of the name).
        error: why the configuration failed.
    """
    try:
        shape = "x".join(map(str, config.shape()))
    except Exception:  # the shape may be exactly what is wrong; the row must still be written
        shape = None
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row.update(
        model=config.model, family=family if family is not None else model_family(config.model), status="failed",
        error=error, device=str(device if device is not None else config.device), batch_size=config.batch_size,
        input_shape=shape, dtype=config.dtype, channels_last=config.channels_last, cuda_graph=config.cuda_graph,
        energy_status="not measured",
    )
    row.update(dict(machine or {}))
    row["config_key"] = config.key()
    row.update({name: getattr(config, name) for name in _SETTING_COLUMNS})
    row["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row
