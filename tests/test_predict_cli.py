"""`effkit proxies`, `predict`, `calibrate` and `plot proxies` end to end; bad input exits 2 with one line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import assert_bad_input

from effkit.store import Store

MACHINE = "feedfacecafe0001"
# Small zoo models at a small input: their analysis is quick. Latencies made up, but consistent with an
# additive model (so the calibration's fit is exact): 1e-11 s per conv FLOP plus 10 us per kernel.
MODELS = ["resnet18", "resnet34", "vovnet27_slim", "resnet50"]


def _rows():
    from effkit.prediction.calibrate import profile_features

    rows = []
    for i, m in enumerate(MODELS):
        shape = (1, 3, 64, 64)
        f = profile_features(m, shape, "float32")
        t = 1e-11 * f["flops_conv"] + 1e-5 * f["kernels"]
        rows.append({"model": m, "status": "ok", "machine_id": MACHINE, "batch_size": 1, "dtype": "float32",
                     "input_shape": "x".join(map(str, shape)), "latency_ms": t * 1e3, "cpu_model": "Test CPU",
                     "device": "cpu", "params": 1000 + i, "flops": f["flops_conv"], "mac": f["bytes"] / 4,
                     "family": None})
    return rows


@pytest.fixture(scope="module")
def rows():
    return _rows()


@pytest.fixture
def db(tmp_path, rows):
    path = tmp_path / "r.db"
    with Store(path) as store:
        for r in rows:
            store.add(r)
    return path


def test_calibrate_then_predict_and_proxies(cli, db):
    code, out, err = cli("calibrate", "--db", db, "--format", "json")
    assert code == 0, err
    [first] = json.loads(out)
    # the made-up latencies: 1e-11 s per conv FLOP -> 100 GFLOP/s; 10 us per kernel
    assert first["gflops_per_s_conv"] == pytest.approx(100.0, rel=1e-4)
    assert first["kernel_overhead_us"] == pytest.approx(10.0, rel=1e-4)
    # (leaving one of four models out leaves three points for five coefficients: not exact, but a number)
    assert 0 <= first["loo_median_abs_error"] < 1
    code, out, err = cli("predict", "resnet18", "--input-size", "64", "--calibration", MACHINE[:6], "--db", db,
                         "--format", "json")
    assert code == 0, err
    pred = json.loads(out)[0]
    assert pred["method"] == "calibrated"
    assert pred["latency_ms"] == pytest.approx(_rows()[0]["latency_ms"], rel=1e-4)
    code, out, err = cli("proxies", "--db", db, "--format", "csv")
    assert code == 0, err
    scores = pd.read_csv(pd.io.common.StringIO(out))
    cal = scores[(scores["proxy"] == "calibrated_latency_ms") & (scores["target"] == "latency_ms")].iloc[0]
    assert cal["spearman"] == pytest.approx(1.0) and cal["n_models"] == 4
    # params were made up to rise with the model order in MODELS
    code, out, err = cli("proxies", "--db", db)
    assert code == 0, err
    assert "calibrated_latency_ms" in out and "Test CPU" in out
    assert "no peaks known for a CPU" in err


def test_plot_proxies(cli, db, tmp_path):
    out_png = tmp_path / "p.png"
    code, out, err = cli("plot", "proxies", "--db", db, "-o", out_png, "--peak-tflops", "1",
                         "--bandwidth-gbs", "10")
    assert code == 0, err
    assert out_png.stat().st_size > 1000
    assert_bad_input(cli("plot", "proxies", "--db", db, "-o", out_png, "--target", "energy"),
                     "fewer than two models have a measured energy_j_per_img")


def test_proxies_figure_panels(rows):
    from effkit.report.proxies_plot import proxies_figure

    df = pd.DataFrame(rows)
    fig = proxies_figure(df, proxies=["params", "flops"], panel_size=(2, 2))
    assert fig.effkit_panels == ["params", "flops"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    # params are 1000..1003 in the order of MODELS; Spearman against the latencies' ranks
    lat_rank = pd.Series([r["latency_ms"] for r in rows]).rank()
    rho = pd.Series(range(4)).corr(lat_rank)
    assert titles[0].startswith(f"params\nSpearman {rho:.2f}")
    assert "only" not in " ".join(fig.effkit_notes)


def test_bad_input(cli, db, tmp_path):
    assert_bad_input(cli("predict", "resnet18", "--device-spec", "nope"), "unknown device 'nope'")
    assert_bad_input(cli("predict", "resnet18", "--calibration", "zzz", "--db", db), "--calibration 'zzz'",
                     "no calibration of that machine")
    one = tmp_path / "one.csv"
    pd.DataFrame(_one_row()).to_csv(one, index=False)
    assert_bad_input(cli("proxies", "--csv", one), "one model only")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"model": ["a", "b"], "flops": [1, 2]}).to_csv(bad, index=False)
    assert_bad_input(cli("proxies", "--csv", bad), "lack column(s) latency_ms")
    assert_bad_input(cli("calibrate", "--db", db, "--machine", "zzz"), "matches none")
    assert_bad_input(cli("plot", "proxies", "--db", db, "-o", tmp_path / "x.png", "--target", "speed"),
                     "--target must be latency or energy")


def test_calibration_from_another_machine(cli, db):
    # calibrated on a CPU; predicting for an H100 with it is refused
    assert cli("calibrate", "--db", db)[0] == 0
    assert_bad_input(cli("predict", "resnet18", "--device-spec", "h100", "--calibration", MACHINE, "--db", db),
                     "fitted on Test CPU, not on a H100 SXM", "drop --device-spec")


def _one_row():
    return [{"model": "a", "latency_ms": 1.0, "flops": 2.0, "machine_id": "m", "batch_size": 1,
             "dtype": "float32", "input_shape": "1x3x8x8", "status": "ok"}]


def test_predict_json_by_hand(cli, tmp_path):
    # Conv 1x1, 4 -> 8, no bias, on 1x4x8x8: 4096 FLOPs, 3200 bytes; at 1 TFLOP/s and 1 GB/s with no launch
    # cost the memory term decides: 3.2 us
    f = tmp_path / "net.py"
    f.write_text("from torch import nn\n\ndef build():\n    return nn.Conv2d(4, 8, 1, bias=False)\n")
    code, out, err = cli("predict", f"{f}:build", "--input-shape", "1,4,8,8", "--peak-tflops", "1",
                         "--bandwidth-gbs", "1", "--launch-overhead-us", "0", "--format", "json")
    assert code == 0, err
    [s] = json.loads(out)
    assert s["latency_ms"] == pytest.approx(3.2e-3)
    assert s["memory_bound_share"] == pytest.approx(1.0)
    assert s["method"] == "roofline"
    assert_bad_input(cli("predict", f"{f}:build", "--input-shape", "1,4,8,8", "--peak-tflops", "1",
                         "--bandwidth-gbs", "1", "--launch-overhead-us", "-1"), "--launch-overhead-us")


def test_proxies_leave_out_untrusted_rows_saying_so(cli, rows, tmp_path):
    df = pd.DataFrame(rows)
    df["latency_iqr_ratio"] = 0.01
    df.loc[df["model"] == "resnet34", "latency_iqr_ratio"] = 0.4  # IQR 40 % of the median: noisy
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    code, out, err = cli("proxies", "--csv", path, "--format", "csv")
    assert code == 0, err
    assert "left out 1 of 4 row(s) effkit does not trust (noisy" in err and "--include-untrusted" in err
    scores = pd.read_csv(pd.io.common.StringIO(out))
    assert set(scores["n_models"]) == {3} and "resnet34" not in scores["models"].iloc[0]
    code, out, err = cli("proxies", "--csv", path, "--format", "csv", "--include-untrusted")
    assert code == 0, err
    assert set(pd.read_csv(pd.io.common.StringIO(out))["n_models"]) == {4}


def test_calibrate_and_plot_proxies_read_a_csv_or_the_shipped_file(cli, rows, tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, out, err = cli("calibrate", "--csv", path, "--format", "json")
    assert code == 0, err
    # the same made-up rates as the database run: 100 GFLOP/s per conv FLOP, 10 us per kernel
    assert json.loads(out)[0]["gflops_per_s_conv"] == pytest.approx(100.0, rel=1e-4)
    assert "not stored" in err
    png = tmp_path / "p.png"
    code, out, err = cli("plot", "proxies", "--shipped", "-b", "1", "-o", png)
    assert code == 0, err
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "left out 4 of 16 row(s) effkit does not trust (noisy" in err  # the shipped file's noisy batch-1 rows
    assert_bad_input(cli("plot", "proxies", "--shipped", "--csv", path, "-o", png), "not both")


def test_proxies_figure_marks_untrusted_rows_and_says_whose_data(rows):
    from matplotlib.colors import to_rgb

    from effkit.report.chart_marks import UNTRUSTED_FACE
    from effkit.report.proxies_plot import proxies_figure

    df = pd.DataFrame(rows)
    df["latency_iqr_ratio"] = [0.01, 0.01, 0.5, 0.01]  # vovnet27_slim: IQR half its median, noisy
    fig = proxies_figure(df, proxies=["params"], panel_size=(4, 3), source="CSV r.csv",
                         notes=["left out 2 of 6 row(s) effkit does not trust"])
    ax = fig.axes[0]
    grey = [c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], to_rgb(UNTRUSTED_FACE))]
    # params were made up as 1000 + position in MODELS: vovnet27_slim is the third, 1002
    assert len(grey) == 1 and float(np.asarray(grey[0].get_offsets())[0][0]) == 1002
    footer = " ".join(fig._supxlabel.get_text().split())
    assert "data: Test CPU, batch 1, float32, input 3x64x64 — CSV r.csv" in footer
    assert "left out 2 of 6 row(s)" in footer and "vovnet27_slim (noisy)" in footer
    assert ax.xaxis.get_major_formatter()(1500, 0) == "1.5k"  # K/M/G ticks, no 1e3 offset
