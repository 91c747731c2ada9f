"""`--columns` on measure, compare, results list and sweep: the names asked for, in that order, in every format."""

from __future__ import annotations

import csv
import io

FAST = ["--device", "cpu", "--warmup-s", "0", "--warmup-iters", "1", "--min-iters", "2", "--min-time-s", "0",
        "--no-energy"]


def _header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text)))


def test_measure_csv_holds_just_the_columns_asked_for(tiny, cli, tmp_path):
    db = tmp_path / "r.sqlite"
    res = cli("measure", f"{tiny}:build", "--input-size", "8", "-b", "1,2", *FAST, "--db", str(db),
              "--columns", "batch_size,latency_ms,params", "-f", "csv")
    assert res.returncode == 0, res.stderr
    assert _header(res.stdout) == ["batch_size", "latency_ms", "params"]
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    # params of the tiny factory worked out by hand: conv 3*8*3*3 = 216, BN 2*8 = 16, linear 8*4 + 4 = 36
    assert [r["batch_size"] for r in rows] == ["1", "2"] and {r["params"] for r in rows} == {"268"}

    # results list takes the same option, over what was stored
    res = cli("results", "list", "--db", str(db), "--columns", "model,batch_size", "-f", "csv")
    assert res.returncode == 0, res.stderr
    assert _header(res.stdout) == ["model", "batch_size"]


def test_bad_column_is_one_line_before_anything_is_measured(tiny, cli, tmp_path):
    db = tmp_path / "r.sqlite"
    for command in (["measure", f"{tiny}:build"], ["compare", f"{tiny}:build"], ["sweep", "--model", f"{tiny}:build"]):
        res = cli(*command, "--input-size", "8", *FAST, "--db", str(db), "--columns", "model,latency")
        assert res.returncode == 2, (command, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "unknown column 'latency' for --columns" in lines[0] and "latency_ms" in lines[0]
    assert not db.exists()  # refused before the store was opened


def test_columns_all_and_the_compact_default_differ(tiny, cli):
    base = ["compare", f"{tiny}:build", "--input-size", "8", *FAST, "--no-store", "-f", "csv"]
    every = _header(cli(*base, "--columns", "all").stdout)
    assert {"config_key", "hostname", "latency_ms", "mac"} <= set(every)
    picked = _header(cli(*base, "--columns", "mac,model").stdout)
    assert picked == ["mac", "model"]


def test_sweep_summary_takes_columns(tiny, cli, tmp_path):
    res = cli("sweep", "--model", f"{tiny}:build", "--input-size", "8", *FAST, "--db", str(tmp_path / "r.sqlite"),
              "--columns", "model,status", "-f", "csv")
    assert res.returncode == 0, res.stderr
    assert _header(res.stdout) == ["model", "status"]
