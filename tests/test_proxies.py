"""The proxy scoreboard on small made-up tables: rank correlations by hand, Pearson against numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import effkit
from effkit.errors import BadInputError
from effkit.prediction.calibrate import Calibration
from effkit.prediction.proxies import correlations


def _table() -> pd.DataFrame:
    # group 1: machine m1, batch 1: five models. group 2: machine m1, batch 8: three models.
    g1 = pd.DataFrame({
        "model": ["a", "b", "c", "d", "e"],
        "latency_ms": [1.0, 2.0, 3.0, 4.0, 5.0],
        "flops": [10.0, 20.0, 30.0, 50.0, 40.0],
        "params": [5.0, 4.0, 3.0, 2.0, 1.0],
        "mac": [1.0, 2.0, 3.0, 4.0, 6.0],
        "energy_j_per_img": [0.1, np.nan, 0.3, 0.2, 0.5],
        "batch_size": 1,
    })
    g2 = pd.DataFrame({"model": ["a", "b", "c"], "latency_ms": [3.0, 1.0, 2.0], "flops": [1.0, 2.0, 3.0],
                       "params": [1.0, 2.0, 3.0], "mac": [1.0, 2.0, 3.0], "energy_j_per_img": np.nan,
                       "batch_size": 8})
    df = pd.concat([g1, g2], ignore_index=True)
    df["machine_id"] = "m1"
    df["dtype"] = "float32"
    df["input_shape"] = "1x3x224x224"
    df["status"] = "ok"
    df["cpu_model"] = "Some CPU"
    return df


def _score(scores, proxy, target="latency_ms", batch=1):
    row = scores[(scores["proxy"] == proxy) & (scores["target"] == target) & (scores["batch_size"] == batch)]
    assert len(row) == 1, row
    return row.iloc[0]


def test_rank_and_linear_correlation_by_hand():
    scores = effkit.proxies(_table())
    # flops ranks 1,2,3,5,4 against latency 1..5: d^2 = 0+0+0+1+1 = 2 -> rho = 1 - 6*2 / (5*(25-1)) = 0.9
    assert _score(scores, "flops")["spearman"] == pytest.approx(0.9)
    assert _score(scores, "flops")["pearson"] == pytest.approx(np.corrcoef([10, 20, 30, 50, 40], [1, 2, 3, 4, 5])[0, 1])
    assert _score(scores, "params")["spearman"] == pytest.approx(-1.0)
    assert _score(scores, "mac")["spearman"] == pytest.approx(1.0)
    # mac 1,2,3,4,6 vs 1..5: Pearson by hand: dx = (-2.2,-1.2,-0.2,0.8,2.8), dy = (-2,-1,0,1,2)
    # sum dx*dy = 4.4+1.2+0+0.8+5.6 = 12; sum dx^2 = 4.84+1.44+0.04+0.64+7.84 = 14.8; sum dy^2 = 10
    assert _score(scores, "mac")["pearson"] == pytest.approx(12 / math.sqrt(14.8 * 10))
    g1 = _score(scores, "flops")
    assert g1["n_models"] == 5 and g1["models"] == "a, b, c, d, e" and g1["note"] == ""


def test_energy_where_measured_and_small_groups_flagged():
    scores = effkit.proxies(_table())
    # energy of a, c, d, e = 0.1, 0.3, 0.2, 0.5 vs flops 10, 30, 50, 40: ranks (1,3,2,4) vs (1,2,4,3)
    # d^2 = 0+1+4+1 = 6 -> rho = 1 - 36 / (4*15) = 0.4
    e = _score(scores, "flops", target="energy_j_per_img")
    assert e["spearman"] == pytest.approx(0.4)
    assert e["n_models"] == 4 and e["models"] == "a, c, d, e"
    # batch 8: three models, flagged; latency 3,1,2 vs flops 1,2,3: ranks d = (2,-1,-1) -> rho = 1 - 36/24 = -0.5
    small = _score(scores, "flops", batch=8)
    assert small["spearman"] == pytest.approx(-0.5)
    assert "means little" in small["note"]
    assert not ((scores["batch_size"] == 8) & (scores["target"] == "energy_j_per_img")).any()


def test_latest_row_per_model_and_filters():
    df = _table()
    newer = df.iloc[[0]].assign(latency_ms=10.0, timestamp="2026-02-01")
    df["timestamp"] = "2026-01-01"
    scores = effkit.proxies(pd.concat([df, newer], ignore_index=True), batch_size=1)
    # a is now the slowest: latency 10,2,3,4,5 vs mac 1,2,3,4,6 -> ranks (5,1,2,3,4) vs (1..5): d = (4,-1,-1,-1,-1)
    # d^2 = 16+4 = 20 -> rho = 1 - 120/120 = 0
    assert _score(scores, "mac")["spearman"] == pytest.approx(0.0)
    assert set(scores["batch_size"]) == {1}
    assert any("older repeat" in n for n in scores.attrs["notes"])


def test_mac_fused_scored_when_present():
    df = _table().assign(mac_fused=lambda d: d["latency_ms"] * 2)
    assert _score(effkit.proxies(df), "mac_fused")["spearman"] == pytest.approx(1.0)
    assert "mac_fused" not in set(effkit.proxies(_table())["proxy"])


def test_calibrated_and_roofline_predictions_scored():
    # one op per model: conv flops equal to 1e9 x latency rank; the calibration charts 1e-12 s per conv FLOP
    feats = {m: pd.DataFrame({"layer": ["x"], "call": [0], "op": ["convolution"], "kind": ["conv"],
                              "flops": [f * 1e9], "bytes": [0.0], "kernels": [1.0]})
             for m, f in zip("abcde", [1, 2, 3, 5, 4])}
    cal = Calibration("m1", "float32", {}, {"conv": 1e-12, "matmul": 0.0, "vector": 0.0}, 0.0, 0.0)
    scores = effkit.proxies(_table(), batch_size=1, calibrations=cal, peak_tflops=1.0, bandwidth_gbs=1.0,
                            launch_overhead_us=0.0, op_table=lambda m, s, d: feats[m])
    assert _score(scores, "calibrated_latency_ms")["spearman"] == pytest.approx(0.9)
    assert _score(scores, "roofline_latency_ms")["pearson"] == pytest.approx(
        np.corrcoef([1, 2, 3, 5, 4], [1, 2, 3, 4, 5])[0, 1])


def test_no_peaks_for_a_cpu_leaves_the_roofline_out():
    scores = effkit.proxies(_table())
    assert "roofline_latency_ms" not in set(scores["proxy"])
    assert any("no peaks known for a CPU" in n for n in scores.attrs["notes"])


def test_bad_input():
    df = _table()
    with pytest.raises(BadInputError, match="one model only"):
        effkit.proxies(df[df["model"] == "a"])
    with pytest.raises(BadInputError, match="lack column\\(s\\) latency_ms"):
        effkit.proxies(df.drop(columns=["latency_ms"]))
    with pytest.raises(BadInputError, match="no proxy column"):
        effkit.proxies(df[["model", "latency_ms"]])
    with pytest.raises(BadInputError, match="no successful measurement"):
        effkit.proxies(df, batch_size=4)
    other = Calibration("m2", "float32", {}, {"conv": 1.0, "matmul": 1.0, "vector": 1.0}, 1.0, 1.0)
    with pytest.raises(BadInputError, match="another machine"):
        effkit.proxies(df, calibrations=other)


def test_correlations_edge_cases():
    assert correlations([1, 2], [2, 4])[:2] == pytest.approx((1.0, 1.0))
    rho, r, n = correlations([1, 1, 1], [1, 2, 3])
    assert math.isnan(rho) and math.isnan(r) and n == 3
    assert correlations([1, np.nan, 3, 4], [1, 2, np.nan, 3])[2] == 2


def test_untrusted_rows_left_out_unless_asked():
    df = _table()
    # model d of batch 1: load 4.0 on 2 CPUs (busy) -> left out by default
    df["cpu_count"] = 2
    df["load_1m_after"] = 0.5
    df.loc[(df["model"] == "d") & (df["batch_size"] == 1), "load_1m_after"] = 4.0
    scores = effkit.proxies(df)
    row = _score(scores, "flops")
    assert row["models"] == "a, b, c, e" and row["n_models"] == 4
    # without d: flops 10,20,30,40 vs latency 1,2,3,5 rank perfectly
    assert row["spearman"] == pytest.approx(1.0)
    assert any("left out 1 of 8" in n for n in scores.attrs["notes"])
    kept = effkit.proxies(df, include_untrusted=True)
    assert _score(kept, "flops")["n_models"] == 5 and _score(kept, "flops")["spearman"] == pytest.approx(0.9)


def test_only_untrusted_rows_is_bad_input():
    df = _table()
    df["latency_iqr_ratio"] = 0.5  # every row noisy
    with pytest.raises(BadInputError, match="does not trust"):
        effkit.proxies(df)
