"""Where measurements are read from (``effkit.store.read_results``): one source at a time, the default store
refused when empty, the shipped file as a fallback only when asked; the command line says the same as before."""

from __future__ import annotations

import pandas as pd
import pytest

from effkit import shipped
from effkit.errors import BadInputError, StoreError
from effkit.store import Store, read_results

ROWS = [{"model": "resnet50", "status": "ok", "batch_size": 1, "latency_ms": 10.0},
        {"model": "vovnet39", "status": "ok", "batch_size": 1, "latency_ms": 12.5}]
SHIPPED_CSV = """model,status,batch_size,input_shape,dtype,device,latency_ms,cpu_model,timestamp
resnet50,ok,1,1x3x224x224,float32,cpu,100.0,Some CPU,2026-10-01T10:00:00+00:00
"""


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "r.db"
    with Store(path) as store:
        for row in ROWS:
            store.add(row)
    return path


@pytest.fixture
def shipped_dir(tmp_path, monkeypatch):
    folder = tmp_path / "measurements"
    folder.mkdir()
    (folder / "cpu-some-2026-10-01.csv").write_text(SHIPPED_CSV)
    monkeypatch.setattr(shipped, "DATA_DIR", folder)
    return folder


@pytest.fixture
def default_db(tmp_path, monkeypatch):
    path = tmp_path / "default.db"
    monkeypatch.setenv("EFFKIT_DB", str(path))
    return path


def test_each_source_gives_its_rows(db, tmp_path, shipped_dir):
    assert read_results(db=db)["latency_ms"].tolist() == [10.0, 12.5]
    csv = tmp_path / "r.csv"
    pd.DataFrame(ROWS).to_csv(csv, index=False)
    assert read_results(csv=csv)["model"].tolist() == ["resnet50", "vovnet39"]
    df = read_results(shipped=True)
    assert df["latency_ms"].tolist() == [100.0] and df.attrs["shipped"].name == "cpu-some-2026-10-01.csv"
    assert read_results(shipped="cpu").attrs["shipped"].name == "cpu-some-2026-10-01.csv"


def test_no_source_reads_the_default_store(db, monkeypatch):
    monkeypatch.setenv("EFFKIT_DB", str(db))
    assert len(read_results()) == 2
    assert "shipped" not in read_results(shipped_if_empty=True).attrs  # measurements there: no fallback


@pytest.mark.parametrize("given", [dict(db="a.db", csv="a.csv"), dict(shipped=True, csv="a.csv"),
                                   dict(shipped="cpu", db="a.db")])
def test_two_sources_at_once_are_refused(given):
    with pytest.raises(BadInputError, match="not both"):
        read_results(**given)


def test_an_empty_default_store_is_refused_naming_it(default_db):
    Store(default_db).close()
    with pytest.raises(BadInputError, match=f"default results database {default_db} holds no measurements"):
        read_results()


def test_the_shipped_file_stands_in_only_when_asked(default_db, shipped_dir):
    with pytest.raises(StoreError, match="no results database"):  # missing default store, no fallback asked
        read_results()
    df = read_results(shipped_if_empty=True)
    assert df["latency_ms"].tolist() == [100.0]
    [text] = df.attrs["notes"]
    assert str(default_db) in text and "Some CPU" in text and "cpu-some-2026-10-01.csv" in text
    assert not default_db.exists()  # reading made no database


def test_not_required_reads_nothing_without_a_source(default_db, tmp_path):
    assert read_results(required=False) is None
    assert not default_db.exists()
    header_only = tmp_path / "h.csv"
    header_only.write_text("model,latency_ms\n")
    assert read_results(csv=header_only, required=False).empty
    with pytest.raises(BadInputError, match="has a header but no rows"):
        read_results(csv=header_only)


# The command line's wording, as it was before the choice moved into the store.
@pytest.mark.parametrize("argv, message", [
    (["proxies", "--csv", "a.csv", "--db", "a.db"], "give --csv or --db, not both"),
    (["plot", "figure3", "--from-shipped", "cpu", "--db", "a.db", "-o", "f.png"],
     "--shipped/--from-shipped read effkit's shipped measurements; give them or --csv/--db, not both"),
])
def test_the_command_line_names_its_flags(cli, argv, message):
    result = cli(*argv)
    assert result.returncode == 2
    assert result.stderr.strip() == f"effkit: error: {message}"


def test_the_command_line_says_which_empty_store_it_read(cli, default_db):
    Store(default_db).close()
    result = cli("proxies")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"effkit: error: the default results database {default_db} holds no measurements; run `effkit measure` "
        "or `effkit compare` first, or read other results with --db FILE or --csv FILE")


def test_the_default_store_adds_to_a_figure_only_when_it_holds_the_model(default_db, db, tmp_path):
    assert read_results(required=False, default_if_it_holds="vovnet39") is None  # no default store at all
    default_db.write_bytes(b"not a database")
    assert read_results(required=False, default_if_it_holds="vovnet39") is None  # unreadable: drawn without
    default_db.unlink()
    with Store(default_db) as store:
        store.add(ROWS[0])  # resnet50 only
    assert read_results(required=False, default_if_it_holds="vovnet39") is None
    assert read_results(required=False, default_if_it_holds="resnet50")["model"].tolist() == ["resnet50"]
    assert read_results(db=db, required=False, default_if_it_holds="resnet50")["latency_ms"].tolist() == [10.0, 12.5]
