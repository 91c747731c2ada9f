"""The measuring commands (`measure`, `compare`, `sweep`) spell each shared setting alike; the old spellings
still work and are named in messages when typed; `--tdp-estimate` adds a labelled estimate and nothing else."""

from __future__ import annotations

import csv
import io
import math
import re

import pytest

from effkit.errors import BadInputError
from effkit.measurement.energy.estimate import (ESTIMATE_COLUMN, energy_estimate, parse_tdp, tdp_of_device,
                                                tdp_of_gpu)

# Written out by hand (not read from the code): the flag of every setting the three commands share.
SHARED = ["--device", "--cuda-graph", "--no-cudnn-benchmark", "--warmup-s", "--warmup-iters",
          "--min-iters", "--min-time-s", "--energy", "--no-energy", "--energy-trials", "--energy-window-s",
          "--idle-s", "--tf32", "--no-tf32", "--mig-energy", "--per-layer"]
OLD = {"--warmup": "warmup_s", "--min-time": "min_time_s", "--energy-window": "energy_window_s", "--idle": "idle_s"}

TINY = '''
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
'''


def _option_names(help_text: str) -> set[str]:
    """The flags in the first two columns of the options panel (the option and its --no- form)."""
    names = set()
    for line in help_text.splitlines():
        m = re.match(r"│ (--[a-z0-9-]+)(?:\s+-[a-z])?(?:\s+(--[a-z0-9-]+))?", line)
        if m:
            names.update(n for n in m.groups() if n)
    return names


@pytest.fixture
def help_of(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per option: the names are not wrapped

    def call(command: str) -> str:
        res = cli(command, "--help")
        assert res.returncode == 0
        return res.stdout

    return call


@pytest.mark.parametrize("command", ["measure", "compare", "sweep"])
def test_shared_options_have_one_name_in_every_measuring_command(help_of, command):
    names = _option_names(help_of(command))
    assert set(SHARED) <= names, sorted(set(SHARED) - names)
    assert not set(OLD) & names  # the old spellings work but are not offered


class _Stop(Exception):
    pass


@pytest.fixture
def captured(monkeypatch):
    """The keyword arguments `measure`/`compare` hand to the API, and the overrides `sweep` hands to the spec."""
    seen = {}

    def fake(*args, **kwargs):  # sweep_spec(overrides, ...) or measure(model, **settings)
        seen.update(args[0] if args and isinstance(args[0], dict) else kwargs)
        raise _Stop

    monkeypatch.setattr("effkit.measurement.api.measure", fake)
    monkeypatch.setattr("effkit.measurement.api.compare", fake)
    monkeypatch.setattr("effkit.sweep.spec.sweep_spec", fake)
    return seen


_VALUES = {"warmup_s": 0.5, "min_time_s": 0.25, "energy_window_s": 6.0, "idle_s": 0.0}


@pytest.mark.parametrize("command", [("measure", "vovnet27_slim"), ("compare", "vovnet27_slim"),
                                     ("sweep", "-m", "vovnet27_slim")], ids=lambda c: c[0])
@pytest.mark.parametrize("spelling", ["old", "new"])
def test_old_and_new_spellings_set_the_same_settings(cli, captured, command, spelling):
    new = {"warmup_s": "--warmup-s", "min_time_s": "--min-time-s", "energy_window_s": "--energy-window-s",
           "idle_s": "--idle-s"}
    flags = {name: flag for flag, name in OLD.items()} if spelling == "old" else new
    args = [a for name, v in _VALUES.items() for a in (flags[name], str(v))]
    extra = ["--no-store"] if command[0] != "sweep" else []
    with pytest.raises(_Stop):
        cli(*command, *args, "--device", "cpu", "--no-energy", "--no-cudnn-benchmark", *extra)
    assert {k: captured[k] for k in _VALUES} == _VALUES
    assert captured["energy"] is False and captured["cudnn_benchmark"] is False


@pytest.mark.parametrize("flag", ["--warmup", "--warmup-s", "--min-time", "--min-time-s", "--idle", "--idle-s",
                                  "--energy-window", "--energy-window-s"])
def test_a_bad_value_is_named_by_the_flag_typed(cli, flag):
    for command in (("measure", "vovnet27_slim", "--no-store"), ("sweep", "-m", "vovnet27_slim", "--dry-run")):
        res = cli(*command, flag, "-1")
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and re.search(rf"error: {flag}\b(?!-)", lines[0]), lines


def test_a_typo_is_offered_the_current_spelling(cli):
    res = cli("measure", "vovnet27_slim", "--no-store", "--warmupp", "1")
    assert res.returncode == 2 and "did you mean --warmup-s?" in res.stderr, res.stderr


def test_old_and_new_spelling_that_disagree_are_refused(cli):
    res = cli("measure", "vovnet27_slim", "--no-store", "--warmup", "1", "--warmup-s", "2")
    assert res.returncode == 2 and "--warmup" in res.stderr and "--warmup-s" in res.stderr


# --tdp-estimate: the arithmetic by hand, the lookups, and what the commands make of it.

def test_estimate_is_watts_times_span_per_image():
    row = {"status": "ok", "timed_span_s": 2.0, "iterations": 100, "batch_size": 4}
    # 100 W x 2.0 s = 200 J over 100 x 4 = 400 images -> 0.5 J/img
    assert energy_estimate(row, 100.0) == {ESTIMATE_COLUMN: 0.5}
    # 250 W x 0.3 s = 75 J over 30 x 1 images -> 2.5 J/img
    assert energy_estimate({**row, "timed_span_s": 0.3, "iterations": 30, "batch_size": 1}, 250) == pytest.approx(
        {ESTIMATE_COLUMN: 2.5})
    assert energy_estimate(row, None) == {}  # not asked for: no column at all
    assert math.isnan(energy_estimate({**row, "status": "failed"}, 100.0)[ESTIMATE_COLUMN])
    assert math.isnan(energy_estimate({"status": "ok", "timed_span_s": None, "iterations": 3, "batch_size": 1},
                                      100.0)[ESTIMATE_COLUMN])


def test_tdp_values_and_lookups():
    assert parse_tdp("300") == 300.0 and parse_tdp(" AUTO ") == "auto"
    for bad in ("0", "-5", "nan", "inf", "lots"):
        with pytest.raises(BadInputError) as e:
            parse_tdp(bad)
        assert e.value.field == "tdp_estimate_w"
    # NVIDIA's H100 datasheet: the SXM board is rated up to 700 W; the L4 at 72 W.
    assert tdp_of_gpu("NVIDIA H100 80GB HBM3") == 700.0
    assert tdp_of_gpu("NVIDIA L4") == 72.0
    with pytest.raises(BadInputError, match="give the watts"):
        tdp_of_gpu("Some Unknown Accelerator 9000")
    with pytest.raises(BadInputError, match="CPU"):
        tdp_of_device("cpu")


def test_tdp_estimate_auto_on_a_cpu_is_one_line(cli):
    res = cli("measure", "vovnet27_slim", "--no-store", "--device", "cpu", "--tdp-estimate", "auto")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--tdp-estimate W" in lines[0] and "CPU" in lines[0], lines
    res = cli("measure", "vovnet27_slim", "--no-store", "--tdp-estimate", "0")
    assert res.returncode == 2 and "--tdp-estimate" in res.stderr


def test_measure_with_tdp_estimate_adds_only_the_estimate_column(cli, tmp_path):
    (tmp_path / "tiny.py").write_text(TINY)
    fast = ["-s", "8", "--device", "cpu", "--warmup-s", "0", "--warmup-iters", "1", "--min-iters", "3",
            "--min-time-s", "0", "--no-energy", "--no-store", "-f", "csv"]
    res = cli("measure", f"{tmp_path / 'tiny.py'}:build", *fast, "--tdp-estimate", "100")
    assert res.returncode == 0, res.stderr
    (row,) = list(csv.DictReader(io.StringIO(res.stdout)))
    images = float(row["iterations"]) * float(row["batch_size"])
    assert float(row[ESTIMATE_COLUMN]) == pytest.approx(100 * float(row["timed_span_s"]) / images)
    assert row["energy_j_per_img"] == ""  # the measured column stays empty (--no-energy)
    res = cli("measure", f"{tmp_path / 'tiny.py'}:build", *fast)
    assert ESTIMATE_COLUMN not in res.stdout  # never there unless asked for
