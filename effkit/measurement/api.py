"""Measure models: latency, FPS, achieved FLOP/s, peak memory and energy per image, one row per configuration.

:func:`measure` sweeps batch sizes of one model, :func:`compare` several models, :func:`measure_config`
runs exactly one :class:`MeasureConfig` (what a sweep runner hands to a worker). Each row carries the
analysis totals at the same input shape, the settings, the machine fingerprint and, where it failed, the
error; a failed configuration never stops the others. Rows go to a :class:`~effkit.store.Store` as
each one is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence

from torch import nn

from effkit.errors import BadInputError
# MeasureConfig, ROW_COLUMNS, validate and check_weights live in .config, layers_frame in .row; named here too,
# where callers have always found them.
from effkit.measurement.config import ROW_COLUMNS, MeasureConfig, check_weights, validate  # noqa: F401
from effkit.measurement.row import layers_frame, measure_row
from effkit.measurement.settings import MeasureSettings

if TYPE_CHECKING:
    from effkit.measurement.run import SweepEvent
from effkit.measurement.table import as_results
# compare's default models live with the zoo (the shipped rows are picked by them too); named here as before.
from effkit.models.registry import DEFAULT_MODELS, SMALL_MODELS  # noqa: F401

#: What ``progress=`` is called with, here as in ``run_sweep``: every event of the run.
Progress = Callable[["SweepEvent"], None]


def measure_config(config: MeasureConfig, *, idle=None) -> dict:
    """Measure exactly one configuration and return its result row (see :data:`ROW_COLUMNS`).

    ``idle``: the run's :class:`~effkit.measurement.energy.idle.IdleBaselines`, shared by every configuration
    of one run (see :func:`~effkit.measurement.preflight.checked_measure_fn`); without it this configuration
    measures its own idle baseline.

    Bad settings (device, dtype, batch size, shape, unknown model) raise :class:`EffkitError`; a failure
    while measuring (out of memory, the model raising) comes back as ``status="failed"`` with ``error``.
    """
    return measure_row(config, idle=idle)


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


def _run_jobs(jobs: list[tuple[MeasureConfig, Optional[nn.Module]]], db, progress: Optional[Progress]):
    from effkit.measurement.preflight import checked_measure_fn
    from effkit.measurement.run import run_local

    # Every name, setting and weights file is checked, and every configuration analysed, before the
    # database is opened: bad input leaves no file and no "failed" row behind.
    measure_fn = checked_measure_fn(jobs)
    return run_local([config for config, _ in jobs], db, measure_fn, progress or (lambda event: None))


def _configs(model: str, batch_sizes, settings: MeasureSettings, **inputs) -> list[MeasureConfig]:
    return [MeasureConfig(model=model, batch_size=b, **inputs, **settings.as_dict()) for b in batch_sizes]


def measure(
    model_or_name: nn.Module | str,
    *,
    input_size: Optional[int] = None,
    input_shape: Sequence[int] | str | None = None,
    batch_sizes: Iterable[int] | int | None = None,
    weights: Optional[str] = None,
    settings: Optional[MeasureSettings] = None,
    db=None,
    progress: Optional[Progress] = None,
    **setting_values: Any,
):
    """Measure one model at one or more batch sizes.

    Args:
        model_or_name: an ``nn.Module`` (measured on a copy; stored under its class name) or a zoo name /
            external spec.
        input_size: square input side (default: the model's own).
        input_shape: full input shape ``N,C,H,W`` (4 dims for zoo models).
        batch_sizes: batch sizes to sweep; ``None`` (default) = the ``N`` of ``input_shape``, else 1.
            Given together with ``input_shape``, each must equal its ``N`` (else :class:`BadInputError`).
        weights: local state_dict file to load into the model.
        settings: a :class:`~effkit.measurement.settings.MeasureSettings` (default: its defaults).
        db: a results database path or :class:`~effkit.store.Store`; every row is committed as made.
            ``None`` stores nothing (as everywhere in effkit's API).
        progress: called with every :class:`~effkit.measurement.run.SweepEvent` of the run, as ``run_sweep``'s
            ``progress`` is: ``start``, then per configuration ``begin`` (``event.done`` configurations done of
            ``event.total``), a ``phase`` event as each step begins (analysis, set-up, warm-up, timing, memory,
            energy windows, per-layer; see :data:`effkit.measurement.phases.PHASES`) and ``done`` with its row.
        **setting_values: any field of :class:`~effkit.measurement.settings.MeasureSettings`, replacing the
            one in ``settings``: ``dtype`` (``float32``, as the paper; ``float16``/``bfloat16`` via autocast),
            ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``), ``channels_last``, ``cuda_graph``,
            ``cudnn_benchmark``, ``warmup_s``/``warmup_iters``, ``min_iters``/``min_time_s``, ``energy``,
            ``energy_trials``, ``energy_window_s``/``energy_window_iters`` (>= 5 s and >= 32 iterations by
            default, as NVML's part-time sampling needs), ``idle_s`` (raised to 3 s, measured once per device
            per run after a 5 s rest; ``energy_j_per_img`` is gross, ``energy_j_per_img_net`` subtracts it),
            ``per_layer``, ``tf32``, ``mig_energy``. Their meanings and bounds are documented there, once.

    Returns:
        A DataFrame, one row per batch size (columns :data:`ROW_COLUMNS`, the machine fingerprint,
        ``config_key``, ``timestamp`` and ``id`` when stored). A configuration that failed has
        ``status="failed"`` and its ``error``; the others are still measured. It is a
        :class:`~effkit.measurement.table.Results`: ``print()`` shows the table ``effkit measure`` prints.

    Raises:
        TypeError: a keyword that is not a setting.
        EffkitError: bad settings (unknown model, malformed shape, batch size <= 0 or unlike the ``N`` of
            ``input_shape``, an unreadable or unfitting weights file, CUDA asked for but missing, ...),
            a model that cannot be analysed at any batch size (its factory raises, the wrong channel
            count; see :func:`~effkit.measurement.preflight.analyse_configs`) and a store that cannot be
            written, all raised before anything is measured or stored.
    """
    from effkit.models.resolve import resolve

    resolved = resolve(model_or_name)  # refuses anything but a module or a string
    name, module = resolved.name, resolved.module
    shape = _shape_arg(input_shape)
    if module is not None and input_shape is None and input_size is None:
        input_size = 224
    chosen = MeasureSettings.merged(settings, "measure", **setting_values)
    configs = _configs(name, _batch_list(batch_sizes, input_shape), chosen, input_size=input_size,
                       input_shape=shape, weights=weights)
    return as_results(_run_jobs([(c, module) for c in configs], db, progress), "measure")


def compare(
    models: Optional[Sequence[str]] = None,
    *,
    small: bool = False,
    input_size: Optional[int] = None,
    input_shape: Sequence[int] | str | None = None,
    batch_sizes: Iterable[int] | int | None = None,
    settings: Optional[MeasureSettings] = None,
    db=None,
    progress: Optional[Progress] = None,
    **setting_values: Any,
):
    """Measure several models side by side (the paper's Table 4 set by default).

    Args:
        models: zoo names or external specs; default :data:`DEFAULT_MODELS` (VoVNet-39/57,
            DenseNet-121/161/201, ResNet-50/101), or :data:`SMALL_MODELS` with ``small=True``.
        small: use :data:`SMALL_MODELS` when ``models`` is not given.
        Other arguments: as :func:`measure`.

    Returns:
        One DataFrame, a row per model and batch size, in the order given: a
        :class:`~effkit.measurement.table.Results` that prints as ``effkit compare``'s table.
    """
    names = list(models) if models else list(SMALL_MODELS if small else DEFAULT_MODELS)
    for n in names:
        if not isinstance(n, str):
            raise BadInputError(f"compare takes model names, got {type(n).__name__}")
    chosen = MeasureSettings.merged(settings, "compare", **setting_values)
    shape = _shape_arg(input_shape)
    bs = _batch_list(batch_sizes, input_shape)
    jobs = [(c, None) for n in names for c in _configs(n, bs, chosen, input_size=input_size, input_shape=shape)]
    return as_results(_run_jobs(jobs, db, progress), "compare")


def _shape_arg(input_shape):
    return tuple(input_shape) if input_shape is not None and not isinstance(input_shape, str) else input_shape
