"""The one runner: configurations measured one at a time in this process, each row committed to the store as
it finishes and reported as a :class:`SweepEvent`.

``measure()``, ``compare()`` and a local sweep (:func:`effkit.sweep.run.run_sweep`) call :func:`run_local`;
the Ray engine (:mod:`effkit.sweep.ray`) runs :func:`measure_one` in its tasks and shares the store opener,
the resume rule and the result table made here. Failed rows are made in :mod:`effkit.measurement.failed`.
"""

from __future__ import annotations

import traceback
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

from effkit.errors import BadInputError
from effkit.measurement.failed import LostDevices, error_text, failed_row, machine_columns, name_lost
from effkit.measurement.phases import reporting


@dataclass(frozen=True)
class SweepEvent:
    """What a run reports to its ``progress`` callback (``events`` for ``measure()`` and ``compare()``).

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
    """Ctrl-C during a run. Finished rows are already in the store; ``rows`` holds them.

    It is a :class:`KeyboardInterrupt`, so code that does not know about sweeps still stops as usual.
    """

    def __init__(self, rows, total: int, db: Optional[str]):
        self.rows = rows
        self.finished = len(rows)
        self.total = total
        self.db = db
        super().__init__(f"sweep interrupted: {self.finished} of {total} configurations finished and stored")


def measure_one(config, measure_fn: Optional[Callable] = None) -> dict:
    """Measure one configuration, never raising for a failure of the configuration itself.

    Runs where it is called (this process, or the Ray node a task landed on), so the row carries that
    machine's fingerprint either way.

    Args:
        config: a ``MeasureConfig``.
        measure_fn: ``config -> row dict``; default :func:`effkit.measurement.row.measure_row` (what
            :func:`effkit.measurement.api.measure_config` runs).

    Returns:
        The row; when ``measure_fn`` raised, a :func:`~effkit.measurement.failed.failed_row` with the error
        text, the traceback and this machine's fingerprint.
    """
    if measure_fn is None:
        from effkit.measurement.row import measure_row as measure_fn
    try:
        row = dict(measure_fn(config))
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one bad configuration must not stop the run
        row = failed_row(config, error_text(e), machine_columns(config.device))
        row["traceback"] = traceback.format_exc(limit=20)
        return name_lost(row, e)
    row.setdefault("status", "ok")
    row.setdefault("config_key", config.key())
    return name_lost(row)


@contextmanager
def open_store(db) -> Iterator[tuple[Any, Optional[str]]]:
    """``(store, label)`` for the length of a run: a path opens an effkit Store (closed afterwards), a
    store-like object is used as given (left open), and ``None`` stores nothing (``(None, None)``), as
    everywhere in effkit's API. ``label`` names the store in messages.

    Raises:
        BadInputError: ``db`` is neither a path nor an object with ``add()`` and ``rows()``; a path the
            store refuses (see :class:`effkit.store.Store`).
    """
    if db is None:
        yield None, None
        return
    if isinstance(db, (str, Path)):
        from effkit.store import Store

        store = Store(Path(db))
        try:
            yield store, str(db)
        finally:
            store.close()
        return
    if not all(hasattr(db, a) for a in ("add", "rows")):
        raise BadInputError(f"db must be a path or a store with add() and rows(), got {type(db).__name__}")
    yield db, str(getattr(db, "path", "the store"))


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


def results_frame(rows: list[dict]):
    """The result table of a run, one row per configuration in the order run: ``id`` (when stored) and
    :data:`~effkit.measurement.config.ROW_COLUMNS` first, in that order, then any other column."""
    import pandas as pd

    from effkit.measurement.config import ROW_COLUMNS

    df = pd.DataFrame(rows)
    front = [c for c in ["id", *ROW_COLUMNS] if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def run_local(configs: list, db, measure_fn: Callable, emit: Callable[[SweepEvent], None], *,
              resume: bool = False):
    """Measure ``configs`` here with ``measure_fn``, committing each row to ``db`` (see :func:`open_store`).

    ``resume``: skip the configurations ``db`` already holds successful rows of, measured on this machine
    (failed rows do not count; each stored row counts as one repeat).

    Returns:
        The :func:`results_frame` of the rows measured.

    Raises:
        SweepInterrupted: Ctrl-C; the rows finished so far (stored already) are attached.
    """
    with open_store(db) as (store, label):
        todo = configs
        if resume:
            stored = stored_counts(store, {machine_id(dev) for dev in {c.device for c in configs}})
            todo = pending_configs(configs, stored)
        rows = run_configs(todo, store, measure_fn, emit, skipped=len(configs) - len(todo), label=label)
    return results_frame(rows)


def run_configs(configs: list, store, measure_fn: Optional[Callable], emit: Callable[[SweepEvent], None], *,
                skipped: int = 0, label: Optional[str] = None) -> list[dict]:
    """The one measuring loop, here in this process.

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
        raise SweepInterrupted(results_frame(rows), len(configs), label) from None
    return rows


def _phase_events(emit, config, done: int, total: int, skipped: int):
    """The phases :func:`effkit.measurement.phases.report` announces, as ``SweepEvent("phase")`` of ``config``."""
    return lambda phase, detail: emit(SweepEvent("phase", done, total, skipped, config=config, phase=phase,
                                                 detail=detail))


def machine_id(device: str) -> str:
    """The ``machine_id`` rows measured on ``device`` here carry (what resume matches stored rows by)."""
    from effkit.measurement.machine import fingerprint

    return fingerprint(device)["machine_id"]


__all__ = ["SweepEvent", "SweepInterrupted", "machine_id", "measure_one", "open_store", "pending_configs",
           "results_frame", "run_configs", "run_local", "stored_counts"]
