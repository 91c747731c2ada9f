"""Calibration: NNLS recovers known coefficients, leave-one-out worked by hand, a round trip through the store."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pandas as pd
import pytest

import effkit
from effkit.errors import BadInputError
from effkit.prediction.calibrate import Calibration, TIME_FEATURES, calibrate, fit_calibration, fit_nnls
from effkit.store.calibrations import list_calibrations, load_calibration, save_calibration
from effkit.store import Store

# Known coefficients: 1e-11 s per conv FLOP (100 GFLOP/s), 2e-11 per matmul FLOP, 5e-11 per vector FLOP,
# 1e-10 s per byte (10 GB/s), 5 us per kernel.
TRUE = np.array([1e-11, 2e-11, 5e-11, 1e-10, 5e-6])
ENERGY = {"idle_w": 20.0, "j_per_flop": 3e-10, "j_per_byte": 2e-9}


def _features(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"flops_conv": rng.uniform(1e8, 5e9), "flops_matmul": rng.uniform(1e6, 5e7),
             "flops_vector": rng.uniform(1e6, 1e8), "bytes": rng.uniform(1e7, 5e8),
             "kernels": float(rng.integers(50, 600))} for _ in range(n)]


FEATS = {f"model{i}": f for i, f in enumerate(_features(7))}


def _time(f: dict) -> float:
    return float(np.dot(TRUE, [f[k] for k in TIME_FEATURES]))


def _results(machine="m1" * 8, gpu=None, energy=True) -> pd.DataFrame:
    rows = []
    for name, f in FEATS.items():
        t = _time(f)
        flops = f["flops_conv"] + f["flops_matmul"] + f["flops_vector"]
        e = ENERGY["idle_w"] * t + ENERGY["j_per_flop"] * flops + ENERGY["j_per_byte"] * f["bytes"]
        rows.append({"model": name, "status": "ok", "machine_id": machine, "batch_size": 1, "dtype": "float32",
                     "input_shape": "1x3x224x224", "latency_ms": t * 1e3, "gpu_name": gpu, "cpu_model": "Some CPU",
                     "energy_j_per_img": e if energy else math.nan})
    return pd.DataFrame(rows)


def fake_features(model, shape, dtype):
    return FEATS[model]


def test_nnls_recovers_known_coefficients():
    X = np.array([[f[k] for k in TIME_FEATURES] for f in _features(12, seed=1)])
    coef = fit_nnls(X, X @ TRUE)
    assert coef == pytest.approx(TRUE, rel=1e-6)


def test_nnls_keeps_coefficients_non_negative():
    # y = 2*x1 - 1*x2 exactly: the unconstrained fit has a negative weight; NNLS must not.
    X = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 2.0], [4.0, 1.0]])
    coef = fit_nnls(X, X @ np.array([2.0, -1.0]) + 5.0)
    assert (coef >= 0).all()


def test_nnls_by_hand():
    # A = [[1,0],[0,1],[1,1]], b = [1,-1,0]: unconstrained x = (A^T A)^-1 A^T b = (1, -1).
    # With x >= 0: x2 = 0 and x1 minimises (x1-1)^2 + 1 + x1^2 -> x1 = 1/2.
    from effkit.prediction.calibrate import nnls

    A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([1.0, -1.0, 0.0])
    assert nnls(A, b) == pytest.approx([0.5, 0.0])


def test_calibrate_recovers_rates_and_energy():
    [cal] = calibrate(_results(), features=fake_features, save=False)
    assert cal.coefficients == pytest.approx(list(TRUE), rel=1e-5)
    assert cal.achieved()["gflops_per_s_conv"] == pytest.approx(100.0, rel=1e-5)
    assert cal.achieved()["bandwidth_gbs"] == pytest.approx(10.0, rel=1e-5)
    assert cal.achieved()["kernel_overhead_us"] == pytest.approx(5.0, rel=1e-5)
    assert cal.energy["idle_w"] == pytest.approx(20.0, rel=1e-5)
    assert cal.energy["j_per_flop"] == pytest.approx(3e-10, rel=1e-5)
    assert cal.energy["j_per_byte"] == pytest.approx(2e-9, rel=1e-5)
    # exact synthetic data: leaving a model out still predicts it exactly
    assert cal.loo_median_abs_error == pytest.approx(0.0, abs=1e-6)
    assert cal.energy_loo_median_abs_error == pytest.approx(0.0, abs=1e-6)
    assert len(cal.loo) == 7 and cal.models == tuple(sorted(FEATS))
    # against a device's peaks: 100 GFLOP/s of a 1 TFLOP/s peak is 10 %
    from effkit.prediction.roofline import device_peaks

    frac = cal.fractions(device_peaks(peak_tflops=1.0, bandwidth_gbs=100.0))
    assert frac["compute_conv"] == pytest.approx(0.1, rel=1e-5)
    assert frac["bandwidth"] == pytest.approx(0.1, rel=1e-5)


def test_leave_one_model_out_by_hand():
    # Only conv FLOPs: A 1e9 -> 1 ms, B 2e9 -> 2 ms, C 4e9 -> 6 ms; one coefficient c, a_i = f_i / t_i.
    # The reweighted fit's fixed point makes the ratios c*a_i average to 1: c = n / sum(a).
    #   without C: a = (1e12, 1e12)       -> c = 1e-12       -> C predicted 4 ms:   error -1/3
    #   without A: a = (1e12, 2/3 * 1e12) -> c = 6/5 * 1e-12 -> A predicted 1.2 ms: error +0.2
    #   without B: a = (1e12, 2/3 * 1e12) -> c = 6/5 * 1e-12 -> B predicted 2.4 ms: error +0.2
    def p(m, f, t):
        return {"model": m, "batch_size": 1, "time_s": t, "energy_j": math.nan, "flops_conv": f,
                "flops_matmul": 0.0, "flops_vector": 0.0, "bytes": 0.0, "kernels": 0.0}

    pts = [p("A", 1e9, 1e-3), p("B", 2e9, 2e-3), p("C", 4e9, 6e-3)]
    cal = fit_calibration(pts, [], machine_id="m", dtype="float32")
    errors = {r["model"]: r["error"] for r in cal.loo}
    assert errors == pytest.approx({"A": 0.2, "B": 0.2, "C": -1 / 3})
    assert cal.loo_median_abs_error == pytest.approx(0.2)
    # all three: a = (1, 1, 2/3) * 1e12 -> c = 3 / (8/3) * 1e-12 = 9/8 * 1e-12
    assert cal.s_per_flop["conv"] == pytest.approx(9 / 8 * 1e-12)
    assert cal.energy is None and "no measurement with energy" in cal.energy_note


def test_first_pass_is_least_squares_in_relative_error():
    # Without reweighting: minimise sum((c*a_i - 1)^2) -> c = sum(a) / sum(a^2);
    # a = (1, 1, 2/3): c = (8/3) / (2 + 4/9) = 12/11
    X = np.array([[1e9], [2e9], [4e9]])
    y = np.array([1e-3, 2e-3, 6e-3])
    assert fit_nnls(X, y, reweight=0)[0] == pytest.approx(12 / 11 * 1e-12)
    assert fit_nnls(X, y)[0] == pytest.approx(9 / 8 * 1e-12)


def test_per_layer_points_join_the_fit():
    # one model timed layer by layer: a conv layer of 1e9 FLOPs and a BN layer of 1e6 bytes, each one kernel
    import json

    res = _results(energy=False)
    layers = [{"name": "c", "type": "Conv2d", "flops": 1e9, "mac_bytes": 0.0, "latency_ms": 1e9 * 1e-11 * 1e3 + 5e-3},
              {"name": "b", "type": "BatchNorm2d", "flops": 0.0, "mac_bytes": 1e6, "latency_ms": 1e6 * 1e-10 * 1e3 + 5e-3}]
    res["layers_json"] = [json.dumps(layers)] + [None] * (len(res) - 1)
    [cal] = calibrate(res, features=fake_features, save=False)
    assert cal.layer_points == 2
    assert cal.coefficients == pytest.approx(list(TRUE), rel=1e-5)


def test_calibration_round_trip_through_the_store(tmp_path):
    db = tmp_path / "r.db"
    with Store(db) as store:
        for rec in _results(machine="abcdef0123456789").to_dict(orient="records"):
            store.add(rec)
    [cal] = calibrate(db=db, features=fake_features)
    [again] = calibrate(db=db, features=fake_features)  # the table exists now: a second save works too
    assert len(list_calibrations(db)) == 2
    back = load_calibration("abcdef", "float32", db)  # a unique prefix names the machine
    assert back.machine_id == "abcdef0123456789"
    assert back.coefficients == pytest.approx(cal.coefficients)
    assert back.energy == pytest.approx(cal.energy)
    assert back.loo_median_abs_error == pytest.approx(cal.loo_median_abs_error, abs=1e-12)
    assert back.fingerprint["cpu_model"] == "Some CPU"
    # the results table is as it was, and the store still opens
    assert len(Store(db, create=False, readonly=True)) == 7
    # predict with the stored calibration: time of a 1x1 conv under the calibrated rates
    from torch import nn

    pred = effkit.predict(nn.Conv2d(4, 8, 1, bias=False), input_shape=(1, 4, 8, 8), calibration="abcdef", db=db)
    # flops 4096, 3200 bytes, one kernel: 4096e-11 + 3200e-10 + 5e-6 s
    assert pred.latency_ms == pytest.approx((4096e-11 + 3200e-10 + 5e-6) * 1e3, rel=1e-4)
    assert pred.method == "calibrated"
    # net energy: 3e-10 J/FLOP * 4096 + 2e-9 J/byte * 3200; gross adds 20 W of idle over the predicted time
    net = 3e-10 * 4096 + 2e-9 * 3200
    assert pred.energy_j_per_img_net == pytest.approx(net, rel=1e-4)
    assert pred.energy_j_per_img == pytest.approx(net + 20.0 * (4096e-11 + 3200e-10 + 5e-6), rel=1e-4)


def test_calibrate_without_db_reads_the_default_store_and_writes_nothing(tmp_path, monkeypatch):
    # as measure(db=None) stores nothing: the default store is only read, byte for byte as it was
    db = tmp_path / "default.db"
    monkeypatch.setenv("EFFKIT_DB", str(db))
    with Store(db) as store:
        for rec in _results(machine="abcdef0123456789").to_dict(orient="records"):
            store.add(rec)
    before = db.read_bytes()
    [cal] = calibrate(features=fake_features)
    assert cal.machine_id == "abcdef0123456789"
    assert db.read_bytes() == before
    assert list_calibrations(db) == []


def test_missing_calibrations(tmp_path):
    db = tmp_path / "r.db"
    Store(db).close()
    with pytest.raises(BadInputError, match="no calibration of that machine"):
        load_calibration("abc", "float32", db)
    save_calibration(Calibration("abc123", "float32", {}, dict(conv=1.0, matmul=1.0, vector=1.0), 1.0, 1.0), db)
    with pytest.raises(BadInputError, match="calibrated for float32, not float16"):
        load_calibration("abc", "float16", db)
    with pytest.raises(BadInputError, match="no calibration of that machine"):
        load_calibration("zzz", "float32", db)
    assert [r[0] for r in sqlite3.connect(db).execute("SELECT machine_id FROM calibrations")] == ["abc123"]


def test_calibration_from_another_gpu_is_refused():
    [cal] = calibrate(_results(gpu="NVIDIA TITAN X (Pascal)"), features=fake_features, save=False)
    from torch import nn

    with pytest.raises(BadInputError, match="fitted on NVIDIA TITAN X \\(Pascal\\), not on a H100 SXM"):
        effkit.predict(nn.Conv2d(4, 8, 1), input_shape=(1, 4, 8, 8), device_spec="h100", calibration=cal)


def test_calibrate_bad_input():
    res = _results()
    with pytest.raises(BadInputError, match="at least 2 models"):
        calibrate(res.iloc[:1], features=fake_features, save=False)
    two = pd.concat([res, res.assign(machine_id="other")])
    with pytest.raises(BadInputError, match="come from 2 machines"):
        calibrate(two, features=fake_features, save=False)
    with pytest.raises(BadInputError, match="matches none"):
        calibrate(two, machine="zzz", features=fake_features, save=False)
    assert calibrate(two, machine="oth", features=fake_features, save=False)[0].machine_id == "other"


def test_a_model_that_cannot_be_analysed_is_left_out():
    from effkit.errors import UnknownModelError

    def features(model, shape, dtype):
        if model == "model0":
            raise UnknownModelError("unknown model 'model0'")
        return FEATS[model]

    [cal] = calibrate(_results(), features=features, save=False)
    assert "model0" not in cal.models and len(cal.models) == 6
    assert any("left out model0" in n for n in cal.notes)


def test_untrusted_rows_are_not_fitted_unless_asked():
    df = _results()
    df["latency_iqr_ratio"] = 0.02
    df.loc[0, "latency_iqr_ratio"] = 0.5  # model0: IQR half the median, noisy
    cal = calibrate(df, features=fake_features, save=False)[0]
    assert "model0" not in cal.models and len(cal.models) == len(FEATS) - 1
    assert any("left out 1 of 7" in n for n in cal.notes)
    cal = calibrate(df, features=fake_features, save=False, include_untrusted=True)[0]
    assert "model0" in cal.models
    df["latency_iqr_ratio"] = 0.5
    with pytest.raises(BadInputError, match="does not trust"):
        calibrate(df, features=fake_features, save=False)
