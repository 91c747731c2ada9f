"""The results store under faults: a writer killed mid-transaction, and two processes creating one store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from effkit.store import Store

ROOT = str(Path(__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": ROOT}

# Adds rows inside one open transaction with a one-page cache, so SQLite spills pages into the file and
# keeps their originals in a hot -journal; then waits to be killed.
WRITER = '''
import sys, time
from effkit.store import Store
store = Store(sys.argv[1])
store.conn.execute("PRAGMA cache_size = 1")
store.conn.execute("BEGIN")
for i in range(200):
    store.add({"model": "x" * 2000, "status": "ok", "batch_size": i})
print("in transaction", flush=True)
time.sleep(120)
'''


def _kill_mid_transaction(db: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert child.stdout.readline().strip() == "in transaction"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert db.with_name(db.name + "-journal").exists()  # the crash left a hot journal


@pytest.fixture
def crashed(tmp_path):
    db = tmp_path / "r.db"
    with Store(db) as store:
        store.add({"model": "kept", "status": "ok", "batch_size": 1})
    _kill_mid_transaction(db)
    return db


def test_results_list_reads_a_store_after_a_writer_was_killed(crashed):
    res = subprocess.run([sys.executable, "-m", "effkit", "results", "list", "--db", str(crashed), "-f", "csv"],
                         capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2 and ",kept," in lines[1]  # the committed row; none of the 200 uncommitted ones


def test_read_only_folder_says_what_happened(crashed, monkeypatch):
    from effkit.errors import StoreError

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    with pytest.raises(StoreError, match="unfinished write"):
        Store(crashed, create=False, readonly=True)
    assert crashed.with_name(crashed.name + "-journal").exists()  # nothing was rolled back


def test_creating_the_schema_twice_is_harmless(tmp_path):
    # What a second process does when it, too, found the file new: the tables and the version row exist.
    store = Store(tmp_path / "r.db")
    store._create()
    assert store.conn.execute("SELECT COUNT(*) FROM effkit_schema").fetchone()[0] == 1
    store.close()


CREATOR = '''
import sys, time
from effkit.store import Store
start = float(sys.argv[2])
while time.time() < start:
    pass
with Store(sys.argv[1]) as store:
    store.add({"model": "m", "status": "ok"})
'''


def test_processes_creating_one_new_store_at_once(tmp_path):
    db = tmp_path / "new.db"
    start = time.time() + 3.0  # all start together, after their imports
    procs = [subprocess.Popen([sys.executable, "-c", CREATOR, str(db), str(start)], stderr=subprocess.PIPE,
                              text=True, env=ENV) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    with Store(db, create=False, readonly=True) as store:
        assert len(store) == 4
        assert store.conn.execute("SELECT COUNT(*) FROM effkit_schema").fetchone()[0] == 1
