"""benchmarks/gpu_validation.py: its CPU flow end to end (meter absent), and its pass/fail rule by hand."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_validation.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_validation", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dry_run_runs_the_whole_flow_on_the_cpu(tmp_path):
    out = tmp_path / "gv"
    # run from another folder with effkit not on the path: the script finds the checkout itself
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "effkit vs plain loop" in res.stdout and "quick run: nothing gated" in res.stdout
    checks = pd.read_csv(out / "checks.csv")
    assert set(checks["section"]) == {"float32", "cuda_graph", "float16", "bfloat16", "adapters", "environment"}
    env_row = checks[checks["quantity"] == "fvcore imported"].iloc[0]
    assert bool(env_row["passed"]) and bool(env_row["gated"])  # the measurement path never imports fvcore
    assert not checks.loc[checks["section"] != "environment", "gated"].any()
    rows = pd.read_csv(out / "effkit_rows.csv")
    assert {"machine_id", "cpu_model", "torch_version", "cudnn_allow_tf32", "timed_span_s"} <= set(rows.columns)
    assert (rows["status"] == "ok").all()
    assert rows["energy_j_per_img"].isna().all() and (rows["energy_status"] == "off").all()  # empty, with reason
    plain = pd.read_csv(out / "plain_loop.csv")
    assert plain["energy_j_per_img"].isna().all()
    assert (plain["energy_reason"] == "no NVML energy counter on the CPU").all()
    assert set(plain["dtype"]) == {"float32", "float16", "bfloat16"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_full_run_without_cuda_is_refused_in_one_line(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "--dry-run" in res.stderr


def test_gate_is_three_percent_fps_and_ten_percent_energy():
    gv = load_script()
    eff = pd.DataFrame([
        {"model": "a", "batch_size": 1, "dtype": "float32", "status": "ok", "fps": 1029.0, "flops_per_s": 2e12,
         "flops": 4e9,
         "peak_memory_bytes": 100 * 2 ** 20, "energy_j_per_img": 0.95, "energy_j_per_img_net": 0.5,
         "idle_power_w": 70.0, "energy_status": "ok", "error": None},
        {"model": "b", "batch_size": 1, "dtype": "float32", "status": "ok", "fps": 1031.0, "flops_per_s": 2e12,
         "flops": 4e9,
         "peak_memory_bytes": None, "energy_j_per_img": 1.11, "energy_j_per_img_net": 0.6,
         "idle_power_w": 70.0, "energy_status": "ok", "error": None},
    ])
    plain = [{"model": m, "batch_size": 1, "dtype": "float32", "fps": 1000.0, "energy_j_per_img": 1.0,
              "energy_reason": "", "peak_mib": 90.0} for m in ("a", "b")]
    checks = pd.DataFrame(gv.compare_rows(eff, plain, "float32", True, energy=True))
    got = {(r.model, r.quantity): (round(r.ratio, 3), r.passed) for r in checks.itertuples()}
    # 1029/1000 = +2.9 % passes, 1031/1000 = +3.1 % fails; 0.95 J = -5 % passes, 1.11 J = +11 % fails
    assert got == {("a", "fps"): (1.029, True), ("a", "j_per_img"): (0.95, True),
                   ("b", "fps"): (1.031, False), ("b", "j_per_img"): (1.11, False)}
    assert checks["gated"].all()
    assert checks.iloc[0]["tflops_effkit"] == pytest.approx(2.0) and checks.iloc[0]["peak_mib_effkit"] == 100
    assert checks.iloc[0]["tflops_plain"] == pytest.approx(4e9 * 1000.0 / 1e12)  # flops x plain fps / batch


def test_graph_memory_gate_catches_a_weights_only_peak_and_a_broken_section_is_recorded():
    gv = load_script()
    mib = 2 ** 20
    eager = pd.DataFrame([{"model": "resnet50", "batch_size": 1, "dtype": "float32", "latency_ms": 4.0,
                           "peak_memory_bytes": 468 * mib}])
    graph = pd.DataFrame([
        {"model": "resnet50", "status": "ok", "latency_ms": 2.0, "latency_p99_ms": 2.1,
         "peak_memory_bytes": 98 * mib, "memory_method": "replays", "error": None}])
    checks = gv.graph_checks(eager, graph, True)
    mem = [c for c in checks if c["quantity"].startswith("peak MiB")][0]
    assert mem["passed"] is False and mem["gated"]  # 98 / 468 = 0.21 < 0.8
    assert "speed-up x2.00" in checks[0]["note"]
    graph.loc[0, "peak_memory_bytes"] = 470 * mib
    assert [c for c in gv.graph_checks(eager, graph, True) if c["quantity"].startswith("peak")][0]["passed"]
    recorded: list = []
    assert gv.guarded(recorded, "float16", lambda: 1 / 0) is None
    assert recorded[0]["passed"] is False and recorded[0]["gated"] and "ZeroDivisionError" in recorded[0]["note"]
