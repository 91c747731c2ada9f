"""A sweep run: a spec's configurations measured by the one runner here (:func:`effkit.measurement.run.run_local`)
or on a Ray cluster (:mod:`effkit.sweep.ray`).

Both engines build failed rows the same way (:mod:`effkit.measurement.failed`), report progress as
:class:`~effkit.measurement.run.SweepEvent` objects and resume the same way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

from effkit.errors import BadInputError, setting
from effkit.measurement.run import SweepEvent
from effkit.sweep.spec import ENGINES, SweepSpec


def check_run_options(*, engine: str = "local", address: Optional[str] = None,
                      ray_num_cpus: Optional[float] = None, db=None) -> None:
    """Refuse a bad engine, Ray address, CPU reservation or store path before any work (what :func:`run_sweep`
    checks first; the command line calls it before it expands a sweep).

    Raises:
        BadInputError: naming the setting.
    """
    if engine not in ENGINES:
        raise BadInputError(f"unknown {setting('engine')} {engine!r}; use {' or '.join(ENGINES)}", field="engine")
    if address is not None and engine != "ray":
        raise BadInputError(f"{setting('address')} is for the Ray engine; add {setting('engine')} ray", field="address")
    if ray_num_cpus is not None and (isinstance(ray_num_cpus, bool) or not isinstance(ray_num_cpus, (int, float))
                                     or not (math.isfinite(ray_num_cpus) and ray_num_cpus > 0)):
        # Ray accepts fractional CPUs (0.5), so any positive number is allowed, not only integers.
        raise BadInputError(f"{setting('ray_num_cpus')} must be a positive number of CPUs such as 1 or 0.5, "
                            f"got {ray_num_cpus:g}" if isinstance(ray_num_cpus, (int, float))
                            else f"{setting('ray_num_cpus')} must be a number, got {ray_num_cpus!r}",
                            field="ray_num_cpus")
    if isinstance(db, (str, Path)):
        from effkit.store import check_store_path

        check_store_path(db)


def run_sweep(
    spec_or_configs,
    *,
    engine: str = "local",
    db=None,
    resume: bool = False,
    address: Optional[str] = None,
    measure_fn: Optional[Callable] = None,
    progress: Optional[Callable[[SweepEvent], None]] = None,
    ray_num_cpus: Optional[float] = None,
):
    """Measure every configuration of a sweep and commit each row to the results store as it finishes.

    Args:
        spec_or_configs: a :class:`SweepSpec` or a list of ``MeasureConfig``. A spec's float16/bfloat16
            configurations on an ``auto`` device that is a CPU are skipped, with a warning, unless its
            ``cpu_half`` (:mod:`effkit.sweep.half`).
        engine: ``"local"`` (in this process, one configuration at a time) or ``"ray"`` (one Ray task per
            configuration; ``num_gpus=1`` when the cluster has GPUs and the device is not ``cpu``).
        db: results database path or an open store; ``None`` (default) stores nothing and returns the rows
            (pass :func:`effkit.store.default_db_path` for the default store).
        resume: skip configurations already stored successfully for the same settings (config key) and
            machine (``machine_id``); on Ray, "the same machine" means any node of the cluster. Failed
            rows do not count, so failures are retried. Each stored row counts as one repeat.
        address: Ray cluster address (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``); ``None``
            starts a local Ray instance, or uses the one this process already joined.
        measure_fn: ``config -> row``; default :func:`effkit.measurement.api.measure_config`. On Ray it must
            be importable on the nodes (or picklable by value).
        progress: called with a :class:`SweepEvent` at start, as configurations begin (local) and
            whenever a row is stored.
        ray_num_cpus: CPUs each Ray task reserves when it runs on the CPU (default 1). Reserve a whole
            node's cores for CPU latencies that are not disturbed by neighbouring tasks.

    Returns:
        A DataFrame of the rows stored by this run (``id`` = their row id in the store), failures included.

    Raises:
        BadInputError: unknown engine, bad settings, CUDA asked for on a cluster without GPUs; with the
            default ``measure_fn`` on the local engine, a model that cannot be analysed at any of its
            configurations (see :func:`effkit.measurement.preflight.analyse_configs`), all before anything runs.
        BackendUnavailableError: Ray missing or the cluster unreachable; CUDA missing (local engine).
        SweepInterrupted: Ctrl-C; the rows finished so far are stored and attached.
    """
    check_run_options(engine=engine, address=address, ray_num_cpus=ray_num_cpus)
    if resume and db is None:
        raise BadInputError(f"{setting('resume')} needs a results store to resume from; give {setting('db')}",
                            field="resume")
    configs = _spec_configs(spec_or_configs, engine) if isinstance(spec_or_configs, SweepSpec) \
        else list(spec_or_configs)
    for c in configs:
        if not hasattr(c, "key"):
            raise BadInputError(f"expected a SweepSpec or MeasureConfig objects, got {type(c).__name__}")
        if hasattr(c, "validate"):
            c.validate()  # a bad setting (dtype float64, say) is refused now, not stored N times as failed
    emit = progress or (lambda event: None)
    if engine == "local":
        for dev in sorted({c.device for c in configs}):
            from effkit.devices import resolve_device

            resolve_device(dev)  # no CUDA here -> one clear error now, not N failed rows
        if measure_fn is None:
            # Every configuration checked and analysed on the meta device before the store opens: a model
            # that fails at all of its configurations is refused; one failing at some is stored failed there.
            from effkit.measurement.preflight import checked_measure_fn

            measure_fn = checked_measure_fn([(c, None) for c in configs])
        from effkit.measurement.run import run_local

        return run_local(configs, db, measure_fn, emit, resume=resume)
    from effkit.sweep.ray import import_ray, run_ray

    return run_ray(import_ray(), configs, db, resume, address, measure_fn, emit, ray_num_cpus)


def _spec_configs(spec: SweepSpec, engine: str) -> list:
    """The spec's configurations, less half precision on an ``auto`` CPU (a warning says how many)."""
    import warnings

    from effkit.sweep.half import sweep_configs

    split = sweep_configs(spec, engine)
    if split.skipped:
        warnings.warn(split.message(), stacklevel=3)
    return split.run


