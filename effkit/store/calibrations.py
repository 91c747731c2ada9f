"""Calibrations in the results store: one table beside the results, created the first time one is saved.

The table is created with ``CREATE TABLE IF NOT EXISTS``, so a store written by an effkit without
calibrations opens as before and gains the table only when a calibration is saved; readers treat a store
without it as holding no calibration.
"""

from __future__ import annotations

import json
import os
import sqlite3

from effkit.errors import BadInputError, StoreError, setting
from effkit.prediction.calibration import Calibration
from effkit.store.db import Store, default_db_path, json_safe

_TABLE = """
CREATE TABLE IF NOT EXISTS calibrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT, machine_id TEXT NOT NULL, dtype TEXT NOT NULL,
    calibration_json TEXT NOT NULL
)
"""


def calibration_json(cal: Calibration) -> str:
    """The calibration as JSON (NaN as null), as the table keeps it."""
    return json.dumps(json_safe(cal.to_dict()), allow_nan=False)


def save_calibration(cal: Calibration, db: str | os.PathLike) -> int:
    """Store ``cal`` in the results database ``db`` (created if missing); returns its id."""
    with Store(db) as store:
        try:
            store.conn.execute(_TABLE)
            cur = store.conn.execute(
                "INSERT INTO calibrations (timestamp, machine_id, dtype, calibration_json) VALUES (?, ?, ?, ?)",
                (cal.created, cal.machine_id, cal.dtype, calibration_json(cal)))
        except sqlite3.Error as e:
            raise StoreError(f"cannot write a calibration to results database {store.path}: {e}") from e
        return int(cur.lastrowid)


def list_calibrations(db: str | os.PathLike | None = None) -> list[Calibration]:
    """Every stored calibration, oldest first (none when the store has no calibrations table)."""
    with Store(db if db is not None else default_db_path(), create=False, readonly=True) as store:
        try:
            has = store.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'calibrations'").fetchone()
            if not has:
                return []
            rows = store.conn.execute("SELECT calibration_json FROM calibrations ORDER BY id").fetchall()
        except sqlite3.Error as e:
            raise StoreError(f"cannot read calibrations from results database {store.path}: {e}") from e
    try:
        return [Calibration.from_dict(json.loads(text)) for (text,) in rows]
    except (json.JSONDecodeError, TypeError) as e:
        raise StoreError(f"a stored calibration is damaged: {e}") from e


def load_calibration(machine: str, dtype: str = "float32", db: str | os.PathLike | None = None) -> Calibration:
    """The latest calibration of ``machine`` (id or unique prefix) at ``dtype``.

    Raises:
        BadInputError: no calibration of that machine, or none at that dtype (the message says which exist).
    """
    from effkit.units import dtype_name, parse_dtype

    dt = dtype_name(parse_dtype(dtype))
    cals = list_calibrations(db)
    ids = sorted({c.machine_id for c in cals})
    hits = [m for m in ids if m == machine] or [m for m in ids if m.startswith(str(machine))]
    if len(hits) != 1:
        known = ", ".join(ids) if ids else "none is stored"
        why = "several calibrated machines match" if hits else "no calibration of that machine"
        raise BadInputError(f"{setting('calibration')} {machine!r}: {why} (calibrated machines: {known}); "
                            "fit one from that machine's measurements first (calibrate)", field="calibration")
    mine = [c for c in cals if c.machine_id == hits[0]]
    at = [c for c in mine if c.dtype == dt]
    if not at:
        have = ", ".join(sorted({c.dtype for c in mine}))
        raise BadInputError(f"machine {hits[0]} is calibrated for {have}, not {dt}; calibrate it from {dt} "
                            f"measurements or predict in {have}", field="calibration")
    return at[-1]
