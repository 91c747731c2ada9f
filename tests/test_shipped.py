"""Measurements shipped with effkit: finding and choosing the files, and Figure 3, the report and the compare
table drawn from them (out of the box when the user has measured nothing)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_bad_input

import effkit
from effkit import shipped
from effkit.errors import BadInputError

REAL = Path(__file__).resolve().parent.parent / "effkit" / "data" / "measurements" / \
    "cpu-amd-epyc-1-threads-2026-12-02.csv"

# Two files as `effkit results export` writes them (machine fingerprint columns included), written here.
CPU_CSV = """model,status,batch_size,input_shape,dtype,device,latency_ms,fps,flops,flops_per_s,cpu_model,gpu_name,timestamp,torch_threads
resnet50,ok,1,1x3x224x224,float32,cpu,100.0,10.0,8220000000,82200000000,Intel Xeon Gold 6338,,2026-10-01T10:00:00+00:00,4
vovnet39,ok,1,1x3x224x224,float32,cpu,120.0,8.3,14170000000,118000000000,Intel Xeon Gold 6338,,2026-10-01T10:01:00+00:00,4
"""
GPU_CSV = """model,status,batch_size,input_shape,dtype,device,latency_ms,fps,flops,flops_per_s,cpu_model,gpu_name,driver_version,timestamp
resnet50,ok,1,1x3x224x224,float32,cuda:0,5.0,200.0,8220000000,1644000000000,AMD EPYC 9654,NVIDIA H100 80GB HBM3,550.54,2026-09-01T10:00:00+00:00
resnet50,ok,32,32x3x224x224,float32,cuda:0,40.0,800.0,263040000000,6576000000000,AMD EPYC 9654,NVIDIA H100 80GB HBM3,550.54,2026-09-01T10:02:00+00:00
vovnet39,ok,1,1x3x224x224,float32,cuda:0,4.0,250.0,14170000000,3542500000000,AMD EPYC 9654,NVIDIA H100 80GB HBM3,550.54,2026-09-01T10:01:00+00:00
"""
CPU_NAME = "cpu-xeon-2026-10-01.csv"
GPU_NAME = "h100-2026-09-01.csv"


@pytest.fixture
def fake_dir(tmp_path, monkeypatch):
    """A data folder with one CPU file (newer) and one GPU file (older)."""
    folder = tmp_path / "measurements"
    folder.mkdir()
    (folder / CPU_NAME).write_text(CPU_CSV)
    (folder / GPU_NAME).write_text(GPU_CSV)
    (folder / "README.txt").write_text("not a measurements file")
    monkeypatch.setattr(shipped, "DATA_DIR", folder)
    return folder


@pytest.fixture
def empty_default_db(tmp_path, monkeypatch):
    from effkit.store import Store

    db = tmp_path / "empty.sqlite"
    Store(db).close()
    monkeypatch.setenv("EFFKIT_DB", str(db))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return db


# -- discovery and choice -------------------------------------------------------------------------------------


def test_files_are_found_with_their_machine_newest_first(fake_dir):
    files = effkit.shipped_measurements()
    assert [f.name for f in files] == [CPU_NAME, GPU_NAME]  # 2026-10-01 before 2026-09-01; the .txt is no CSV
    cpu, gpu = files
    assert (cpu.kind, cpu.machine, cpu.date, cpu.rows) == ("cpu", "Intel Xeon Gold 6338, 4 torch threads",
                                                           "2026-10-01", 2)
    assert (gpu.kind, gpu.machine, gpu.rows) == ("gpu", "NVIDIA H100 80GB HBM3", 3)
    assert gpu.models == ("resnet50", "vovnet39") and gpu.batch_sizes == (1, 32) and gpu.dtypes == ("float32",)


def test_default_is_the_newest_gpu_file_even_when_a_cpu_file_is_newer(fake_dir):
    assert effkit.choose_shipped().name == GPU_NAME
    assert effkit.choose_shipped("cpu").name == CPU_NAME
    assert effkit.choose_shipped("GPU").name == GPU_NAME
    assert effkit.choose_shipped(CPU_NAME).name == CPU_NAME
    assert effkit.choose_shipped("h100-2026-09-01").name == GPU_NAME  # the stem
    assert effkit.choose_shipped("xeon").name == CPU_NAME  # a part only one name has


def test_without_a_gpu_file_the_default_is_the_cpu_file(fake_dir):
    (fake_dir / GPU_NAME).unlink()
    assert effkit.choose_shipped().name == CPU_NAME
    with pytest.raises(BadInputError, match="ships no GPU measurements yet; shipped: " + CPU_NAME):
        effkit.choose_shipped("gpu")


def test_bad_or_ambiguous_name_lists_the_files(fake_dir):
    with pytest.raises(BadInputError) as info:
        effkit.choose_shipped("a100")
    assert CPU_NAME in str(info.value) and GPU_NAME in str(info.value) and "NVIDIA H100" in str(info.value)
    with pytest.raises(BadInputError, match="matches several"):
        effkit.choose_shipped("2026")


def test_nothing_shipped_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "DATA_DIR", tmp_path / "none")
    assert effkit.shipped_measurements() == []
    with pytest.raises(BadInputError, match="ships no measurements"):
        effkit.load_shipped()


def test_loader_returns_the_rows_and_names_the_file(fake_dir):
    df = effkit.load_shipped("gpu", batch_sizes=[32])
    assert df["model"].tolist() == ["resnet50"] and df["fps"].tolist() == [800.0]
    assert df.attrs["shipped"].name == GPU_NAME
    with pytest.raises(BadInputError, match="hold no densenet121; they hold resnet50, vovnet39"):
        effkit.load_shipped("gpu", models=["densenet121"])
    with pytest.raises(BadInputError, match="match batch size 8"):
        effkit.load_shipped("gpu", batch_sizes=[8])


# -- the CLI --------------------------------------------------------------------------------------------------


def test_cli_bad_name_is_one_line_exit_2_listing_the_files(fake_dir, cli):
    for argv in (["compare", "--from-shipped", "a100"], ["report", "--from-shipped", "a100", "-o", "r.md"]):
        result = cli(*argv)
        assert_bad_input(result)
        assert CPU_NAME in result.stderr and GPU_NAME in result.stderr


def test_cli_compare_shipped_rows_are_the_csv_rows(cli):
    result = cli("compare", "--shipped", "resnet50", "vovnet39", "-b", "8", "--format", "csv")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout))
    direct = pd.read_csv(REAL)  # the shipped file read with pandas, no effkit code
    direct = direct[direct["batch_size"] == 8].set_index("model")
    assert table["model"].tolist() == ["resnet50", "vovnet39"] and (table["batch_size"] == 8).all()
    for col in ("fps", "latency_ms", "flops_per_s", "peak_memory_bytes", "params", "mac"):
        assert table[col].tolist() == pytest.approx(direct.loc[["resnet50", "vovnet39"], col].tolist()), col
    assert table.loc[0, "fps"] == pytest.approx(7.734493)  # resnet50 at batch 8, line 21 of the CSV


def test_cli_compare_shipped_title_names_the_machine_and_file(fake_dir, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    result = cli("compare", "--shipped")
    assert result.returncode == 0, result.stderr
    assert "NVIDIA H100 80GB HBM3" in result.stdout and GPU_NAME in result.stdout and "not measured" in result.stdout


def test_cli_compare_shipped_refuses_measuring_options(cli):
    result = cli("compare", "--shipped", "--min-iters", "5")
    assert_bad_input(result)
    assert "--min-iters" in result.stderr


def test_figure3_falls_back_to_shipped_data_and_says_so(cli, empty_default_db, tmp_path):
    out = tmp_path / "fig3.png"
    result = cli("plot", "figure3", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.exists() and out.stat().st_size > 10_000
    notes = [ln for ln in result.stderr.splitlines() if "shipped with effkit" in ln]
    assert len(notes) == 1
    assert str(empty_default_db) in notes[0] and "AMD EPYC" in notes[0] and REAL.name in notes[0]
    assert "--batch-size 1" in result.stderr  # the file holds batch 1 and 8: which one is drawn is said


def test_figure3_falls_back_when_there_is_no_default_db_at_all(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("EFFKIT_DB", str(tmp_path / "never-made.sqlite"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / "f.png"
    result = cli("plot", "figure3", "--batch-size", "8", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.exists() and "AMD EPYC" in result.stderr
    assert not (tmp_path / "never-made.sqlite").exists()  # reading made no database


def test_report_from_shipped_data_names_machine_and_file(cli, empty_default_db, tmp_path):
    out = tmp_path / "r.md"
    result = cli("report", "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    title = text.splitlines()[0]
    assert "AMD EPYC" in title and REAL.name in title
    assert (tmp_path / "r_setup1_figure3.png").exists() and (tmp_path / "r_setup2_figure3.png").exists()
    direct = pd.read_csv(REAL)
    vov = direct[(direct["model"] == "vovnet39") & (direct["batch_size"] == 1)].iloc[0]
    assert f"{vov['latency_ms']:.2f}" in text  # 202.14 ms, as the CSV holds it


def test_explicit_shipped_with_csv_is_refused(cli, tmp_path):
    result = cli("plot", "figure3", "--shipped", "--csv", str(tmp_path / "x.csv"), "-o", str(tmp_path / "f.png"))
    assert_bad_input(result)


def test_roofline_of_shipped_data_draws_its_models(cli, tmp_path):
    """The CPU file has no published peaks: the roofs come from the flags, the points from the file."""
    out = tmp_path / "r.svg"
    result = cli("plot", "roofline", "--shipped", "--peak-tflops", "1", "--bandwidth-gbs", "20", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert REAL.name in result.stderr and "--batch-size 1" in result.stderr
    direct = pd.read_csv(REAL)  # the shipped file read with pandas, no effkit code
    drawn = direct[(direct["status"] == "ok") & (direct["batch_size"] == 1)]["model"]
    svg = out.read_text()
    assert len(drawn) > 10 and all(m in svg for m in drawn)


@pytest.mark.parametrize("argv", [["--shipped", "--csv", "x.csv"], ["--from-shipped", "a100"], ["--shipped"]])
def test_roofline_of_shipped_data_refuses_bad_requests(cli, tmp_path, argv):
    # both sources; no such file; a CPU file and no peaks to draw its roofs with
    peaks = ["--peak-tflops", "1", "--bandwidth-gbs", "20"] if argv != ["--shipped"] else []
    assert_bad_input(cli("plot", "roofline", *argv, *peaks, "-o", str(tmp_path / "r.png")))
    assert not (tmp_path / "r.png").exists()


def test_results_shipped_lists_the_files(fake_dir, cli):
    result = cli("results", "shipped", "--format", "json")
    assert result.returncode == 0, result.stderr
    listed = pd.read_json(io.StringIO(result.stdout))
    assert listed["name"].tolist() == [CPU_NAME, GPU_NAME]
    assert listed["machine"].tolist()[1] == "NVIDIA H100 80GB HBM3"


def test_readme_one_thread_roof_is_one_core_of_the_spec_and_under_no_point():
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = next(ln for ln in readme.splitlines() if ln.startswith("effkit plot roofline --shipped"))
    peak = float(re.search(r"--peak-tflops ([\d.]+)", line).group(1))
    # one Zen 3 core of an EPYC 7763 at its 3.5 GHz boost: 1 x 3.5e9 x 32 FLOP/cycle = 112 GFLOP/s = 0.112 TFLOP/s
    assert peak == pytest.approx(1 * 3.5 * 32 / 1000)
    direct = pd.read_csv(REAL)
    assert (direct["torch_threads"] == 1).all()
    best = direct["flops_per_s"].max() / 1e12
    assert best <= peak < 1.5 * best  # a roof over every point, and not the 9-13x too high 1 TFLOP/s it was
    from effkit.report.roofline import roofline

    fig = roofline(direct[direct["batch_size"] == 1], {"name": "user values", "peak_tflops": peak,
                                                        "bandwidth_gbs": 20.0, "source": "user values"},
                   figsize=(5, 4), source="shipped")
    assert not any("above the roofs" in n for n in fig.effkit_notes)
    assert any("threads x clock x FLOP per cycle" in n for n in fig.effkit_notes)
