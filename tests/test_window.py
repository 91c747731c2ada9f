"""energy_window around the caller's code, with a fake meter, a fake clock and a fake powercap tree.

Every expected number is power x time worked out by hand beside the assertion.
"""

from __future__ import annotations

import pathlib

import pytest
import torch

import effkit
from effkit.errors import BackendUnavailableError, BadInputError
from effkit.measurement.energy.base import EnergyReading, MeterStatus, NullMeter
from effkit.measurement.energy.rapl import RaplMeter
from effkit.measurement.window import TDP_ESTIMATE, begin_window, end_window, energy_window


class Bench:
    """A fake clock and a device drawing ``power_w``; ``run(s)`` is work lasting ``s`` seconds."""

    def __init__(self, power_w: float = 0.0):
        self.t = 50.0
        self.joules = 0.0
        self.power_w = power_w
        self.log: list[str] = []

    def clock(self) -> float:
        return self.t

    def run(self, seconds: float) -> None:
        self.t += seconds
        self.joules += self.power_w * seconds

    def sync(self) -> None:
        self.log.append("sync")


class FakeMeter:
    """A counter meter over a :class:`Bench`; ``fail_stop`` makes stop() raise like an NVML error."""

    def __init__(self, bench: Bench, *, min_window_s: float = 0.0, fail_stop: bool = False):
        self.bench = bench
        self.min_window_s = min_window_s
        self.fail_stop = fail_stop
        self.closed = False
        self.opened = None

    def probe(self):
        return MeterStatus(True, "fake_counter")

    def start(self):
        self.bench.log.append("start")
        self.opened = (self.bench.t, self.bench.joules)

    def stop(self):
        self.bench.log.append("stop")
        if self.fail_stop:
            raise BackendUnavailableError("NVML error while reading energy: GPU is lost")
        t0, j0 = self.opened
        s, j = self.bench.t - t0, self.bench.joules - j0
        return EnergyReading(j, s, j / s, None, 2, "fake_counter")

    def close(self):
        self.closed = True


def test_gross_net_and_power_by_hand():
    bench = Bench(power_w=150.0)
    meter = FakeMeter(bench)
    with energy_window("cpu", meter=meter, idle_power_w=30.0, clock=bench.clock, sync=bench.sync) as w:
        bench.run(2.0)
    # 150 W for 2 s = 300 J gross; idle 30 W x 2 s = 60 J, so 240 J net; mean power 300 / 2 = 150 W.
    assert w.seconds == pytest.approx(2.0)
    assert w.joules_gross == pytest.approx(300.0)
    assert w.joules_net == pytest.approx(240.0)
    assert w.mean_power_w == pytest.approx(150.0)
    assert w.idle_power_w == 30.0
    assert (w.method, w.status, w.device) == ("fake_counter", "ok", "cpu")
    assert w.measured and w.result.measured
    # queued work finishes before the window opens and before it closes
    assert bench.log == ["sync", "start", "sync", "stop"]
    assert not meter.closed  # a meter the caller passed in is the caller's to close


def test_no_idle_power_means_no_net_figure():
    bench = Bench(power_w=80.0)
    w = begin_window("cpu", meter=FakeMeter(bench), clock=bench.clock, sync=bench.sync)
    bench.run(0.25)
    r = end_window(w)
    # 80 W x 0.25 s = 20 J; with no idle power known there is nothing to subtract
    assert r.joules_gross == pytest.approx(20.0) and r.joules_net is None
    assert r is w.result
    with pytest.raises(BadInputError, match="already ended"):
        end_window(w)


def test_idle_window_measured_first_when_asked():
    bench = Bench(power_w=40.0)  # the device idles at 40 W ...
    naps = []

    def sleep(s):
        naps.append(s)
        bench.run(s)

    w = begin_window("cpu", meter=FakeMeter(bench), idle_s=0.5, clock=bench.clock, sync=bench.sync, sleep=sleep)
    bench.power_w = 100.0  # ... and draws 100 W under the caller's load
    bench.run(3.0)
    r = end_window(w)
    # idle: 40 W x 0.5 s = 20 J -> 40 W. Load: 100 W x 3 s = 300 J gross, 300 - 40 x 3 = 180 J net.
    assert naps == [0.5]
    assert r.idle_power_w == pytest.approx(40.0)
    assert r.joules_gross == pytest.approx(300.0)
    assert r.joules_net == pytest.approx(180.0)
    assert r.seconds == pytest.approx(3.0)  # the idle window is not part of the caller's time


def test_fields_unknown_while_open_and_window_closes_when_the_block_raises():
    bench = Bench(power_w=10.0)
    meter = FakeMeter(bench)
    with pytest.raises(ZeroDivisionError):
        with energy_window("cpu", meter=meter, clock=bench.clock, sync=bench.sync) as w:
            with pytest.raises(AttributeError, match="still open"):
                w.joules_gross
            bench.run(1.0)
            1 / 0
    assert bench.log[-1] == "stop"
    assert w.joules_gross == pytest.approx(10.0)  # 10 W x 1 s


def test_no_meter_keeps_time_and_says_why():
    bench = Bench()
    with energy_window("cpu", meter=NullMeter("no RAPL here"), clock=bench.clock, sync=bench.sync) as w:
        bench.run(1.5)
    assert w.seconds == pytest.approx(1.5)
    assert w.joules_gross is None and w.joules_net is None and w.mean_power_w is None
    assert w.method == "none" and w.status == "unavailable: no RAPL here"
    assert not w.measured


def test_tdp_estimate_only_when_asked_and_clearly_labelled():
    bench = Bench()
    with energy_window("cpu", meter=NullMeter("no RAPL here"), tdp_estimate_w=200.0, idle_power_w=50.0,
                       clock=bench.clock, sync=bench.sync) as w:
        bench.run(1.5)
    # 200 W x 1.5 s = 300 J, less idle 50 W x 1.5 s = 75 J -> 225 J
    assert w.method == TDP_ESTIMATE == "tdp estimate"
    assert w.joules_gross == pytest.approx(300.0) and w.joules_net == pytest.approx(225.0)
    assert w.status.startswith("estimate: ") and "not a measurement" in w.status and "no RAPL here" in w.status
    assert not w.measured


def test_tdp_estimate_ignored_when_a_meter_works():
    bench = Bench(power_w=60.0)
    with energy_window("cpu", meter=FakeMeter(bench), tdp_estimate_w=500.0, clock=bench.clock,
                       sync=bench.sync) as w:
        bench.run(1.0)
    assert w.method == "fake_counter" and w.joules_gross == pytest.approx(60.0)


def test_meter_error_becomes_a_failed_status_not_a_traceback():
    bench = Bench(power_w=60.0)
    with energy_window("cpu", meter=FakeMeter(bench, fail_stop=True), clock=bench.clock, sync=bench.sync) as w:
        bench.run(1.0)
    assert w.joules_gross is None and w.status.startswith("failed: NVML error")
    assert w.seconds == pytest.approx(1.0)


def test_short_window_on_an_averaging_meter_carries_a_caveat():
    bench = Bench(power_w=60.0)
    with energy_window("cpu", meter=FakeMeter(bench, min_window_s=10.0), clock=bench.clock,
                       sync=bench.sync) as w:
        bench.run(2.0)
    assert w.joules_gross == pytest.approx(120.0)
    assert w.status.startswith("ok (") and "under-reads" in w.status and "10 s" in w.status


def test_rapl_counter_on_a_fake_powercap_tree(tmp_path: pathlib.Path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("1000000\n")
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    bench = Bench()
    with energy_window("cpu", meter=RaplMeter(tmp_path, clock=bench.clock), clock=bench.clock) as w:
        bench.run(0.5)
        (zone / "energy_uj").write_text("4500000\n")
    # (4,500,000 - 1,000,000) uJ = 3.5 J over 0.5 s = 7 W
    assert w.method == "rapl"
    assert w.joules_gross == pytest.approx(3.5) and w.mean_power_w == pytest.approx(7.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_cuda_window_without_cuda_is_unavailable_not_an_error():
    with effkit.energy_window("cuda:0") as w:
        sum(range(1000))
    assert w.device == "cuda:0" and w.seconds >= 0
    assert w.joules_gross is None and w.status == "unavailable: CUDA is not available here"


@pytest.mark.parametrize("kwargs, field", [
    ({"tdp_estimate_w": -5}, "tdp_estimate_w"),
    ({"tdp_estimate_w": 0}, "tdp_estimate_w"),
    ({"idle_power_w": "lots"}, "idle_power_w"),
    ({"idle_s": -1}, "idle_s"),
    ({"device": "gpu"}, "device"),
])
def test_bad_settings_are_named(kwargs, field):
    kwargs = {"device": "cpu", "meter": NullMeter("test"), **kwargs}
    with pytest.raises(BadInputError) as e:
        begin_window(kwargs.pop("device"), **kwargs)
    assert e.value.field == field and field in str(e.value)


def test_public_names():
    assert effkit.energy_window is energy_window
    assert effkit.begin_window is begin_window and effkit.end_window is end_window
    assert effkit.EnergyWindow.__dataclass_params__.frozen
