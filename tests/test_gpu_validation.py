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
    # every configuration bracketed: a plain run before effkit's and one after
    assert (plain.groupby(["model", "batch_size", "dtype"])["run"].apply(lambda r: tuple(sorted(r))) == (1, 2)).all()
    # the estimate comes first, each section's table as it finishes, the final summary last
    lines = res.stdout.splitlines()
    assert lines[0].startswith("estimate: float32 ") and "budget" in lines[0]
    heads = [i for i, line in enumerate(lines) if line.startswith("--- ")]
    assert [lines[i] for i in heads][:3] == ["--- float32 ---", "--- cuda_graph ---", "--- float16 ---"]
    assert heads[-1] < next(i for i, line in enumerate(lines) if line.startswith("effkit vs plain loop"))


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


def test_budget_spent_skips_the_optional_models_and_says_so(tmp_path, monkeypatch):
    gv = load_script()
    # in-process: another test may have imported fvcore here, which the script's own gated check would see
    monkeypatch.delitem(sys.modules, "fvcore", raising=False)
    out = tmp_path / "gv"
    code = gv.main(["--dry-run", "--budget", "1", "--out", str(out)])
    assert code == 0
    checks = pd.read_csv(out / "checks.csv")
    skipped = checks[checks["note"].fillna("").str.startswith("skipped: over the 1 s budget")]
    assert list(skipped["model"]) == list(gv.QUICK_EXTRA_MODELS)
    assert set(checks["section"]) >= {"float32", "float16", "bfloat16", "adapters"}  # the required ones still ran


def test_band_keeps_three_percent_where_the_plain_runs_agree_and_widens_by_their_spread():
    gv = load_script()
    # 1000 and 1005 agree within 1 % (spread 5 / 1002.5 = 0.5 %): mean x (1 +- 3 %) = 972.4 .. 1032.6
    mean, lo, hi, spread = gv.band([1000.0, 1005.0], 0.03)
    assert (mean, round(lo, 3), round(hi, 3), round(spread, 5)) == (1002.5, 972.425, 1032.575, 0.00499)
    # 1000 and 1100 are 9.5 % apart (100 / 1050): their range widened by 1050 x 9.52 % = 100 on each side
    mean, lo, hi, spread = gv.band([1000.0, 1100.0], 0.03)
    assert (mean, round(lo, 6), round(hi, 6)) == (1050.0, 900.0, 1200.0)
    # 1000 and 1015 (1.5 % apart): the range widened by max(3 %, 1.5 %) x 1007.5 = 30.225
    _, lo, hi, _ = gv.band([1000.0, 1015.0], 0.03)
    assert (round(lo, 3), round(hi, 3)) == (969.775, 1045.225)
    eff = pd.DataFrame([{"model": m, "batch_size": 1, "dtype": "float16", "status": "ok", "fps": f,
                         "flops_per_s": 1e12, "flops": 1e9, "peak_memory_bytes": None, "error": None}
                        for m, f in (("a", 1190.0), ("b", 890.0))])
    plain = [{"model": m, "batch_size": 1, "dtype": "float16", "run": r, "fps": f, "energy_j_per_img": None,
              "energy_reason": "off", "peak_mib": None}
             for m in ("a", "b") for r, f in ((1, 1000.0), (2, 1100.0))]
    checks = gv.compare_rows(eff, plain, "float16", True, energy=False)
    assert [(c["model"], c["passed"], c["plain_runs"]) for c in checks] == [("a", True, 2), ("b", False, 2)]
    assert checks[0]["plain_loop"] == 1050.0 and round(checks[0]["plain_spread"], 4) == 0.0952


def fake_counter_nvml(read):
    """A pynvml stand-in with one device (UUID GPU-abcd) whose energy counter is ``read()``."""
    from test_energy import fake_nvml

    return fake_nvml([{"uuid": b"GPU-abcd", "counter": read, "power": lambda: 1}])


def test_raw_counter_failing_at_start_up_turns_energy_off_with_the_reason():
    gv = load_script()
    cuda = torch.device("cuda")  # a device object only: nothing here touches CUDA
    listing_fails = fake_counter_nvml(lambda: 5)
    listing_fails.nvmlDeviceGetCount = lambda: (_ for _ in ()).throw(listing_fails.NVMLError(999))
    for nv, why in ((listing_fails, "NVML error 999"), (fake_counter_nvml(None), "NVML error 3")):
        meter = gv.RawNvml(cuda, nvml=nv, uuid="GPU-ABCD")
        assert meter.mj() is None and why in meter.reason and "unavailable" in meter.reason
    assert "no NVML device" in gv.RawNvml(cuda, nvml=fake_counter_nvml(lambda: 5), uuid="GPU-ffff").reason
    ok = gv.RawNvml(cuda, nvml=fake_counter_nvml(lambda: 5), uuid="abcd")  # UUID matched without "GPU-"
    assert ok.mj() == 5 and ok.reason == ""


def test_a_counter_read_failing_mid_run_loses_energy_not_the_fps():
    gv = load_script()
    reads = iter([1_000, 2_000])  # the start-up read, the loop's first read; then the counter fails

    def read():
        try:
            return next(reads)
        except StopIteration:
            raise nv.NVMLError(15) from None  # NVML_ERROR_UNKNOWN

    nv = fake_counter_nvml(read)
    meter = gv.RawNvml(torch.device("cuda"), nvml=nv, uuid="GPU-abcd")
    assert meter.reason == ""
    r = gv.plain_loop(torch.nn.Linear(4, 4), torch.zeros(2, 4), "float32", seconds=0.01, warmup=1,
                      nvml=meter, min_iters=3, warmup_s=0.0)
    assert r["fps"] > 0 and r["iterations"] >= 3
    assert r["energy_j_per_img"] is None and "read failed during the run" in r["energy_reason"]
    assert meter.mj() is None  # off for the rest of the run
