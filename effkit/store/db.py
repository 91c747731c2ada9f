"""The results database: one SQLite row per measured configuration, committed the moment it is made.

Every row keeps a few indexed columns (id, timestamp, model, status, device, batch size, machine id,
config key) and the whole result as JSON, so new result columns need no migration. The file is marked
as effkit's by an ``effkit_schema`` table holding the schema version; a file without it (another
program's database, or not SQLite at all) is refused and never written to.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from effkit.errors import BadInputError, StoreError, setting

SCHEMA_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
#: Columns kept outside the JSON so they can be filtered in SQL.
INDEXED = ("timestamp", "model", "status", "device", "batch_size", "machine_id", "config_key")

# IF NOT EXISTS throughout: two processes creating the same new store both run this (see Store._create).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS effkit_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT, model TEXT, status TEXT, device TEXT, batch_size INTEGER,
    machine_id TEXT, config_key TEXT,
    row_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_config ON results (config_key, machine_id);
CREATE INDEX IF NOT EXISTS results_model ON results (model);
"""
#: How long creating the schema waits for another process creating it at the same moment.
_CREATE_RETRY_S = 30.0


def default_db_path() -> Path:
    """``$EFFKIT_DB`` if set, else ``results.sqlite`` in the user's data folder (platformdirs)."""
    env = os.environ.get("EFFKIT_DB")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("effkit", appauthor=False) / "results.sqlite"


def json_safe(v: Any) -> Any:
    """JSON-safe value: numpy scalars to Python, NaN to ``None`` (JSON has no NaN)."""
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        try:
            v = v.item()
        except (ValueError, TypeError):
            v = str(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, (tuple, set)):
        return [json_safe(x) for x in v]
    if isinstance(v, list):
        return [json_safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, Path):
        return str(v)
    return v


def upgrade_row(rec: dict) -> dict:
    """A stored row in today's column meanings (rows are JSON, so old ones are translated on read).

    Rows written before the headline J/img became gross hold ``energy_j_per_img`` net of idle beside
    ``energy_j_per_img_gross``: they read as ``energy_j_per_img`` (gross) and ``energy_j_per_img_net``.
    """
    if "energy_j_per_img_gross" in rec and "energy_j_per_img_net" not in rec:
        rec = dict(rec)
        rec["energy_j_per_img_net"] = rec.get("energy_j_per_img") if rec.get("idle_power_w") is not None else None
        rec["energy_j_per_img"] = rec.pop("energy_j_per_img_gross")
    return rec


def input_shape_of(row) -> tuple[int, ...]:
    """The input shape a stored row was measured at: its ``input_shape``, else ``batch_size`` x 3 x
    ``input_size`` squared (224 when the row has no size either)."""
    from effkit.units import parse_shape

    text = row.get("input_shape")
    if isinstance(text, str) and text.strip():
        return parse_shape(text)
    size = row.get("input_size")
    size = int(size) if isinstance(size, (int, float)) and not math.isnan(size) else 224
    return (int(row["batch_size"]), 3, size, size)


def _check_writable(p: Path, exists: bool) -> None:
    """Refuse a store that could be read but not written, when it is opened (before any measuring).

    SQLite opens such a file anyway and fails only at the first insert ("attempt to write a readonly
    database"), i.e. after the first measurement. It also writes a journal next to the file, so the
    folder must be writable too. ``os.access`` answers for this process (root, read-only mounts).
    """
    folder = p.parent if str(p.parent) else Path(".")
    if exists and not os.access(p, os.W_OK):
        raise StoreError(f"results database {p} is read-only; make it writable or choose another file with "
                         f"{setting('db')}", field="db")
    if not os.access(folder, os.W_OK):
        raise StoreError(f"results database {p} is in the read-only folder {folder} (SQLite writes a journal "
                         f"beside it); choose another file with {setting('db')}", field="db")


class Store:
    """An effkit results database (SQLite).

    Args:
        path: the database file. A missing file is created (its folder must exist); an existing file must
            be an effkit store, else :class:`StoreError` — the file is left exactly as it was.
        create: create a missing file (``False``: a missing file is an error, for readers).
        readonly: open without write access (``results list/show/export``).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True, readonly: bool = False):
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self._conn: Optional[sqlite3.Connection] = None
        p = self.path
        if p.is_dir():
            raise StoreError(f"results database {p} is a folder; give a file path with {setting('db')}", field="db")
        exists = p.exists()
        if exists:
            try:
                with open(p, "rb") as f:
                    head = f.read(len(_SQLITE_MAGIC))
            except OSError as e:
                raise StoreError(f"cannot read results database {p}: {e.strerror or e}") from e
            if head and head != _SQLITE_MAGIC:
                raise StoreError(
                    f"{p} is not an SQLite database, so not an effkit results store; left untouched — "
                    f"choose another file with {setting('db')}"
                )
            fresh = not head
        else:
            if not create:
                raise StoreError(f"no results database at {p}; measure something into it first or pass {setting('db')}",
                                 field="db")
            if not p.parent.is_dir():
                raise StoreError(f"cannot create results database {p}: folder {p.parent} does not exist")
            fresh = True
        if not readonly:
            _check_writable(p, exists)
        mode = "ro" if readonly else ("rw" if exists else "rwc")
        try:
            self._conn = self._connect(mode)
            if readonly and exists:
                self._read_through_journal()
            if fresh and not readonly:
                self._create()
            else:
                self._check_schema()
        except StoreError:
            self.close()
            raise
        except sqlite3.Error as e:
            self.close()
            raise StoreError(f"cannot open results database {p}: {e}") from e

    def _connect(self, mode: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode={mode}", uri=True,
                               timeout=30.0, isolation_level=None)

    def _read_through_journal(self) -> None:
        """Make a read-only connection usable when a writer crashed mid-transaction.

        The crash leaves a "hot" ``-journal`` beside the file; SQLite must roll it back before anyone reads,
        which a read-only connection cannot do ("attempt to write a readonly database"). Rolling it back
        restores the last committed state (every row committed before the crash is kept), exactly what the
        next writer would do, so it is done here through a short read-write connection when the file and its
        folder are writable; otherwise the error says what happened and what to do.
        """
        try:
            self._conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return
        except sqlite3.OperationalError as e:
            journal = self.path.with_name(self.path.name + "-journal")
            if "readonly" not in str(e) or not journal.exists():
                raise
        self._conn.close()
        self._conn = None
        if not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)):
            raise StoreError(
                f"results database {self.path} holds an unfinished write of a process that stopped mid-way "
                f"({journal.name}); rolling it back needs write access to the file and its folder, which this "
                "user lacks — open it once with write access (or copy both files to a writable folder)")
        recover = self._connect("rw")
        try:
            recover.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # rolls the journal back
        finally:
            recover.close()
        self._conn = self._connect("ro")

    def _create(self) -> None:
        """Create the schema, idempotently, in one transaction.

        Two processes may both find the file new; ``BEGIN IMMEDIATE`` lets one create while the other waits
        (retried while the database is busy), and then finds the tables and version row already there.
        """
        conn = self._conn
        deadline = time.monotonic() + _CREATE_RETRY_S
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(stmt)
            if conn.execute("SELECT COUNT(*) FROM effkit_schema").fetchone()[0] == 0:
                conn.execute("INSERT INTO effkit_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    def _check_schema(self) -> None:
        names = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "effkit_schema" not in names or "results" not in names:
            raise StoreError(
                f"{self.path} is an SQLite database but not an effkit results store (no effkit_schema "
                f"table); left untouched — choose another file with {setting('db')}"
            )
        row = self._conn.execute("SELECT MAX(version) FROM effkit_schema").fetchone()
        version = row[0] if row else None
        if not isinstance(version, int) or isinstance(version, bool):
            raise StoreError(
                f"{self.path} has a damaged effkit_schema table (version {version!r} is not a whole number); "
                f"left untouched — choose another file with {setting('db')}", field="db")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has results schema version {version}, this effkit reads up to "
                f"{SCHEMA_VERSION}; upgrade effkit or use another {setting('db')}"
            )

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"results database {self.path} is closed")
        return self._conn

    # -- writing ---------------------------------------------------------------------------------
    def add(self, row: dict) -> int:
        """Insert one result row and commit it at once; returns its id.

        A missing ``timestamp`` is set to now (ISO 8601, UTC).
        """
        if self.readonly:
            raise StoreError(f"results database {self.path} was opened read-only")
        data = {k: json_safe(v) for k, v in row.items()}
        data.setdefault("timestamp", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        try:
            text = json.dumps(data, allow_nan=False, default=str)
            cur = self.conn.execute(
                f"INSERT INTO results ({', '.join(INDEXED)}, row_json) VALUES ({', '.join('?' * len(INDEXED))}, ?)",
                (*(data.get(k) for k in INDEXED), text),
            )
        except sqlite3.Error as e:
            raise StoreError(f"cannot write to results database {self.path}: {e}") from e
        return int(cur.lastrowid)

    # -- reading ---------------------------------------------------------------------------------
    def _select(self, where: str = "", args: tuple = ()) -> list[dict]:
        try:
            cur = self.conn.execute(f"SELECT id, row_json FROM results {where} ORDER BY id", args)
            out = []
            for rid, text in cur:
                rec = json.loads(text)
                if not isinstance(rec, dict):
                    raise StoreError(f"results database {self.path} holds a damaged row (id {rid}): its JSON is "
                                     f"a {type(rec).__name__}, not an object")
                rec = upgrade_row(rec)
                out.append({"id": rid, **rec})
            return out
        except sqlite3.Error as e:
            raise StoreError(f"cannot read results database {self.path}: {e}") from e
        except (json.JSONDecodeError, TypeError) as e:
            raise StoreError(f"results database {self.path} holds a damaged row: {e}") from e

    def rows(self, **filters) -> "Any":
        """All rows as a DataFrame (``id`` first), optionally filtered by equality: ``rows(model="vovnet39")``.

        Filters on :data:`INDEXED` columns run in SQL, others on the loaded rows.
        """
        import pandas as pd

        sql = {k: v for k, v in filters.items() if k in INDEXED}
        where = " AND ".join(f"{k} = ?" for k in sql)
        records = self._select(f"WHERE {where}" if where else "", tuple(sql.values()))
        df = pd.DataFrame(records)
        for k, v in filters.items():
            if k in sql:
                continue
            if df.empty:
                break
            if k not in df.columns:
                raise BadInputError(f"unknown result column {k!r} to filter on")
            df = df[df[k] == v]
        if df.empty and "id" not in df.columns:
            df = pd.DataFrame(columns=["id", *INDEXED])
        return df.reset_index(drop=True)

    def get(self, row_id: int) -> dict:
        """One row by id; a missing id is bad input."""
        found = self._select("WHERE id = ?", (int(row_id),))
        if not found:
            raise BadInputError(f"no result with id {row_id} in {self.path}; see `effkit results list`")
        return found[0]

    def has(self, config_key: str, machine_id: str, status: str | None = "ok") -> bool:
        """Whether this configuration was already measured on this machine (by default: successfully).

        Sweeps use it to resume: a configuration already stored is skipped; failed ones are retried.
        """
        q = "SELECT 1 FROM results WHERE config_key = ? AND machine_id = ?"
        args: tuple = (config_key, machine_id)
        if status is not None:
            q += " AND status = ?"
            args += (status,)
        try:
            return self.conn.execute(q + " LIMIT 1", args).fetchone() is not None
        except sqlite3.Error as e:
            raise StoreError(f"cannot read results database {self.path}: {e}") from e

    def __len__(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"


def read_results_csv(path: str | os.PathLike, *, required: bool = True) -> "Any":
    """Measurements from a CSV with the store's columns (``effkit results export``, a shipped file).

    Raises:
        BadInputError: the file is missing, unreadable, not CSV, or (with ``required``) has no rows.
    """
    import pandas as pd

    from effkit.errors import BadInputError

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise BadInputError(f"measurements file {path} does not exist") from None
    except pd.errors.EmptyDataError:
        raise BadInputError(f"measurements file {path} is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInputError(f"cannot read measurements file {path}: {first}") from e
    if required and frame.empty:
        raise BadInputError(f"measurements file {path} has a header but no rows")
    from effkit.layers_file import join_layers

    return join_layers(frame, Path(path))  # per-layer timings kept beside the CSV, if any


def check_store_path(path: str | os.PathLike) -> Path:
    """Refuse, before any work, a store path that cannot become a results store: a folder, a missing or read-only
    folder, or an existing file that is not an effkit store. Nothing is created or changed.

    Raises:
        BadInputError: with ``field="db"``.
    """
    from effkit.errors import BadInputError, EffkitError, setting
    from effkit.files import check_writable

    p = Path(path).expanduser()
    if p.is_dir():
        raise BadInputError(f"{setting('db')} {path} is a folder; give a file path such as "
                            f"{Path(path) / 'results.sqlite'}", field="db")
    try:
        check_writable(p)
        if p.exists() and p.stat().st_size > 0:
            # Read-only, so a file that is not a store is left exactly as it was.
            Store(p, create=False, readonly=True).close()
    except EffkitError as e:
        raise BadInputError(f"{setting('db')}: {e}", field="db") from None
    return p


def load_results(path: str | os.PathLike | None = None, **filters) -> "Any":
    """The rows of a results database as a pandas DataFrame (default: :func:`default_db_path`).

    Raises:
        StoreError: no database there, or not an effkit one.
    """
    with Store(path if path is not None else default_db_path(), create=False, readonly=True) as store:
        return store.rows(**filters)
