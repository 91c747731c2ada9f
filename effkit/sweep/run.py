"""The sweep runner: every configuration measured where it is run, each row committed to the store as it finishes.

:func:`run_sweep` picks an engine: ``"local"`` (in this process, one configuration at a time, below) or
``"ray"`` (:mod:`effkit.sweep.ray`, one Ray task per configuration). Both build failed rows with
:func:`failed_row`, report progress as :class:`SweepEvent` objects and resume the same way.
"""

from __future__ import annotations

import math
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

from effkit.errors import BadInputError, EffkitError, setting
from effkit.measurement.phases import reporting
from effkit.sweep.spec import ENGINES, SweepSpec


@dataclass(frozen=True)
class SweepEvent:
    """What a sweep reports to its ``progress`` callback.

    Attributes:
        kind: ``"start"`` (once, when the number to run is known), ``"begin"`` (a configuration starts;
            local engine only — on Ray many run at once), ``"phase"`` (a step of the running configuration
            begins: ``phase`` names it, one of :data:`effkit.measurement.phases.PHASES`; local engine only)
            or ``"done"`` (a row was stored).
        done: configurations finished in this run so far.
        total: configurations this run will measure (after resume skips).
        skipped: configurations skipped because they were already stored (``resume=True``).
        config: the configuration that began or finished (``None`` for ``"start"``).
        row: the stored row (``"done"`` only).
        phase / detail: the step that begins and its detail, e.g. ``"energy"`` and ``"window 2 of 3"``
            (``"phase"`` only).
    """

    kind: str
    done: int
    total: int
    skipped: int = 0
    config: Any = None
    row: Optional[dict] = None
    phase: Optional[str] = None
    detail: Optional[str] = None


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep. Finished rows are already in the store; ``rows`` holds them.

    It is a :class:`KeyboardInterrupt`, so code that does not know about sweeps still stops as usual.
    """

    def __init__(self, rows, total: int, db: Optional[str]):
        self.rows = rows
        self.finished = len(rows)
        self.total = total
        self.db = db
        super().__init__(f"sweep interrupted: {self.finished} of {total} configurations finished and stored")


def failed_row(config, error: str, machine: Optional[Mapping[str, Any]] = None) -> dict:
    """A result row for a configuration that could not be measured (``status="failed"``, ``error`` set).

    The same row a measured configuration starts from (:func:`effkit.measurement.config.base_row`).
    """
    from effkit.measurement.config import base_row

    return base_row(config, machine=machine, error=error)


def error_text(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg}" if not isinstance(e, EffkitError) else msg


def measure_one(config, measure_fn: Optional[Callable] = None) -> dict:
    """Measure one configuration, never raising for a failure of the configuration itself.

    Runs where it is called (this process, or the Ray node a task landed on), so the row carries that
    machine's fingerprint either way.

    Args:
        config: a ``MeasureConfig``.
        measure_fn: ``config -> row dict``; default :func:`effkit.measurement.api.measure_config`.

    Returns:
        The row; when ``measure_fn`` raised, a :func:`failed_row` with the error text and this
        machine's fingerprint.
    """
    if measure_fn is None:
        from effkit.measurement.api import measure_config as measure_fn
    try:
        row = dict(measure_fn(config))
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one bad configuration must not stop the sweep
        row = failed_row(config, error_text(e), _machine(config))
        row["traceback"] = traceback.format_exc(limit=20)
        return _name_lost(row)
    row.setdefault("status", "ok")
    row.setdefault("config_key", config.key())
    return _name_lost(row)


def _name_lost(row: dict) -> dict:
    """A failed row whose error says its GPU is gone (NVML's "GPU is lost", a sticky CUDA error) says so first."""
    from effkit.measurement.device_lost import LOST_PREFIX, device_key, lost_cause

    device = device_key(row.get("device"))
    cause = lost_cause(row.get("error")) if row.get("status") != "ok" and device.startswith("cuda") else None
    if cause is not None and not str(row["error"]).startswith(LOST_PREFIX):
        row["error"] = f"{LOST_PREFIX} ({cause}) on {device}"
    return row


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


def _machine(config) -> dict:
    try:
        from effkit.measurement.machine import fingerprint

        return fingerprint(config.device)
    except Exception:  # e.g. the device itself is unusable; the failed row still needs writing
        try:
            from effkit.measurement.machine import fingerprint

            return fingerprint("cpu")
        except Exception:
            return {}


def open_store(db):
    """(store, owned, label): a path opens an effkit Store, a store-like object is used as given, and ``None``
    stores nothing (``(None, False, None)``), as everywhere in effkit's API."""
    if db is None:
        return None, False, None
    if isinstance(db, (str, Path)):
        from effkit.store import Store

        return Store(Path(db)), True, str(db)
    if not all(hasattr(db, a) for a in ("add", "rows")):
        raise BadInputError(f"db must be a path or a store with add() and rows(), got {type(db).__name__}")
    return db, False, str(getattr(db, "path", "the store"))


def stored_counts(store, machine_ids: Iterable[str]) -> Counter:
    """{config_key: successful rows} over the given machines."""
    counts: Counter = Counter()
    for mid in set(machine_ids):
        df = store.rows(machine_id=mid)
        if len(df) and "config_key" in df.columns:
            if "status" in df.columns:
                df = df[df["status"] == "ok"]
            counts.update(df["config_key"].dropna().tolist())
    return counts


def pending_configs(configs: list, stored: Counter) -> list:
    """Drop as many copies of each configuration as are already stored (repeats count one each)."""
    left = Counter(stored)
    out = []
    for c in configs:
        k = c.key()
        if left[k] > 0:
            left[k] -= 1
        else:
            out.append(c)
    return out


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

            measure_fn = checked_measure_fn(configs)
        return _run_local(configs, db, resume, measure_fn, emit)
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


def rows_frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)


def _run_local(configs, db, resume, measure_fn, emit):
    store, owned, label = open_store(db)
    try:
        todo = configs
        if resume:
            machine_ids = {dev: _machine_id(dev) for dev in {c.device for c in configs}}
            stored = stored_counts(store, machine_ids.values())
            todo = pending_configs(configs, stored)
        if measure_fn is None:  # one idle baseline per device for the whole run
            from effkit.measurement.api import run_measurer

            measure_fn = run_measurer(todo)
        rows = run_configs(todo, store, measure_fn, emit, skipped=len(configs) - len(todo), label=label)
    finally:
        if owned:
            store.close()
    return rows_frame(rows)


def run_configs(configs: list, store, measure_fn: Optional[Callable], emit: Callable[[SweepEvent], None], *,
                skipped: int = 0, label: Optional[str] = None) -> list[dict]:
    """The one measuring loop, here in this process: ``measure()``, ``compare()`` and the local engine run it.

    Each configuration is measured by :func:`measure_one` (a failure becomes a failed row), committed to
    ``store`` at once (``store=None``: nothing is stored, rows get no ``id``) and reported to ``emit`` as
    :class:`SweepEvent` objects (``start``, then ``begin``, its ``phase`` events and ``done`` per configuration).
    After a row that lost its GPU (:mod:`effkit.measurement.device_lost`), the later configurations on that
    device are stored as failed rows with the reason, without touching it (:class:`LostDevices`); others still run.

    Raises:
        SweepInterrupted: Ctrl-C; the rows finished so far (stored already) are attached.
    """
    rows: list[dict] = []
    lost = LostDevices()
    emit(SweepEvent("start", 0, len(configs), skipped))
    try:
        for c in configs:
            emit(SweepEvent("begin", len(rows), len(configs), skipped, config=c))
            row = lost.skip(c)
            if row is None:
                with reporting(_phase_events(emit, c, len(rows), len(configs), skipped)):
                    row = measure_one(c, measure_fn)
            lost.note(row)
            if store is not None:
                row["id"] = store.add(row)
            rows.append(row)
            emit(SweepEvent("done", len(rows), len(configs), skipped, config=c, row=row))
    except KeyboardInterrupt:
        raise SweepInterrupted(rows_frame(rows), len(configs), label) from None
    return rows


def _phase_events(emit, config, done: int, total: int, skipped: int):
    """The phases :func:`effkit.measurement.phases.report` announces, as ``SweepEvent("phase")`` of ``config``."""
    return lambda phase, detail: emit(SweepEvent("phase", done, total, skipped, config=config, phase=phase,
                                                 detail=detail))


def _machine_id(device: str) -> str:
    from effkit.measurement.machine import fingerprint

    return fingerprint(device)["machine_id"]
