"""Progress of long runs: phase events, the settings estimate, the time-left estimate, log lines and heartbeats."""

from __future__ import annotations

import io
import threading
import time

import pytest
from torch import nn

import effkit
from effkit.cli._progress import RunProgress
from effkit.measurement.config import MeasureConfig
from effkit.measurement.energy.base import EnergyReading, MeterStatus
from effkit.measurement.estimate import run_estimate
from effkit.measurement.run import SweepEvent
from effkit.sweep import run_sweep
from effkit.measurement.progress import Heartbeat, RunTracker

FAST = dict(device="cpu", warmup_s=0, warmup_iters=1, min_iters=2, min_time_s=0, energy=False, idle_s=0)
FAST_FLAGS = ["--device", "cpu", "--warmup", "0", "--warmup-iters", "1", "--min-iters", "3", "--min-time", "0",
              "--no-energy"]
TINY = '''
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())

def other():
    return nn.Conv2d(3, 4, 1, bias=False)
'''


class Clock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def phases(events, done: int) -> list:
    return [(e.phase, e.detail) for e in events if e.kind == "phase" and e.done == done]


# -- phase events ---------------------------------------------------------------------------------

def test_phase_events_arrive_in_order_for_a_real_measurement():
    events = []
    effkit.measure(nn.Conv2d(3, 4, 1), input_size=4, batch_sizes=[1, 2], progress=events.append,
                   per_layer=True, **FAST)
    expected = [("analysis", None), ("set-up", None), ("warm-up", None), ("timing", None), ("memory", None),
                ("per-layer", None)]
    assert phases(events, 0) == expected and phases(events, 1) == expected
    kinds = [e.kind for e in events if e.kind != "phase"]
    assert kinds == ["start", "begin", "done", "begin", "done"]
    # begin says how many of how many were done before it, as run_sweep's events do
    assert [(e.done, e.total) for e in events if e.kind == "begin"] == [(0, 2), (1, 2)]


def test_idle_baseline_once_and_one_event_per_energy_window(monkeypatch):
    import effkit.measurement.energy.idle as idle_mod
    import effkit.measurement.energy.meter as meter_mod

    class Meter:
        min_window_s = 0.0

        def probe(self):
            return MeterStatus(True, "fake")

        def start(self):
            pass

        def stop(self):
            return EnergyReading(2.0, 1.0, 2.0, None, 2, "fake")

        def close(self):
            pass

    monkeypatch.setattr(idle_mod, "REST_S", 0.0)
    monkeypatch.setattr(idle_mod, "MIN_WINDOW_S", 0.0)
    monkeypatch.setattr(meter_mod, "open_meter", lambda device, **k: Meter())
    events = []
    effkit.measure(nn.Conv2d(3, 4, 1), input_size=4, batch_sizes=[1, 2], progress=events.append,
                   **{**FAST, "energy": True, "energy_trials": 2, "energy_window_s": 0.0,
                      "energy_window_iters": 1, "idle_s": 0.01})
    loaded = [("warm-up", None), ("timing", None), ("memory", None), ("energy", "window 1 of 2"),
              ("energy", "window 2 of 2")]
    first = phases(events, 0)
    assert [p for p, _ in first[:3]] == ["analysis", "set-up", "idle baseline"] and first[3:] == loaded
    assert phases(events, 1) == [("analysis", None), ("set-up", None)] + loaded  # the baseline is reused


# -- the estimate from the settings ---------------------------------------------------------------

#: A device an energy meter reads (the estimate then counts its windows).
METERED = lambda device: True  # noqa: E731


def _config(**kw):
    return MeasureConfig(model="resnet18", **kw)


def test_run_estimate_worked_out_by_hand():
    # warm-up 1 s + timing 2 s + 3 windows x 5 s = 18 s a configuration; the idle baseline once per device:
    # 5 s rest + a window of idle_s = 1 s raised to 3 s = 8 s. Two configurations on one device: 2 x 18 + 8.
    same = dict(warmup_s=1.0, min_time_s=2.0, energy_trials=3, energy_window_s=5.0, idle_s=1.0, device="cpu")
    est = run_estimate([_config(batch_size=1, **same), _config(batch_size=8, **same)], metered=METERED)
    assert est.seconds == (26.0, 18.0) and est.total_s == 44.0
    assert est.idle["cpu"].rest_s == 5.0 and est.idle["cpu"].window_s == 3.0
    # an idle window longer than 3 s is kept: 5 + 4 = 9; a second device pays its own baseline
    longer = {**same, "idle_s": 4.0}
    est = run_estimate([_config(**longer), _config(**{**longer, "device": "cuda:0"})], metered=METERED)
    assert est.seconds == (27.0, 27.0) and est.total_s == 54.0
    # no energy: warm-up + timing only (0.5 + 1.5 = 2 s), and no idle baseline
    est = run_estimate([_config(warmup_s=0.5, min_time_s=1.5, energy=False)] * 3)
    assert est.seconds == (2.0, 2.0, 2.0) and est.idle == {}
    # energy on, but no meter reads the device: its windows and idle baseline will not run, 1 + 2 = 3 s each
    est = run_estimate([_config(batch_size=1, **same), _config(batch_size=8, **same)], metered=lambda d: False)
    assert est.seconds == (3.0, 3.0) and est.idle == {}


def test_dry_run_prints_the_estimate(tmp_path, cli, monkeypatch):
    import json

    from effkit.measurement import estimate

    (tmp_path / "tiny.py").write_text(TINY)
    monkeypatch.setattr(estimate, "meter_works", lambda device: False)  # a machine with no energy meter
    res = cli("sweep", "-m", "tiny.py:build", "-b", "1,8", "--dry-run", "--format", "json", cwd=tmp_path)
    assert [r["estimate_s"] for r in json.loads(res.stdout)] == [3.0, 3.0]  # warm-up 1 s + timing 2 s, no windows
    monkeypatch.setattr(estimate, "meter_works", lambda device: True)
    res = cli("sweep", "-m", "tiny.py:build", "-b", "1,8", "--dry-run", "--format", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # the defaults: warm-up 1 s, timing 2 s, 3 energy windows of 5 s, idle 1 s (a 3 s window after a 5 s rest)
    assert [r["estimate_s"] for r in json.loads(res.stdout)] == [26.0, 18.0]
    assert "at least 44.0 s for 2 configurations of 18.0 s each" in res.stderr
    res = cli("sweep", "-m", "tiny.py:build", "-b", "1,8", "--dry-run", "--no-energy", "--warmup-s", "0.5",
              cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "at least 5.0 s" in " ".join(res.stdout.split())  # 2 x (0.5 s + 2 s)


# -- the time left --------------------------------------------------------------------------------

def test_time_left_from_the_settings_then_from_the_finished_configurations():
    clock = Clock()
    t = RunTracker(clock, metered=METERED)
    c1, c2 = _config(batch_size=1, device="cpu"), _config(batch_size=2, device="cpu")  # defaults: 18 s, +8 s idle
    t(SweepEvent("start", 0, 3))
    t(SweepEvent("begin", 0, 3, config=c1))
    assert t.remaining_s() == 26 + 18 * 2
    clock.t = 10.0
    assert t.remaining_s() == 16 + 18 * 2 and t.in_config_s() == 10.0
    clock.t = 13.0
    t(SweepEvent("done", 1, 3, config=c1, row={"status": "ok"}))
    # 13 s against 26 s estimated: the rest is expected at half its estimate, 2 x 9 s
    assert t.last_seconds == 13.0 and t.remaining_s() == 18.0
    t(SweepEvent("begin", 1, 3, config=c2))
    clock.t = 15.0
    assert t.remaining_s() == (9 - 2) + 9
    assert t.elapsed_s() == 15.0


def test_time_left_waits_for_no_energy_window_without_a_meter():
    t = RunTracker(Clock(), metered=lambda device: False)
    t(SweepEvent("start", 0, 3))
    t(SweepEvent("begin", 0, 3, config=_config(device="cpu")))
    assert t.remaining_s() == 3 * 3  # warm-up 1 s + timing 2 s a configuration; no windows, no idle baseline


def test_time_left_without_begin_events_is_the_pace_so_far():
    clock = Clock()
    t = RunTracker(clock)
    t(SweepEvent("start", 0, 4))
    assert t.remaining_s() is None
    clock.t = 10.0
    t(SweepEvent("done", 1, 4, config=_config(), row={"status": "failed"}))
    assert t.remaining_s() == 30.0 and t.failed == 1


# -- a log: one line per configuration, a heartbeat -----------------------------------------------

def test_compare_in_a_log_prints_one_plain_line_per_configuration(tmp_path, cli):
    (tmp_path / "tiny.py").write_text(TINY)
    res = cli("compare", "tiny.py:build", "tiny.py:other", "-s", "8", *FAST_FLAGS, "--no-store", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("effkit: [")]
    assert len(lines) == 2, res.stderr
    assert lines[0].startswith("effkit: [1/2] tiny.py:build bs=1 (1x3x8x8 float32): ok in ")
    assert lines[1].startswith("effkit: [2/2] tiny.py:other bs=1 (1x3x8x8 float32): ok in ")
    assert all("latency" in ln and "img/s" in ln and "elapsed" in ln for ln in lines)
    assert "\x1b" not in res.stderr  # plain text, no terminal codes


def test_a_failed_configuration_has_its_line_with_the_error():
    out = io.StringIO()
    shown = RunProgress("sweep", stream=out, terminal=False)

    def broken(config):
        raise RuntimeError("exploded")

    with shown:
        run_sweep([_config(device="cpu")], measure_fn=broken, progress=shown)
    (line,) = out.getvalue().splitlines()
    assert line.startswith("effkit: [1/1] resnet18 bs=1 (1x3x224x224 float32): failed in ")
    assert "failed in " in line and ": RuntimeError: exploded; elapsed " in line


def test_heartbeat_while_a_configuration_runs():
    out = io.StringIO()
    shown = RunProgress("sweep", stream=out, terminal=False, heartbeat_s=0.01)

    def slow(config):
        time.sleep(0.05)
        return {"model": config.model, "batch_size": config.batch_size, "status": "ok", "latency_ms": 1.0}

    with shown:
        run_sweep([_config(device="cpu")], measure_fn=slow, progress=shown)
    lines = out.getvalue().splitlines()
    beats = [ln for ln in lines if ln.startswith("effkit: ... [1/1] resnet18 bs=1")]
    assert beats and all("in this configuration" in ln for ln in beats), lines
    assert lines[-1].startswith("effkit: [1/1] resnet18 bs=1") and "ok in " in lines[-1]
    assert not any(th.name == "effkit-heartbeat" for th in threading.enumerate())  # stopped on leaving


def test_heartbeat_thread_beats_until_stopped_even_after_an_error():
    beats = []
    with pytest.raises(KeyboardInterrupt):
        with Heartbeat(lambda: beats.append(1), interval_s=0.01):
            time.sleep(0.05)
            raise KeyboardInterrupt
    n = len(beats)
    assert n >= 1
    time.sleep(0.03)
    assert len(beats) == n  # nothing after the stop


def test_the_bar_shows_the_phase_with_its_seconds_and_the_time_left():
    clock = Clock()
    shown = RunProgress("measuring", stream=io.StringIO(), terminal=True, clock=clock)
    config = _config(device="cpu", energy=False)  # 1 s warm-up + 2 s timing
    with shown:
        for event in (SweepEvent("start", 0, 2), SweepEvent("begin", 0, 2, config=config)):
            shown(event)
        clock.t = 0.5
        shown(SweepEvent("phase", 0, 2, config=config, phase="timing"))
        clock.t = 2.5
        assert shown._now_text() == "timing 2.0 s"  # seconds in this phase, not in the configuration
        assert shown._left_text() == "~3.5 s left"  # (3 - 2.5) + 3
        task = shown._bar.tasks[0]
        assert task.description == "measuring: resnet18 bs=1 (1x3x224x224 float32)" and task.total == 2
