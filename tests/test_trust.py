"""Measurements that say when they cannot be trusted: the load, thread and noise columns of every row, the
warnings worked out from them, where a person sees them, and sweeps that skip half precision on a CPU."""

from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest
import torch

from effkit.trust import shown_status, trust_notes, trust_tags, trust_warnings, warnings_text

FAST = dict(device="cpu", warmup_s=0, warmup_iters=1, min_iters=3, min_time_s=0, energy=False, idle_s=0)
FAST_FLAGS = ["--device", "cpu", "--warmup", "0", "--warmup-iters", "1", "--min-iters", "3", "--min-time", "0",
              "--no-energy", "--idle", "0"]


def _row(**kw) -> dict:
    """A clean CPU row: load 0.5 then 1.0 on 2 CPUs, 2 threads, IQR 0.3 ms of a 10 ms median (3 %)."""
    row = dict(model="m", status="ok", device="cpu", dtype="float32", batch_size=1, latency_ms=10.0,
               latency_iqr_ms=0.3, latency_iqr_ratio=0.03, load_1m_before=0.5, load_1m_after=1.0,
               torch_threads=2, cpu_count=2)
    row.update(kw)
    return row


# -------------------------------------------------------------------------------------- the pure judgement


def test_a_clean_row_has_no_warning():
    row = _row()
    assert trust_warnings(row) == [] and warnings_text(row) is None
    assert shown_status(row) == "ok"


def test_iqr_of_a_fifth_of_the_median_is_noisy():
    # IQR 2 ms of a 10 ms median: 20 %, above the 10 % limit
    row = _row(latency_iqr_ms=2.0, latency_iqr_ratio=0.2)
    assert trust_warnings(row) == ["noisy timing: IQR 20 % of the median (above 10 %)"]
    assert shown_status(row) == "ok (noisy)" and row["status"] == "ok"


def test_iqr_ratio_is_worked_out_for_rows_stored_before_the_column():
    row = _row(latency_iqr_ms=2.3)
    del row["latency_iqr_ratio"]  # an older row: 2.3 / 10 = 23 %
    assert trust_warnings(row) == ["noisy timing: IQR 23 % of the median (above 10 %)"]
    assert trust_warnings({"model": "m", "status": "ok", "latency_ms": 10.0, "latency_iqr_ms": 0.5}) == []


def test_load_above_the_cpu_count_before_or_after_is_a_busy_machine():
    assert trust_warnings(_row(load_1m_before=5.0)) == ["machine busy: load 5.0 on 2 CPUs"]
    assert trust_warnings(_row(load_1m_after=3.4)) == ["machine busy: load 3.4 on 2 CPUs"]
    assert trust_warnings(_row(load_1m_before=2.0, load_1m_after=2.0)) == []  # equal is not above
    assert trust_warnings(_row(load_1m_before=None, load_1m_after=None)) == []  # no load average on this OS


def test_more_threads_than_cpus_and_half_precision_on_a_cpu():
    assert trust_tags(_row(torch_threads=8)) == ["threads"]
    assert "8 torch threads on 2 usable CPUs" in trust_warnings(_row(torch_threads=8))[0]
    for dtype in ("float16", "bfloat16", "torch.float16"):
        found = trust_warnings(_row(dtype=dtype))
        assert len(found) == 1 and "on a CPU is emulated and slow; not what a GPU would do" in found[0]
    assert trust_warnings(_row(dtype="float16", device="cuda:0")) == []


def test_several_reasons_join_in_one_column_and_one_status():
    row = _row(load_1m_before=5.0, latency_iqr_ratio=0.2)
    assert warnings_text(row) == "machine busy: load 5.0 on 2 CPUs; noisy timing: IQR 20 % of the median (above 10 %)"
    assert shown_status(row) == "ok (busy, noisy)"


def test_failed_rows_and_empty_cells_are_not_judged():
    assert trust_warnings(_row(status="failed", load_1m_before=9.0)) == []
    df = pd.DataFrame([_row(), {"model": "old", "status": "ok", "latency_ms": 10.0}])  # NaN cells in row 2
    assert trust_notes(df) == []
    df = pd.DataFrame([_row(id=7, model="vovnet39", latency_iqr_ratio=0.2), _row(model="resnet18")])
    assert trust_notes(df) == ["vovnet39 batch 1 (id 7): noisy timing: IQR 20 % of the median (above 10 %)"]


# ----------------------------------------------------------------------------------- real measurements


def test_a_real_measurement_stores_load_threads_and_cpu_count(tiny, tmp_path):
    from effkit import Store, measure

    db = tmp_path / "r.sqlite"
    df = measure(f"{tiny}:build", input_size=16, db=db, **FAST)
    with Store(db, create=False, readonly=True) as store:
        row = store.get(int(df["id"].iloc[0]))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert row["cpu_count"] == usable and row["torch_threads"] == torch.get_num_threads()
    for key in ("load_1m_before", "load_1m_after"):
        assert isinstance(row[key], float) and row[key] >= 0
    assert row["latency_iqr_ratio"] == pytest.approx(row["latency_iqr_ms"] / row["latency_ms"])
    assert row["warnings"] == warnings_text(row)  # stored exactly as the function judges the stored row
    assert row["status"] == "ok"


def test_a_busy_machine_warns_in_the_row(tiny, monkeypatch):
    from effkit import measure

    monkeypatch.setattr(os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    row = measure(f"{tiny}:build", input_size=16, **FAST).iloc[0]
    assert row["load_1m_before"] == 99.0 and row["load_1m_after"] == 99.0
    assert f"machine busy: load 99.0 on {row['cpu_count']} CPUs" in row["warnings"]
    assert row["status"] == "ok"  # code filtering on status == "ok" still finds it


def test_compare_footer_and_status_show_a_busy_machine(tiny, cli, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    res = cli("compare", f"{tiny}:build", "-s", "16", "--no-store", *FAST_FLAGS)
    assert res.returncode == 0, res.stderr
    text = " ".join(res.stdout.split())  # the footer wraps with the terminal
    assert "warning: " in text and "machine busy: load 99.0 on" in text
    res = cli("compare", f"{tiny}:build", "-s", "16", "--no-store", "--format", "markdown", *FAST_FLAGS)
    assert "| ok (busy" in res.stdout and "- warning: " in res.stdout
    res = cli("compare", f"{tiny}:build", "-s", "16", "--no-store", "--format", "csv", *FAST_FLAGS)
    assert ",ok," in res.stdout and "machine busy: load 99.0" in res.stdout  # csv: stored status + warnings column


def test_results_list_footer_names_the_stored_rows_a_busy_machine_made(tiny, cli, monkeypatch, tmp_path):
    db = tmp_path / "r.sqlite"
    monkeypatch.setattr(os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    assert cli("compare", f"{tiny}:build", "-s", "16", "--db", str(db), *FAST_FLAGS).returncode == 0
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # listing later, on a quiet machine
    res = cli("results", "list", "--db", str(db), "--format", "markdown")
    assert res.returncode == 0, res.stderr
    assert "- warning: " in res.stdout and "(id 1): machine busy: load 99.0 on" in res.stdout


def test_half_precision_on_a_cpu_warns_once_on_stderr(tiny, cli):
    res = cli("compare", f"{tiny}:build", "-s", "16", "--no-store", "--dtype", "float16", "--format", "csv",
              *FAST_FLAGS)
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if "emulated" in line]
    assert lines == ["effkit: warning: float16 on a CPU is emulated and slow; not what a GPU would do "
                     "(measured anyway; every row says so)"]


def test_results_list_shows_the_warning_of_rows_stored_without_the_new_columns(tmp_path, cli):
    from effkit import Store

    db = tmp_path / "old.sqlite"
    with Store(db) as store:  # rows as an older effkit stored them: no load, thread or ratio columns
        store.add({"model": "noisy", "status": "ok", "device": "cpu", "batch_size": 1, "latency_ms": 10.0,
                   "latency_iqr_ms": 3.0})
        store.add({"model": "quiet", "status": "ok", "device": "cpu", "batch_size": 1, "latency_ms": 10.0,
                   "latency_iqr_ms": 0.1})
    res = cli("results", "list", "--db", str(db), "--format", "markdown")
    assert res.returncode == 0, res.stderr
    noisy, quiet = [line for line in res.stdout.splitlines() if "| noisy" in line or "| quiet" in line]
    assert "| ok (noisy) |" in noisy and "| ok |" in quiet
    assert cli("results", "list", "--db", str(db), "--status", "ok", "--format", "csv").stdout.count(",ok,") == 2


def test_report_has_a_warning_line_per_untrusted_row():
    from effkit.report.report import build_report, render_markdown

    df = pd.DataFrame({
        "model": ["vovnet39", "resnet50"], "status": ["ok", "ok"], "batch_size": [1, 1], "dtype": ["float32"] * 2,
        "device": ["cpu"] * 2, "cpu_model": ["Some CPU"] * 2, "input_shape": ["1x3x224x224"] * 2,
        "params": [22.6e6, 25.6e6], "flops": [16.0e9, 8.2e9], "paper_mac": [1e8, 2e8], "mac": [3e8, 6e8],
        "latency_ms": [400.0, 100.0], "latency_iqr_ms": [100.0, 1.0], "fps": [2.5, 10.0],
        "flops_per_s": [4.0e10, 8.2e10], "load_1m_before": [0.5, 0.5], "cpu_count": [4, 4],
        "timestamp": ["2025-05-01T10:00:00+00:00"] * 2,
    })
    rep = build_report(df)
    warned = [n for n in rep.notes if n.startswith("warning:")]
    # vovnet39: IQR 100 ms of a 400 ms median = 25 %; resnet50: 1 % is clean
    assert warned == ["warning: vovnet39 batch 1: noisy timing: IQR 25 % of the median (above 10 %): "
                      "its numbers may be off"]
    assert warned[0] in render_markdown(rep, {})


# ------------------------------------------------------------------------------- sweeps: half on a CPU


def _cpu(device):
    return torch.device("cpu")


def _gpu(device):
    return torch.device("cuda", 0)


def test_sweep_skips_half_precision_when_auto_is_a_cpu(tiny):
    from effkit.sweep import sweep_spec
    from effkit.sweep.half import skip_half_on_cpu, sweep_configs

    spec = sweep_spec(models=[f"{tiny}:build"], input_sizes=[16], dtypes=["float32", "float16", "bfloat16"],
                      repeats=2)
    split = skip_half_on_cpu(spec.configs(), resolve=_cpu)
    # 3 dtypes x 2 repeats = 6 configurations; float16 and bfloat16 of both rounds (4) are skipped
    assert [c.dtype for c in split.run] == ["float32", "float32"] and len(split.skipped) == 4
    assert split.message().startswith("skipped 4 float16/bfloat16 configuration(s): device auto is a CPU here")
    assert "cpu_half" in split.message()
    assert len(skip_half_on_cpu(spec.configs(), resolve=_gpu).run) == 6  # auto is a GPU: nothing skipped
    assert len(skip_half_on_cpu(spec.configs(), allow=True, resolve=_cpu).run) == 6
    explicit = sweep_spec(models=[f"{tiny}:build"], input_sizes=[16], dtypes=["float16"], device="cpu")
    assert len(skip_half_on_cpu(explicit.configs(), resolve=_cpu).run) == 1  # asked for on the CPU: measured
    asked = sweep_spec(models=[f"{tiny}:build"], input_sizes=[16], dtypes=["float16"], cpu_half=True)
    assert asked.cpu_half and asked.to_dict()["cpu_half"] is True
    assert len(sweep_configs(asked, resolve=_cpu).run) == 1
    assert len(sweep_configs(spec, "ray", resolve=_cpu).run) == 6  # on Ray the workers resolve auto


def test_cpu_half_is_a_checked_sweep_key(tmp_path, tiny):
    from effkit.errors import BadInputError
    from effkit.sweep import load_sweep

    f = tmp_path / "s.yaml"
    f.write_text(f"models: ['{tiny}:build']\ndtypes: [float16]\ncpu_half: true\n")
    assert load_sweep(f).cpu_half is True
    f.write_text(f"models: ['{tiny}:build']\ndtypes: [float16]\ncpu_half: maybe\n")
    with pytest.raises(BadInputError, match=r"s.yaml:3: cpu_half: expected true or false"):
        load_sweep(f)


def test_run_sweep_of_a_spec_skips_and_warns(tiny, monkeypatch):
    from effkit.sweep import run_sweep, sweep_spec

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    spec = sweep_spec(models=[f"{tiny}:build"], input_sizes=[16], dtypes=["float32", "float16"])
    measured = []

    def fake(config):
        measured.append(config.dtype)
        return {"model": config.model, "status": "ok", "dtype": config.dtype}

    with pytest.warns(UserWarning, match=r"skipped 1 float16 configuration\(s\)"):
        rows = run_sweep(spec, measure_fn=fake)
    assert measured == ["float32"] and len(rows) == 1


def test_sweep_cli_dry_run_shows_skipped_and_says_why(tiny, cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["sweep", "--model", f"{tiny}:build", "--input-size", "16", "--dtype", "float32,bfloat16", "--dry-run"]
    res = cli(*args, "--format", "json")
    assert res.returncode == 0, res.stderr
    status = {r["dtype"]: r["status"] for r in json.loads(res.stdout)}
    assert status == {"float32": "to run", "bfloat16": "skipped: half precision on a CPU"}
    assert "skipped 1 bfloat16 configuration(s)" in res.stderr and "--cpu-half" in res.stderr
    res = cli(*args, "--cpu-half", "--format", "json")
    assert "status" not in json.loads(res.stdout)[0] and "skipped 1" not in res.stderr
    table = " ".join(cli(*args).stdout.split())
    assert "1 configurations, 1 skipped (dry run" in table


def test_load_readers_without_an_os_load_average(monkeypatch):
    from effkit.measurement import machine

    monkeypatch.delattr(os, "getloadavg")
    assert machine.load_average() is None
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert machine.usable_cpus() == 3
    assert not math.isnan(machine.load_columns()["torch_threads"])


# -------------------------------------------------------------------------------------- leaving rows out


def test_trusted_rows_leaves_out_doubtful_rows_and_counts_them():
    from effkit.trust import trusted_rows, untrusted

    # b: IQR 5 ms of 10 ms (50 % > 10 %) is noisy; c: load 3.0 on 2 CPUs is busy; a is clean
    df = pd.DataFrame([_row(model="a"), _row(model="b", latency_iqr_ratio=0.5),
                       _row(model="c", load_1m_after=3.0)])
    assert untrusted(df) == [False, True, True]
    kept, notes = trusted_rows(df)
    assert list(kept["model"]) == ["a"]
    assert len(notes) == 1 and "left out 2 of 3" in notes[0] and "busy, noisy" in notes[0]
    assert "include_untrusted" in notes[0]  # the setting that keeps them, named for the CLI to render
    kept, notes = trusted_rows(df, include_untrusted=True)
    assert list(kept["model"]) == ["a", "b", "c"] and "kept 2" in notes[0]
    kept, notes = trusted_rows(df.iloc[:1])
    assert len(kept) == 1 and notes == []
