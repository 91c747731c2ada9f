"""Benchmark files: the readers, the scoreboard, the predictor's fit and its refusals (no timm needed).

``fixtures/public/`` holds 32 rows of timm's RTX 4090 file (30 models) and effkit's features of them; the
fitting tests build synthetic benchmarks whose true rates are known.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from effkit.errors import BadInputError
from effkit.prediction.benchmark import family, read_benchmark, timm_setup
from effkit.prediction.opclasses import OP_CLASSES

FIX = Path(__file__).parent / "fixtures" / "public"
TIMM = FIX / "timm-benchmark-infer-amp-nchw-fixture-4090.csv"
FEATURES = FIX / "features.csv"


# ------------------------------------------------------------------------------------------------ readers


def test_timm_reader_reads_setup_from_the_name_and_time_from_throughput():
    df = read_benchmark(TIMM)
    assert df.attrs["format"] == "timm" and df.attrs["device"] == "RTX 4090"
    assert set(df["dtype"]) == {"float16"}  # timm's --amp is float16 autocast
    row = df[(df["model"] == "resnet50") & (df["input_size"] == 224)].iloc[0]
    # the fixture's row: resnet50,224,4302.84 img/s at batch 1024
    assert row["batch_size"] == 1024 and row["time_per_img_s"] == pytest.approx(1 / 4302.84)
    assert len(df) == 32


@pytest.mark.parametrize("name, dtype, device", [
    ("timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv", "float16", "RTX 3090"),
    ("timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv", "float16", "RTX 4090"),
    ("timm-benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv", "float32", "cpu i7-12700h"),
])
def test_timm_file_names(name, dtype, device):
    assert timm_setup(name) == {"dtype": dtype, "device": device}


def test_generic_reader_turns_ms_per_batch_into_images_per_second(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("model,input_size,batch_size,dtype,latency_ms,device\nresnet50,224,8,fp16,20,H100 SXM\n"
                 "resnet18,224,8,float16,10,H100 SXM\n")
    df = read_benchmark(p)
    assert df.attrs["format"] == "generic"
    # 8 images in 20 ms: 400 images/s
    assert df.set_index("model").loc["resnet50", "images_per_s"] == pytest.approx(400.0)
    assert set(df["dtype"]) == {"float16"}


def test_effkit_export_reader_keeps_successful_rows_and_names_the_gpu(tmp_path):
    p = tmp_path / "export.csv"
    pd.DataFrame([
        {"model": "resnet50", "input_shape": "4x3x224x224", "batch_size": 4, "dtype": "float32", "latency_ms": 8.0,
         "status": "ok", "gpu_name": "NVIDIA H100 80GB HBM3", "cpu_model": "Xeon"},
        {"model": "vgg16", "input_shape": "4x3x224x224", "batch_size": 4, "dtype": "float32", "latency_ms": 0.0,
         "status": "failed", "gpu_name": "NVIDIA H100 80GB HBM3", "cpu_model": "Xeon"},
    ]).to_csv(p, index=False)
    df = read_benchmark(p)
    assert df.attrs["format"] == "effkit" and list(df["model"]) == ["resnet50"]
    assert df["images_per_s"].iloc[0] == pytest.approx(500.0)  # 4 images in 8 ms
    assert df["input_size"].iloc[0] == 224 and df["device"].iloc[0] == "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize("text, words", [
    ("model,infer_img_size,infer_samples_per_sec\nresnet50,224,100\n", "no known format"),
    ("model,infer_img_size,infer_samples_per_sec,infer_batch_size\nresnet50,224,0,256\n", "positive throughput"),
    ("model,infer_img_size,infer_samples_per_sec,infer_batch_size\nresnet50,224,-3,256\n", "positive throughput"),
    ("model,infer_img_size,infer_samples_per_sec,infer_batch_size\nresnet50,224,5,256\nresnet50,224,6,256\n",
     "repeat a setup"),
    ("model,infer_img_size,infer_samples_per_sec,infer_batch_size\n", "holds no .successful. row"),
    ("model,input_size,batch_size,dtype,device\nresnet50,224,8,float16,x\n", "images_per_s or latency_ms"),
])
def test_bad_benchmark_files(tmp_path, text, words):
    p = tmp_path / "timm-benchmark-infer-amp-nchw-bad-4090.csv"
    p.write_text(text)
    with pytest.raises(BadInputError, match=words):
        read_benchmark(p)


def test_missing_file_is_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_benchmark(tmp_path / "nope.csv")


def test_family_is_the_name_prefix():
    assert [family(m) for m in ("resnet50d", "vit_base_patch16_224", "ese_vovnet39b", "densenet121")] == [
        "resnet", "vit", "ese", "densenet"]


# ------------------------------------------------------------------------------------- features join


def test_rows_without_features_are_named_and_counted(tmp_path):
    from effkit.prediction.scoreboard import benchmark_rows

    feats = pd.read_csv(FEATURES)
    feats = feats[~feats["model"].isin(["resnet18", "vit_base_patch16_224"])]
    rows, notes = benchmark_rows(TIMM, features=feats, analyse=None)
    assert len(rows) == 30
    assert any("left out 2 of 32 row(s)" in n and "resnet18" in n and "vit_base_patch16_224" in n for n in notes)


def test_no_row_with_features_is_bad_input():
    from effkit.prediction.scoreboard import benchmark_rows

    feats = pd.read_csv(FEATURES).iloc[:0]
    with pytest.raises(BadInputError, match="no row of the benchmark has features"):
        benchmark_rows(TIMM, features=feats, analyse=None)


# ------------------------------------------------------------------------------------------- scoreboard


def test_a_proxy_proportional_to_time_scores_one(tmp_path):
    """Throughput made exactly inversely proportional to FLOPs per image: FLOPs must rank and correlate at 1."""
    from effkit.prediction.public import load_features
    from effkit.prediction.scoreboard import benchmark_proxies

    feats = load_features(FEATURES)
    bench = read_benchmark(TIMM)
    flops = bench.merge(feats, on=["model", "input_size", "batch_size", "dtype"])
    p = tmp_path / "generic.csv"
    pd.DataFrame({"model": flops["model"], "input_size": flops["input_size"], "batch_size": flops["batch_size"],
                  "dtype": "float16", "device": "RTX 4090",
                  "images_per_s": 1e12 / (flops["flops"] / flops["batch_size"])}).to_csv(p, index=False)
    scores = benchmark_proxies(p, features=FEATURES, analyse=None, min_family=3).set_index(["scope", "proxy"])
    assert scores.loc[("all", "flops"), "spearman"] == pytest.approx(1.0)
    assert scores.loc[("all", "flops"), "pearson"] == pytest.approx(1.0)
    assert scores.loc[("all", "flops"), "n"] == 32
    assert scores.loc[("all", "params"), "spearman"] < 0.99
    assert ("resnet", "flops") in scores.index  # resnet18, resnet50 (3 sizes), resnet101: 3 models


# --------------------------------------------------------------------------------- fit on known rates


TRUE = {c: (1 / (r * 1e12), 1 / (b * 1e9)) for c, r, b in zip(
    OP_CLASSES, (100, 60, 5, 150, 120, 20, 10, 30, 15, 8, 7, 3), (500, 450, 400, 600, 700, 800, 750, 300, 900, 850,
                                                                   200, 100))}
TRUE_KERNEL = 4e-6


def synthetic(n_models: int, seed: int = 0, sizes=(1,)):
    """Features of ``n_models`` made-up models and their times under :data:`TRUE` rates (exactly)."""
    rng = np.random.default_rng(seed)
    feats, bench = [], []
    for i in range(n_models):
        base = {c: (rng.lognormal(20, 1.5), rng.lognormal(17, 1.5), int(rng.integers(1, 60))) for c in OP_CLASSES}
        for s in sizes:
            batch = 256
            row = {"model": f"{'abcd'[i % 4]}net{i}", "input_size": 224 * s, "batch_size": batch, "dtype": "float16"}
            t = TRUE_KERNEL * sum(k for _, _, k in base.values()) / batch
            for c, (f, b, k) in base.items():
                row.update({f"{c}_flops": f * s * batch, f"{c}_bytes": b * s * batch, f"{c}_kernels": k})
                t += f * s * TRUE[c][0] + b * s * TRUE[c][1]
            row.update(flops=sum(row[f"{c}_flops"] for c in OP_CLASSES), params=1e6 * (i + 1),
                       mac=sum(row[f"{c}_bytes"] for c in OP_CLASSES) / 2, activations=row["elementwise_bytes"] / 2)
            feats.append(row)
            bench.append({**{k: row[k] for k in ("model", "input_size", "batch_size", "dtype")},
                          "images_per_s": 1 / t, "device": "RTX 4090"})
    return pd.DataFrame(bench), pd.DataFrame(feats)


def test_fit_recovers_known_rates_and_leaves_nothing_out_of_sample():
    from effkit.prediction import benchfit as bf

    bench, feats = synthetic(60, sizes=(1, 2))
    rows = bench.merge(feats, on=["model", "input_size", "batch_size", "dtype"])
    X, y = bf.design(rows), 1 / rows["images_per_s"].to_numpy()
    coef = bf.fit_rates(X, y, rows["model"])
    want = [*(TRUE[c][0] for c in OP_CLASSES), *(TRUE[c][1] for c in OP_CLASSES), TRUE_KERNEL]
    np.testing.assert_allclose(coef, want, rtol=1e-6)
    pred = bf.cross_validate(bf.RatesFit(), X, y, rows["model"].to_numpy())
    assert bf.error_summary(pred, y, rows["model"])["median_abs_error"] < 1e-6


def test_error_summary_counts_models_once():
    from effkit.prediction.benchfit import error_summary

    # model a: rows off by 5 % and 25 % (median 15 %); model b: 2 %; model c: 30 %
    s = error_summary([1.05, 1.25, 1.02, 1.3], [1, 1, 1, 1], ["a", "a", "b", "c"])
    assert s["median_abs_error"] == pytest.approx(0.15) and s["within_10pct"] == pytest.approx(1 / 3)
    assert s["rows_within_10pct"] == pytest.approx(0.5)


def test_power_law_baseline_recovers_its_exponent():
    from effkit.prediction.benchfit import LogLinearFit, model_weights

    flops = np.logspace(8, 11, 20)[:, None]
    y = 3e-12 * flops[:, 0] ** 0.8
    fit = LogLinearFit([0], ["flops"])
    coef = fit.fit(flops, y, model_weights([str(i) for i in range(20)]))
    assert coef[1] == pytest.approx(0.8) and math.exp(coef[0]) == pytest.approx(3e-12)


def test_benchmark_calibration_on_known_rates(tmp_path):
    from effkit.prediction.scoreboard import benchmark_calibration

    bench, feats = synthetic(40)
    cal, s = benchmark_calibration(bench, features=feats, analyse=None)
    assert s["n_models"] == 40 and s["loo_median_abs_error"] < 1e-6 and s["lofo_median_abs_error"] < 1e-6
    assert s["baselines"]["flops_power_law"]["loo_median_abs_error"] > 0.01
    assert cal.class_rates["conv"]["s_per_flop"] == pytest.approx(TRUE["conv"][0], rel=1e-6)
    assert s["rates"]["gflops_per_s_conv"] == pytest.approx(100e3, rel=1e-6)  # 100 TFLOP/s
    assert cal.machine_id == "rtx4090" and cal.valid_range["batch_sizes"] == [256]


# ---------------------------------------------------------------------------------------------- refusals


def test_fewer_models_than_rates_is_refused():
    from effkit.prediction.scoreboard import benchmark_calibration

    bench, feats = synthetic(10)
    with pytest.raises(BadInputError, match="10 model.*at least 27 different models"):
        benchmark_calibration(bench, features=feats, analyse=None)


def test_a_fit_no_better_than_flops_is_refused_and_not_stored(tmp_path):
    """Times that follow FLOPs exactly but not the op classes: the power law is exact, the rates are not."""
    from effkit.prediction.scoreboard import benchmark_calibration

    bench, feats = synthetic(40)
    flops = feats["flops"] / feats["batch_size"]
    bench["images_per_s"] = 1e12 / flops ** 0.7
    db = tmp_path / "r.db"
    with pytest.raises(BadInputError, match="no better than a FLOPs power law"):
        benchmark_calibration(bench, features=feats, analyse=None, db=db)
    assert not db.exists()


def test_transfer_scales_by_the_device_tables_peaks():
    from effkit.prediction.scoreboard import peak_scale

    f = peak_scale("RTX 3090", "RTX 4090", "float16")
    i = OP_CLASSES.index
    # the device table's datasheet figures: FP16 tensor 71 -> 165.2, FP32 35.6 -> 82.6, 936 -> 1008 GB/s
    assert f[i("conv")] == pytest.approx(71 / 165.2) and f[i("elementwise")] == pytest.approx(35.6 / 82.6)
    assert f[len(OP_CLASSES)] == pytest.approx(936 / 1008) and f[-1] == 1.0


# ----------------------------------------------------------------------------------------- the commands


def test_calibrate_benchmark_json_is_stored(tmp_path, cli):
    bench, feats = synthetic(40)
    bp, fp, db = tmp_path / "bench.csv", tmp_path / "features.csv", tmp_path / "r.db"
    bench.to_csv(bp, index=False)
    feats.to_csv(fp, index=False)
    res = cli("calibrate", "--benchmark", bp, "--features", fp, "--db", db, "-f", "json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("n_models", "loo_median_abs_error", "loo_within_10pct", "lofo_median_abs_error", "baselines"):
        assert key in out
    assert out["n_models"] == 40 and out["loo_within_10pct"] == 1.0
    assert set(out["baselines"]) == {"flops_power_law", "best_log_linear"}
    import effkit

    cal = effkit.list_calibrations(db)[-1]
    assert cal.class_rates and cal.source == "bench.csv"


def test_calibrate_benchmark_on_a_new_machine_makes_the_default_stores_folder(tmp_path, cli):
    # a fresh machine has no data folder yet: the first fit stored there creates it, as a first measurement does
    bench, feats = synthetic(40)
    bp, fp = tmp_path / "bench.csv", tmp_path / "features.csv"
    bench.to_csv(bp, index=False)
    feats.to_csv(fp, index=False)
    db = tmp_path / "new" / "data" / "results.sqlite"
    res = cli("calibrate", "--benchmark", bp, "--features", fp, "-f", "json", env={"EFFKIT_DB": str(db)})
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["n_models"] == 40 and db.is_file()


def test_calibrate_benchmark_csv_and_table(tmp_path, cli):
    # exact rates (synthetic) predict every model within 10 %; the table into a pipe leaves out the one column
    # (lofo within 10 %) that csv keeps
    bench, feats = synthetic(40)
    bp, fp = tmp_path / "bench.csv", tmp_path / "features.csv"
    bench.to_csv(bp, index=False)
    feats.to_csv(fp, index=False)
    res = cli("calibrate", "--benchmark", bp, "--features", fp, "--db", tmp_path / "r.db", "-f", "csv")
    assert res.returncode == 0, res.stderr
    rows = pd.read_csv(io.StringIO(res.stdout))
    assert list(rows.columns) == ["predictor", "n_models", "loo_median_abs_error", "loo_within_10pct",
                                  "lofo_median_abs_error", "lofo_within_10pct"]
    ours = rows.iloc[0]
    assert ours["predictor"] == "effkit: rates per op kind" and ours["n_models"] == 40
    assert ours["loo_within_10pct"] == 1.0
    table = cli("calibrate", "--benchmark", bp, "--features", fp, "--db", tmp_path / "r.db").stdout
    assert "leave-one-model-out error (%)" in table and "leave-one-family-out (%)" not in table
    assert "achieved rates per op kind" in table and "stored in" not in table  # notes go to stderr


def test_proxies_benchmark_cli_json(cli):
    res = cli("proxies", "--benchmark", TIMM, "--features", FEATURES, "-f", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    got = {(r["scope"], r["proxy"]) for r in rows}
    assert {("all", "flops"), ("all", "activations"), ("all", "predicted (leave-one-model-out)")} <= got


def test_bad_benchmark_file_cli_one_line_exit_2(tmp_path, cli):
    from conftest import assert_bad_input

    p = tmp_path / "bad.csv"
    p.write_text("model,infer_img_size,infer_samples_per_sec,infer_batch_size\nresnet50,224,0,256\n")
    db = tmp_path / "r.db"
    assert_bad_input(cli("calibrate", "--benchmark", p, "--db", db, "--dtype", "float16"), "positive throughput")
    assert not db.exists()


def test_refused_fit_cli_one_line_exit_2_nothing_stored(tmp_path, cli):
    from conftest import assert_bad_input

    bench, feats = synthetic(12)
    bp, fp, db = tmp_path / "bench.csv", tmp_path / "features.csv", tmp_path / "r.db"
    bench.to_csv(bp, index=False)
    feats.to_csv(fp, index=False)
    assert_bad_input(cli("proxies", "--benchmark", tmp_path / "none.csv"), "does not exist")
    assert_bad_input(cli("calibrate", "--benchmark", bp, "--features", fp, "--db", db), "at least 27")
    assert not db.exists()


def test_predict_with_a_benchmark_calibration_prices_each_kind_and_warns_outside_its_range():
    """A calibration that charges only dense convolutions, 1 s per TFLOP: the prediction is the model's dense
    convolution FLOPs in TFLOPs, and a model far below the fitted FLOPs range is flagged."""
    from effkit.prediction.api import predict
    from effkit.prediction.calibration import Calibration

    rates = {c: {"s_per_flop": 0.0, "s_per_byte": 0.0} for c in OP_CLASSES}
    rates["conv"]["s_per_flop"] = 1e-12
    cal = Calibration(machine_id="rtx4090", dtype="float32", fingerprint={"gpu_name": "RTX 4090"},
                      s_per_flop={"conv": 1e-12, "matmul": 0.0, "vector": 0.0}, s_per_byte=0.0, s_per_kernel=0.0,
                      class_rates=rates, valid_range={"flops_per_image": [1e12, 2e12], "batch_sizes": [256],
                                                      "input_sizes": [224, 224], "classes": ["conv"]})
    pred = predict("resnet18", calibration=cal, dtype="float32")
    ops = pred.ops
    dense = ops.loc[ops["cls"] == "conv", "flops"].sum()
    assert dense > 0 and pred.latency_ms == pytest.approx(dense * 1e-12 * 1e3)
    assert set(ops.loc[ops["op"] == "convolution", "cls"]) == {"conv"}  # resnet18 has no grouped convolution
    text = " ".join(pred.notes)
    assert "FLOPs per image" in text and "batch 1" in text and "matmul" in text
    assert pred.regime == "compute"


def test_host_overhead_is_a_device_parameter_and_batch_1_is_launch_bound():
    """resnet18 at batch 1 on an H100: ~70 kernels at 15 us of host time each is ~1 ms, while its 3.6 GFLOPs
    take ~5 us at the TF32 peak and its ~100 MB of eager traffic ~30 us at 3.35 TB/s: launch-bound. With no
    host overhead the same model is bound by memory or compute."""
    from effkit.prediction.api import predict
    from effkit.prediction.roofline import DEFAULT_LAUNCH_US, device_peaks

    assert device_peaks("H100 SXM").launch_overhead_us == DEFAULT_LAUNCH_US == 15.0
    assert device_peaks("H100 SXM", launch_overhead_us=25.0).launch_overhead_us == 25.0
    slow = predict("resnet18", "H100 SXM")
    assert slow.regime == "launch" and any("host overhead 15 us per op" in n for n in slow.notes)
    kernels = slow.ops["kernels"].sum()
    assert slow.latency_ms > kernels * 15e-3
    fast = predict("resnet18", "H100 SXM", launch_overhead_us=0.0)
    assert fast.regime in ("memory", "compute") and fast.latency_ms < slow.latency_ms / 5
    assert predict("resnet18", "H100 SXM", batch_size=256).regime != "launch"


def test_predict_cli_names_the_regime(cli):
    res = cli("predict", "resnet18", "--device-spec", "h100", "--launch-overhead-us", "20")
    assert res.returncode == 0, res.stderr
    assert "launch-bound" in res.stdout and "host overhead 20 us per op (as given" in res.stdout + res.stderr


def test_public_figure3_rows_from_the_shipped_rtx4090_file():
    from effkit.prediction.public import public_results

    rows, top1, source = public_results("rtx4090")
    r50 = rows.set_index("model").loc["resnet50"]
    # timm's row: 4302.84 img/s at batch 1024, step time 237.959 ms; timm's own count 4.11 GMACs per image
    assert r50["latency_ms"] == pytest.approx(237.959, rel=1e-3)
    assert r50["flops_per_s"] == pytest.approx(2 * 4.11e9 * 4302.84, rel=0.01)
    assert {"vovnet39a", "ese_vovnet39b", "densenet121", "resnet50"} <= set(rows["model"])
    assert 75 < top1["resnet50"] < 85 and "4090" in source and "vovnet39a" not in top1  # no weights for it


def test_plot_figure3_public(tmp_path, cli):
    from conftest import assert_bad_input

    out = tmp_path / "f3.png"
    res = cli("plot", "figure3", "--public", "rtx4090", "-o", out)
    assert res.returncode == 0, res.stderr
    assert out.stat().st_size > 10_000
    assert_bad_input(cli("plot", "figure3", "--public", "a100", "-o", tmp_path / "x.png"), "rtx4090")


def test_compare_public_shows_published_rows_beside_static_numbers(cli):
    from conftest import assert_bad_input

    res = cli("compare", "--public", "rtx3090", "vovnet39a", "resnet50", "-f", "json")
    assert res.returncode == 0, res.stderr
    rows = {r["model"]: r for r in json.loads(res.stdout)}
    assert rows["resnet50"]["fps"] == pytest.approx(3219.06)  # timm's RTX 3090 row at 224 px
    assert rows["resnet50"]["mult_adds"] == pytest.approx(4.11e9, rel=0.01)  # timm's own 4.11 GMACs
    assert_bad_input(cli("compare", "--public", "rtx3090", "vovnet39"), "no row of vovnet39")
    assert_bad_input(cli("compare", "--public", "rtx3090", "-b", "4"), "--batch-size has no effect")


def test_rows_missing_from_the_table_are_analysed_with_timm_where_it_imports():
    pytest.importorskip("timm", reason="the on-the-fly analysis builds timm's models (an optional extra)")
    from effkit.prediction.public import load_features
    from effkit.prediction.scoreboard import benchmark_rows

    feats = load_features(FEATURES)
    rows, notes = benchmark_rows(TIMM, features=feats[feats["model"] != "resnet18"])
    assert any("analysed 1 row(s)" in n for n in notes)
    mine = rows[rows["model"] == "resnet18"].iloc[0]
    shipped = feats[feats["model"] == "resnet18"].iloc[0]
    assert mine["flops"] == shipped["flops"] and mine["conv_kernels"] == shipped["conv_kernels"]


def test_a_batch_size_the_table_lacks_is_scaled_from_another(tmp_path):
    """resnet50 at 224 px, batch 256 instead of the table's 1024: totals from fixed + batch x per image,
    per-kind flops a quarter of the 1024 row's; kernel counts unchanged."""
    from effkit.prediction.public import load_features
    from effkit.prediction.scoreboard import benchmark_rows

    p = tmp_path / "other.csv"
    p.write_text("model,input_size,batch_size,dtype,images_per_s,device\nresnet50,224,256,float16,4000,A100\n"
                 "resnet18,160,1024,float16,9000,A100\n")
    rows, notes = benchmark_rows(p, features=FEATURES, analyse=None)
    r = rows.set_index("model").loc["resnet50"]
    t = load_features(FEATURES)
    full = t[(t["model"] == "resnet50") & (t["input_size"] == 224)].iloc[0]
    assert r["conv_flops"] == pytest.approx(full["conv_flops"] / 4) and r["conv_kernels"] == full["conv_kernels"]
    assert r["flops"] == pytest.approx(full["flops_fixed"] + 256 * full["flops_per_image"])
    assert any("1 row(s) at a batch size" in n for n in notes) and len(rows) == 2


def test_python_api_spellings():
    import effkit

    bench, feats = synthetic(40)
    [cal] = effkit.calibrate(benchmark=bench, features_table=feats)
    assert cal.scores["n_models"] == 40 and cal.scores["loo_median_abs_error"] < 1e-6
    scores = effkit.proxies(benchmark=TIMM, features_table=FEATURES)
    assert set(scores["scope"]) >= {"all"} and "activations" in set(scores["proxy"])
