"""The SQLite results store: rows committed at once, foreign files refused and left untouched, resume."""

from __future__ import annotations

import math
import sqlite3

import pytest
import torch
from torch import nn

from effkit.errors import StoreError
from effkit.measurement.api import measure
from effkit.store import Store, default_db_path, load_results


def row(**kw) -> dict:
    base = {"model": "vovnet39", "status": "ok", "device": "cuda:0", "batch_size": 1, "machine_id": "m1",
            "config_key": "k1", "latency_ms": 10.0, "fps": 100.0, "energy_j_per_img": None}
    base.update(kw)
    return base


def test_add_is_committed_at_once(tmp_path):
    path = tmp_path / "r.sqlite"
    store = Store(path)
    rid = store.add(row())
    # a second, independent connection sees the row while the store is still open
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM results WHERE id = ?", (rid,)).fetchone()[0] == 1
    other.close()
    store.close()


def test_rows_filters_get_and_types(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        a = store.add(row(latency_ms=float("nan"), params=torch.tensor(7).item()))
        b = store.add(row(model="resnet50", batch_size=32, clock_drop=True, extra=[1, 2]))
        df = store.rows()
        assert list(df["id"]) == [a, b]
        assert list(store.rows(model="resnet50")["batch_size"]) == [32]
        assert list(store.rows(fps=100.0)["id"]) == [a, b]  # a non-indexed column filters too
        got = store.get(b)
        assert got["clock_drop"] is True and got["extra"] == [1, 2]
        # NaN is stored as missing, never as a number
        assert store.get(a)["latency_ms"] is None
        assert store.get(a)["timestamp"].endswith("+00:00")
        assert len(store) == 2


def test_has_for_resume(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        store.add(row(config_key="done", machine_id="m1"))
        store.add(row(config_key="broke", machine_id="m1", status="failed", error="OOM"))
        assert store.has("done", "m1")
        assert not store.has("done", "m2")  # another machine must measure it itself
        assert not store.has("broke", "m1")  # failed configurations are retried
        assert store.has("broke", "m1", status=None)


def test_reopen_keeps_rows(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store(path) as s:
        s.add(row())
    with Store(path) as s:
        s.add(row(batch_size=8))
        assert list(s.rows()["batch_size"]) == [1, 8]
    assert len(load_results(path)) == 2


def test_not_sqlite_file_refused_and_untouched(tmp_path):
    path = tmp_path / "notes.db"
    content = b"my precious notes, not a database\n" * 10
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not an SQLite database"):
        Store(path)
    with pytest.raises(StoreError):
        load_results(path)
    assert path.read_bytes() == content


def test_foreign_sqlite_refused_and_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.execute("INSERT INTO songs VALUES ('a')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an effkit results store"):
        Store(path)
    assert path.read_bytes() == before


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE effkit_schema SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(path)


def test_unusable_paths(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing-folder" / "r.sqlite")
    with pytest.raises(StoreError, match="folder"):
        Store(tmp_path)
    with pytest.raises(StoreError, match="no results database"):
        load_results(tmp_path / "never.sqlite")
    assert not (tmp_path / "never.sqlite").exists()  # a reader creates nothing


def test_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "touched.sqlite"
    path.touch()
    with Store(path) as s:
        s.add(row())
    assert len(load_results(path)) == 1


def test_default_path_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFKIT_DB", str(tmp_path / "x.sqlite"))
    assert default_db_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("EFFKIT_DB")
    assert default_db_path().name == "results.sqlite"


class FailsAt(nn.Module):
    def __init__(self, batch: int, exc: BaseException):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.batch, self.exc = batch, exc

    def forward(self, x):
        if x.shape[0] == self.batch and x.device.type != "meta":
            raise self.exc
        return self.conv(x)


FAST = dict(input_size=4, device="cpu", warmup_s=0.0, warmup_iters=1, min_iters=2, min_time_s=0.0, energy=False)


def test_sweep_stores_failed_configuration_and_goes_on(tmp_path):
    path = tmp_path / "r.sqlite"
    df = measure(FailsAt(2, RuntimeError("exploded")), batch_sizes=[1, 2, 4], db=path, **FAST)
    stored = load_results(path)
    assert list(stored["id"]) == list(df["id"])
    assert list(stored["status"]) == ["ok", "failed", "ok"]
    assert "exploded" in stored.iloc[1]["error"]
    # the machine fingerprint and settings travel with every row
    assert stored["machine_id"].nunique() == 1 and stored["torch_version"].iloc[0] == torch.__version__
    assert stored.iloc[2]["flops"] == 2 * 4 * 4 * 4 * 3 * 4  # 1x1 conv 3->4 on 4x4 at batch 4
    with Store(path) as s:
        assert s.has(stored.iloc[0]["config_key"], stored.iloc[0]["machine_id"])
        assert not s.has(stored.iloc[1]["config_key"], stored.iloc[1]["machine_id"])


def test_ctrl_c_loses_no_finished_row(tmp_path):
    path = tmp_path / "r.sqlite"
    with pytest.raises(KeyboardInterrupt):
        measure(FailsAt(2, KeyboardInterrupt()), batch_sizes=[1, 2, 4], db=path, **FAST)
    stored = load_results(path)
    assert list(stored["batch_size"]) == [1]
    assert stored.iloc[0]["status"] == "ok" and not math.isnan(stored.iloc[0]["latency_ms"])


def test_corrupt_db_refused_before_measuring(tmp_path):
    path = tmp_path / "bad.db"
    path.write_text("garbage")
    with pytest.raises(StoreError):
        measure(nn.Conv2d(3, 4, 1), db=path, **FAST)
    assert path.read_text() == "garbage"


def test_input_shape_of_a_stored_row():
    from effkit.store import input_shape_of

    assert input_shape_of({"input_shape": "2x3x32x32", "batch_size": 2}) == (2, 3, 32, 32)
    # older rows and shipped CSVs: batch x RGB x the square input size, 224 when not even that was kept
    assert input_shape_of({"batch_size": 4, "input_size": 160}) == (4, 3, 160, 160)
    assert input_shape_of({"batch_size": 1, "input_shape": "", "input_size": float("nan")}) == (1, 3, 224, 224)
