"""`effkit measure` / `compare` / `results` end to end: bad input exits 2 with one line, results round-trip."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
import torch
from conftest import assert_bad_input

from effkit.store import Store

TINY = '''
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())

def other():
    return nn.Conv2d(3, 4, 1, bias=False)
'''

FAST = ["--device", "cpu", "--warmup", "0", "--warmup-iters", "1", "--min-iters", "3", "--min-time", "0",
        "--no-energy"]



def test_batch_size_zero(tmp_path, cli):
    assert_bad_input(cli("measure", "anything", "--batch-size", "0", "--db", str(tmp_path / "r.db")),
                     "batch size must be a positive integer")
    assert_bad_input(cli("measure", "anything", "--batch-size", "1,x", "--no-store"), "malformed batch size")
    assert_bad_input(cli("compare", "--batch-size", "-4", "--no-store"), "positive integer")
    assert not (tmp_path / "r.db").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(cli):
    assert_bad_input(cli("measure", "resnet18", "--device", "cuda", "--no-store"), "CUDA is not available")
    assert_bad_input(cli("compare", "resnet18", "resnet50", "--device", "cuda:0", "--no-store"), "CUDA is not available")


def test_corrupt_db_refused_and_untouched(tmp_path, cli):
    bad = tmp_path / "notes.db"
    bad.write_text("not a database\n")
    assert_bad_input(cli("measure", "resnet18", "--db", str(bad)), "not an SQLite database")
    assert bad.read_text() == "not a database\n"
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    assert_bad_input(cli("results", "list", "--db", str(foreign)), "not an effkit results store")
    assert foreign.read_bytes() == before


def test_other_bad_input(tmp_path, cli):
    assert_bad_input(cli("measure", "resnet18", "--db", str(tmp_path / "no" / "r.db")), "does not exist")
    assert_bad_input(cli("measure", "resnet18", "--db", str(tmp_path / "r.db"), "--no-store"), "contradict")
    assert_bad_input(cli("measure", "anything", "--format", "xml", "--no-store"), "unknown format")
    assert_bad_input(cli("results", "list", "--db", str(tmp_path / "none.db")), "no results database")
    assert not (tmp_path / "none.db").exists()


def test_results_list_show_export(tmp_path, cli):
    db = tmp_path / "r.db"
    with Store(db) as s:
        a = s.add({"model": "vovnet39", "status": "ok", "device": "cuda:0", "batch_size": 1, "latency_ms": 12.5,
                   "fps": 80.0, "flops": 1.0e10, "energy_j_per_img": None, "energy_status": "unavailable: test"})
        b = s.add({"model": "resnet50", "status": "failed", "device": "cuda:0", "batch_size": 256,
                   "error": "out of memory at batch size 256"})
    res = cli("results", "export", "--format", "csv", "--db", str(db))
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["id"] for r in rows] == [str(a), str(b)]
    assert rows[0]["model"] == "vovnet39" and float(rows[0]["latency_ms"]) == 12.5
    assert rows[0]["energy_j_per_img"] == ""  # missing, not 0
    assert rows[1]["error"] == "out of memory at batch size 256"

    out = tmp_path / "r.json"
    res = cli("results", "export", "--format", "json", "--db", str(db), "--model", "resnet50", "--output", str(out))
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert [d["model"] for d in data] == ["resnet50"]

    res = cli("results", "show", str(a), "--db", str(db), "--format", "json")
    assert json.loads(res.stdout)["fps"] == 80.0
    assert_bad_input(cli("results", "show", "99", "--db", str(db)), "no result with id 99")
    assert_bad_input(cli("results", "export", "--format", "markdown", "--db", str(db)), "unknown format")

    res = cli("results", "list", "--db", str(db), "--format", "csv")
    assert res.returncode == 0 and "vovnet39" in res.stdout and "resnet50" in res.stdout


def test_measure_and_compare_end_to_end(tmp_path, cli):
    (tmp_path / "tiny.py").write_text(TINY)
    db = tmp_path / "r.db"
    res = cli("measure", "tiny.py:build", "--input-size", "8", "--batch-size", "1,2", *FAST, "--db", str(db),
              "--format", "csv", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["batch_size"] for r in rows] == ["1", "2"]
    assert all(r["status"] == "ok" for r in rows)
    # 3x3 conv 3->8 on 8x8, padding 1: 8*8*8*27 multiply-adds per image, 2 flops each; the ReLU adds a
    # little on top, so the conv alone is a lower bound
    assert int(rows[1]["flops"]) >= 2 * 2 * 8 * 8 * 8 * 27
    assert int(rows[1]["mult_adds"]) == 2 * 8 * 8 * 8 * 27
    # sustained: flops of a batch x batches per second (fps / batch size)
    assert float(rows[1]["flops_per_s"]) == pytest.approx(int(rows[1]["flops"]) * float(rows[1]["fps"]) / 2)
    with Store(db, create=False) as s:
        assert len(s) == 2

    out = tmp_path / "table4.md"
    res = cli("compare", "tiny.py:build", "tiny.py:other", "--input-size", "8", *FAST, "--no-store",
              "--format", "markdown", "--output", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    from effkit.report.columns import header

    # the headers of the terminal's table (words; the units of times and bytes follow the values)
    for col in ("params", "flops", "paper_mac", "mac", "latency_ms", "fps", "flops_per_s", "peak_memory_bytes",
                "energy_j_per_img"):
        assert f"| {header(col)}" in text, col
    assert "tiny.py:build" in text and "tiny.py:other" in text


def test_measure_in_process_with_per_layer(tmp_path, monkeypatch):
    """The same flow in-process, the model resolver replaced by a tiny factory (no zoo needed)."""
    from torch import nn
    from typer.testing import CliRunner

    import effkit.models
    from effkit.cli import app

    def fake_create(name, **kw):
        assert name == "fake:tiny"
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())

    monkeypatch.setattr(effkit.models, "create_model", fake_create)
    monkeypatch.setattr("effkit.models.registry.check_model_names", lambda names: None)
    db = tmp_path / "r.db"
    res = CliRunner().invoke(app, ["measure", "fake:tiny", "--input-size", "8", "--batch-size", "2", *FAST,
                                   "--per-layer", "--db", str(db), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert len(data) == 1 and data[0]["status"] == "ok"
    layers = json.loads(data[0]["layers_json"])
    assert [l["type"] for l in layers] == ["Conv2d", "ReLU"]
    # 3x3 conv 3->8 on 8x8, padding 1, batch 2: 2*8*8*8*27 multiply-adds, 2 flops each
    assert layers[0]["flops"] == 2 * 2 * 8 * 8 * 8 * 27
    assert data[0]["flops"] == sum(l["flops"] for l in layers)
    with Store(db, create=False) as s:
        assert list(s.rows()["batch_size"]) == [2]

    res = CliRunner().invoke(app, ["compare", "fake:tiny", "--input-size", "8", *FAST, "--no-store",
                                   "--format", "csv"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert rows[0]["model"] == "fake:tiny" and rows[0]["status"] == "ok"


def test_bad_input_is_refused_before_measuring(tmp_path, cli):
    db = tmp_path / "r.db"
    # a typo among good names: nothing is measured or stored
    assert_bad_input(cli("compare", "resnet18", "nosuch", "--db", str(db)), "nosuch")
    assert not db.exists()
    # an unwritable output is refused up front, not after the measurement
    assert_bad_input(cli("measure", "resnet18", "--db", str(db), "-o", str(tmp_path / "no" / "x.csv")),
                     "does not exist")
    assert not db.exists()
    assert_bad_input(cli("measure", str(tmp_path / "missing.py") + ":build", "--no-store"), "does not exist")


def test_results_export_filters_and_formats(tmp_path, cli):
    db = tmp_path / "r.db"
    keep = tmp_path / "keep.csv"
    keep.write_text("precious\n")
    from effkit.store import Store

    with Store(db) as store:
        store.add({"model": "m", "status": "ok", "batch_size": 1})
    # an empty selection leaves an existing file alone
    assert_bad_input(cli("results", "export", "--db", str(db), "--model", "nosuch", "-o", str(keep)), "no rows match")
    assert keep.read_text() == "precious\n"
    assert_bad_input(cli("results", "list", "--db", str(db), "--status", "foo"), "--status")
    # the format follows the suffix; a mismatch is refused
    out = tmp_path / "out.json"
    res = cli("results", "export", "--db", str(db), "-o", str(out))
    assert res.returncode == 0, res.stderr
    import json

    assert json.loads(out.read_text())[0]["model"] == "m"
    assert_bad_input(cli("results", "export", "--db", str(db), "-f", "csv", "-o", str(out)), "does not match")


def test_every_model_name_checked_first(tmp_path, cli):
    db = tmp_path / "r.db"
    assert_bad_input(cli("compare", "nosuch", "--db", str(db)), "unknown model 'nosuch'")
    assert_bad_input(cli("compare", "resnet18", "no_such_pkg_xyz.mod:build", "--db", str(db)), "not importable")
    assert_bad_input(cli("compare", "resnet18", "-o", str(tmp_path / "no" / "t.md"), "--db", str(db)),
                     "does not exist")
    assert not db.exists()


def test_bad_shape_and_weights_store_nothing(tmp_path, cli):
    db = tmp_path / "r.db"
    assert_bad_input(cli("measure", "resnet18", "--input-shape", "1,3", "--db", str(db)), "N,C,H,W")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00garbage" * 16)
    assert_bad_input(cli("measure", "resnet18", "--weights", str(garbage), "--db", str(db), *FAST),
                     "could not read weights file")
    assert_bad_input(cli("measure", "resnet18", "--weights", str(tmp_path / "none.pt"), "--db", str(db)),
                     "does not exist")
    assert not db.exists()


def test_batch_size_follows_input_shape(tmp_path, cli):
    (tmp_path / "tiny.py").write_text(TINY)
    spec = f"{tmp_path / 'tiny.py'}:build"
    res = cli("measure", spec, "--input-shape", "3,3,8,8", *FAST, "--no-store", "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["batch_size"] for r in rows] == ["3"]
    assert int(rows[0]["mult_adds"]) == 3 * 8 * 8 * 8 * 27  # the 3x3 conv 3->8 on 8x8, three images
    assert_bad_input(cli("measure", spec, "--input-shape", "4,3,8,8", "-b", "1", "--no-store"),
                     "--batch-size 1 disagrees", "4x3x8x8")


def test_numeric_flags_named_as_typed(cli):
    # the flag's name, and the same message for every out-of-range value
    msgs = []
    for v in ("0", "-1"):
        res = cli("measure", "resnet18", "--no-store", "--min-iters", v)
        assert_bad_input(res, "--min-iters must be")
        msgs.append(res.stderr.strip().replace(v, "<v>"))
    assert msgs[0] == msgs[1]
    assert "min_iters" not in msgs[0]
    for flag, value in (("--warmup-iters", "-1"), ("--min-time", "-1"), ("--warmup", "nan"),
                        ("--energy-window", "-2"), ("--idle", "-1"), ("--energy-trials", "0"),
                        ("--input-size", "0")):
        assert_bad_input(cli("measure", "resnet18", "--no-store", flag, value), f"{flag} must be")


def test_dtype_help_and_validation_agree(tmp_path, cli):
    res = cli("measure", "--help")
    assert res.returncode == 0
    help_text = " ".join(res.stdout.split())
    assert "float32" in help_text and "float16" in help_text and "bfloat16" in help_text
    assert "float64" not in help_text
    for bad in ("float64", "double", "int8"):
        assert_bad_input(cli("measure", "resnet18", "--no-store", "--dtype", bad),
                         "--dtype must be one of float32, float16, bfloat16")
    (tmp_path / "tiny.py").write_text(TINY)
    res = cli("measure", f"{tmp_path / 'tiny.py'}:build", "-s", "8", "--dtype", "bf16", *FAST, "--no-store",
              "--format", "csv")
    assert res.returncode == 0, res.stderr
    assert next(csv.DictReader(io.StringIO(res.stdout)))["dtype"] == "bfloat16"  # alias stored by its name


def test_pipes_get_wide_tables_and_no_blank_stderr_lines(tmp_path, cli):
    (tmp_path / "tiny.py").write_text(TINY)
    res = cli("measure", "tiny.py:build", "-s", "8", *FAST, "--no-store", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # stderr is a pipe: no transient progress bar, so no empty lines
    assert all(line.strip() for line in res.stderr.splitlines()), repr(res.stderr)
    # stdout is a pipe: the title (model, shape, totals) stays on one line, wider than 80 columns
    title = [line for line in res.stdout.splitlines() if "tiny.py:build" in line]
    assert title and "paper MAC" in title[0] and len(title[0].rstrip()) > 80
    # a bad input: exactly one stderr line
    res = cli("measure", "tiny.py:build", "--min-iters", "0", "--no-store", cwd=tmp_path)
    assert_bad_input(res, "--min-iters")


def test_results_list_filters(tmp_path, cli):
    db = tmp_path / "r.db"
    with Store(db) as store:
        store.add({"model": "m", "status": "ok", "batch_size": 1})
    res = cli("results", "list", "--db", str(db), "--status", "failed")
    assert res.returncode == 0 and "no rows match" in res.stderr and res.stdout == ""
    assert_bad_input(cli("results", "list", "--db", str(db), "--status", "foo"), "--status must be ok or failed")
    assert_bad_input(cli("results", "export", "--db", str(db), "--status", "done"), "--status must be ok or failed")
    out = tmp_path / "keep.json"
    out.write_text("[]\n")
    assert_bad_input(cli("results", "export", "--db", str(db), "--status", "failed", "-o", str(out)), "no rows match")
    assert out.read_text() == "[]\n"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_tf32_without_cuda_is_one_line_exit_2(tmp_path, cli):
    (tmp_path / "tiny.py").write_text(TINY)
    for flag in ("--tf32", "--no-tf32"):
        res = cli("measure", f"{tmp_path / 'tiny.py'}:build", "-s", "8", *FAST, "--no-store", flag)
        assert_bad_input(res, "--tf32 needs a CUDA device")


def test_rows_record_what_float32_meant(tmp_path, cli):
    (tmp_path / "tiny.py").write_text(TINY)
    res = cli("measure", f"{tmp_path / 'tiny.py'}:build", "-s", "8", *FAST, "--no-store", "--format", "json")
    assert res.returncode == 0, res.stderr
    row = json.loads(res.stdout) if res.stdout.lstrip().startswith("{") else json.loads(res.stdout)[0]
    # torch's own settings, read here independently of effkit
    assert row["cudnn_allow_tf32"] == torch.backends.cudnn.allow_tf32
    assert row["float32_matmul_precision"] == torch.get_float32_matmul_precision()
    assert row["tf32"] is None
