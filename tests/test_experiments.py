"""The experiment scripts run end to end (``--quick``, into a temporary folder) and write what they promise.

Quick runs use tiny inputs and few iterations, so only static counts and plumbing are checked against hand
computations; measured latencies are only required to be positive (timed assertions are not allowed).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(EXPERIMENTS / f"{script}.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def run_quick(script: str, out: Path, *args: str) -> pd.DataFrame:
    res = run(script, "--quick", "--out", str(out), *args, cwd=out.parent)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert (out / f"{script}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return pd.read_csv(out / f"{script}.csv")


def assert_measured(df: pd.DataFrame) -> None:
    assert (df["latency_ms"] > 0).all() and (df["fps"] > 0).all()
    # fps is sustained throughput (images / timed span, gaps included), so it never beats the fastest iteration
    assert (df["fps"] <= df["batch_size"] * 1e3 / df["latency_min_ms"] * (1 + 1e-9)).all()
    # achieved FLOP/s is the paper's FLOPs per batch x batches per second
    assert df["flops_per_s"].to_numpy() == pytest.approx((df["flops"] * df["fps"] / df["batch_size"]).to_numpy())
    assert df["machine"].str.match(r"^(CPU|GPU): ").all()


def test_densenet40_vs_osa(tmp_path):
    df = run_quick("densenet40_vs_osa", tmp_path / "out")
    assert list(df["model"]) == ["densenet40_cifar", "osa40_cifar_12", "osa40_cifar_5x43"]
    for col in ("layout", "params", "flops", "paper_mac", "mac", "activations", "latency_ms", "fps",
                "flops_per_s", "paper_mac_published", "paper_mac_vs_densenet40", "paper_c10_error_pct"):
        assert col in df.columns, col
    rows = df.set_index("model")
    # Equation (1) over DenseNet-40's convs at 32x32 is 3.68M (paper: 3.7M); the OSA versions move less.
    assert rows.loc["densenet40_cifar", "paper_mac"] / 1e6 == pytest.approx(3.68, abs=0.01)
    assert rows.loc["densenet40_cifar", "params"] == 1_019_722
    assert (rows.loc[["osa40_cifar_12", "osa40_cifar_5x43"], "paper_mac_vs_densenet40"] < 0.75).all()
    assert rows.loc["osa40_cifar_5x43", "paper_mac_published"] == 2.5e6
    assert math.isnan(rows.loc["osa40_cifar_12", "paper_mac_published"])
    assert rows.loc["osa40_cifar_12", "paper_c10_error_pct"] == pytest.approx(6.4)  # 93.6 % accuracy
    assert_measured(df)


def test_bottleneck_ablation(tmp_path):
    df = run_quick("bottleneck_ablation", tmp_path / "out")
    rows = df.set_index("model")
    assert list(rows.index) == ["vovnet27_slim", "vovnet27_slim_bottleneck"]
    assert list(rows["input_shape"]) == ["1x3x64x64"] * 2
    # 3 stem convs + 4 OSA blocks x (5 3x3 + one 1x1 aggregation) = 27; the bottleneck adds 4 x 5 1x1 convs.
    assert list(rows["conv_layers"]) == [27, 47]
    b = rows.loc["vovnet27_slim_bottleneck"]
    assert b["params_vs_plain"] < 1 and b["flops_vs_plain"] < 1 and b["activations_vs_plain"] > 1
    assert b["paper_params_m_vs_plain"] == pytest.approx(4.8 / 5.9, rel=1e-5)
    assert b["paper_latency_ms_vs_plain"] == pytest.approx(18 / 14, rel=1e-5)
    assert_measured(df)


def test_backbone_comparison_measures_when_nothing_is_stored(tmp_path):
    df = run_quick("backbone_comparison", tmp_path / "out", "--measure")
    assert sorted(df["model"]) == sorted(["vovnet39", "vovnet57", "resnet50", "resnet101", "densenet161",
                                          "densenet201"])
    assert df["source"].str.startswith("measured here").all()
    intensity = (df["flops"] / df["mac_bytes"]).to_numpy()
    assert df["intensity_flop_per_byte"].to_numpy() == pytest.approx(intensity, rel=1e-6)
    rows = df.set_index("model")
    assert rows.loc["densenet201", "readme_ms_vs_resnet50"] == pytest.approx(39 / 12)
    assert rows.loc["vovnet39", "paper_gflops_per_s"] == 815.0
    assert rows.loc["resnet50", "latency_vs_resnet50"] == 1.0
    assert_measured(df)


def test_backbone_comparison_uses_given_measurements(tmp_path):
    lat = {"vovnet39": 10.0, "vovnet57": 13.0, "resnet50": 12.0, "resnet101": 20.0, "densenet161": 27.0,
           "densenet201": 39.0}
    stored = pd.DataFrame({
        "model": list(lat) + ["resnet50"], "latency_ms": list(lat.values()) + [99.0],
        "flops_per_s": [1e12] * 7, "batch_size": [1] * 6 + [8], "input_shape": ["1x3x224x224"] * 7,
        "status": ["ok"] * 7, "gpu_name": ["Test GPU"] * 7, "device": ["cuda"] * 7,
    })
    stored.to_csv(tmp_path / "m.csv", index=False)
    df = run_quick("backbone_comparison", tmp_path / "out", "--measurements", str(tmp_path / "m.csv"))
    rows = df.set_index("model")
    assert rows["source"].str.startswith("stored").all()
    assert rows["machine"].eq("GPU: Test GPU").all()
    assert rows.loc["resnet50", "latency_ms"] == 12.0  # the batch-8 row is not the batch-1 comparison
    assert rows.loc["densenet201", "latency_vs_resnet50"] == pytest.approx(39 / 12)


def test_backbone_comparison_bad_measurements_file(tmp_path):
    (tmp_path / "few.csv").write_text("model,latency_ms,batch_size\nresnet50,12,1\n")
    for args, needle in ((["--measurements", str(tmp_path / "missing.csv")], "missing.csv"),
                         (["--measurements", str(tmp_path / "few.csv")], "lacks")):
        res = run("backbone_comparison", "--quick", "--out", str(tmp_path / "out"), *args, cwd=tmp_path)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr


def test_mac_lower_bound(tmp_path):
    df = run_quick("mac_lower_bound", tmp_path / "out")
    assert set(df["ci"] * df["co"]) == {3600}
    assert df["flops"].nunique() == 1  # fixed computation across the sweep
    assert (df["mac"] == df["mac_formula"]).all()
    best = df.loc[df["mac"].idxmin()]
    assert (best["ci"], best["co"], best["ratio_ci_co"]) == (60, 60, 1.0)
    # 3x3 conv on 8x8, ci = co = 60: hw(ci + co) + k^2 ci co = 64 * 120 + 9 * 3600
    assert best["mac"] == 64 * 120 + 9 * 3600 == 40_080
    assert best["mac_min"] == pytest.approx(40_080) and best["mac_min_effkit"] == pytest.approx(40_080)
    assert (df["mac"] >= df["mac_min"] - 1e-6).all()
    widest = df.loc[df["ratio_ci_co"].idxmin()]
    assert (widest["ci"], widest["co"], widest["mac"]) == (15, 240, 64 * 255 + 9 * 3600)


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    res = run("mac_lower_bound", "--quick", "--out", str(tmp_path / "afile"), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "is a file" in res.stderr


def _committed_results() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((EXPERIMENTS / "results").iterdir()) if p.is_file()}


def test_default_run_writes_to_the_scratch_folder_not_the_committed_results(tmp_path):
    before = _committed_results()
    res = run("mac_lower_bound", "--quick", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    scratch = tmp_path / "effkit-experiments"
    assert sorted(p.name for p in scratch.iterdir()) == ["mac_lower_bound.csv", "mac_lower_bound.png"]
    assert "scratch" in res.stderr and "--commit-results" in res.stderr
    assert _committed_results() == before  # byte for byte


def test_commit_results_is_the_only_way_into_experiments_results(monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    import _common as C

    assert C.parse_args("doc", ["--commit-results"]).out == EXPERIMENTS / "results"
    with pytest.raises(SystemExit) as e:  # argparse: the two are exclusive, exit 2
        C.parse_args("doc", ["--commit-results", "--out", "elsewhere"])
    assert e.value.code == 2
