"""The proxy scoreboard on the shipped CPU measurements: the experiment script re-scores them end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from effkit.shipped import read_measurements

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "effkit" / "data" / "measurements" / "cpu-amd-epyc-1-threads-2026-12-02.csv"


def test_shipped_measurements_name_their_machine():
    df = read_measurements(SHIPPED)  # the CSV and its per-layer side file
    assert len(df) == 32 and df["model"].nunique() == 16 and set(df["batch_size"]) == {1, 8}
    assert (df["status"] == "ok").all() and (df["torch_threads"] == 1).all()
    for column in ("machine_id", "cpu_model", "torch_version", "effkit_version", "timestamp", "layers_json"):
        assert df[column].notna().all(), column


def test_which_proxy_rescores_the_shipped_measurements(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    res = subprocess.run([sys.executable, str(ROOT / "experiments" / "which_proxy.py"), "--measurements",
                          str(SHIPPED), "--out", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    board = pd.read_csv(tmp_path / "which_proxy.csv")
    raw = read_measurements(SHIPPED)
    for batch in (1, 8):
        rows = raw[raw["batch_size"] == batch]
        # the scoreboard's rank correlation is Spearman's rho of the raw columns, computed here directly
        rho = stats.spearmanr(rows["mult_adds"], rows["latency_ms"]).statistic
        got = board[(board["batch_size"] == batch) & (board["target"] == "latency_ms")
                    & (board["proxy"] == "mult_adds")]
        assert got["spearman"].iloc[0] == pytest.approx(rho, abs=1e-4)
        assert got["n_models"].iloc[0] == 16
    loo = pd.read_csv(tmp_path / "which_proxy_calibration.csv")
    assert len(loo) == 32  # every model left out once at each batch size
    # the target of the "which number predicts speed" step on a CPU: median |error| out of sample <= 25 %
    assert loo["error"].abs().median() <= 0.25
    assert (tmp_path / "which_proxy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
