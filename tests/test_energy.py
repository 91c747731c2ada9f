"""Energy meters with a fake NVML module, a fake clock and a fake powercap tree; the J/img method by hand."""

from __future__ import annotations

import math
import pathlib
import sys
import types

import pytest

from effkit.errors import BackendUnavailableError
from effkit.measurement.energy.base import EnergyReading, NullMeter, trapezoid_joules
from effkit.measurement.energy.meter import measure_energy, open_meter
from effkit.measurement.energy.nvml import (
    AVERAGED_MIN_WINDOW_S, NvmlMeter, PowerAverageWarning, clocks_dropped, normalise_uuid,
)
from effkit.measurement.energy.rapl import RaplMeter


class FakeClock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeNVMLError(Exception):
    def __init__(self, value: int):
        super().__init__(f"NVML error {value}")
        self.value = value


def fake_nvml(devices, *, init_error=None):
    """A module with the pynvml functions the meter uses. ``devices``: list of dicts with
    uuid, bus, counter (callable or None = not supported), instant (callable or None), power (callable)."""
    nv = types.SimpleNamespace()
    nv.NVMLError = FakeNVMLError
    nv.NVML_SUCCESS = 0
    nv.NVML_FI_DEV_POWER_INSTANT = 186
    nv.calls = {"init": 0, "shutdown": 0}

    def init():
        if init_error is not None:
            raise init_error
        nv.calls["init"] += 1

    def shutdown():
        nv.calls["shutdown"] += 1

    def counter(h):
        if devices[h]["counter"] is None:
            raise FakeNVMLError(3)  # NVML_ERROR_NOT_SUPPORTED
        return devices[h]["counter"]()

    def fields(h, ids):
        assert ids == [186]
        f = devices[h].get("instant")
        if f is None:
            return [types.SimpleNamespace(nvmlReturn=3, value=types.SimpleNamespace(uiVal=0))]
        return [types.SimpleNamespace(nvmlReturn=0, value=types.SimpleNamespace(uiVal=f()))]

    nv.nvmlInit = init
    nv.nvmlShutdown = shutdown
    nv.nvmlDeviceGetCount = lambda: len(devices)
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetUUID = lambda h: devices[h]["uuid"]
    nv.nvmlDeviceGetPciInfo = lambda h: types.SimpleNamespace(busId=devices[h].get("bus", b"00000000:00:00.0"))
    nv.nvmlDeviceGetTotalEnergyConsumption = counter
    nv.nvmlDeviceGetFieldValues = fields
    nv.nvmlDeviceGetPowerUsage = lambda h: devices[h]["power"]()
    return nv


def test_counter_path_energy_is_counter_delta():
    clock = FakeClock()
    mj = {"v": 1_000}
    nv = fake_nvml([{"uuid": "GPU-aaaa", "counter": lambda: mj["v"], "power": lambda: 50_000}])
    meter = NvmlMeter(0, nvml=nv, clock=clock, device_uuid="GPU-aaaa")
    status = meter.probe()
    assert status.available and status.method == "nvml_energy_counter"
    meter.start()
    clock.t += 2.5
    mj["v"] += 250_000  # 250 J in mJ
    r = meter.stop()
    assert r.joules == pytest.approx(250.0)
    assert r.seconds == pytest.approx(2.5)
    assert r.mean_w == pytest.approx(100.0)
    assert r.method == "nvml_energy_counter" and r.peak_w is None
    assert meter.min_window_s == 0.0
    meter.close()
    assert nv.calls["shutdown"] == nv.calls["init"] == 1


def test_instant_sampling_path_trapezoid_by_hand():
    clock = FakeClock(0.0)
    trace = {0.0: 100.0, 0.5: 200.0, 1.0: 200.0, 2.0: 100.0}  # seconds -> watts
    nv = fake_nvml([{"uuid": "GPU-aaaa", "counter": None, "instant": lambda: int(trace[clock.t] * 1000),
                     "power": lambda: 1}])
    meter = NvmlMeter(0, nvml=nv, clock=clock, poll_hz=0, device_uuid="aaaa")
    assert meter.probe().method == "nvml_power_instant"
    assert "energy counter" in meter.probe().reason  # says why the counter was not used
    meter.start()  # sample at t=0
    for t in (0.5, 1.0):
        clock.t = t
        meter.sample()
    clock.t = 2.0
    r = meter.stop()  # last sample at t=2
    # 0.5*(100+200)/2 + 0.5*(200+200)/2 + 1.0*(200+100)/2 = 75 + 100 + 150
    assert r.joules == pytest.approx(325.0)
    assert r.seconds == pytest.approx(2.0)
    assert r.peak_w == pytest.approx(200.0)
    assert r.samples == 4
    assert r.method == "nvml_power_instant"


def test_unsupported_counter_and_field_fall_back_to_averaged_power_with_warning():
    clock = FakeClock(0.0)
    nv = fake_nvml([{"uuid": "GPU-aaaa", "counter": None, "instant": None, "power": lambda: 80_000}])
    meter = NvmlMeter(0, nvml=nv, clock=clock, poll_hz=0, device_uuid="GPU-aaaa")
    assert meter.probe().method == "nvml_power_avg"
    assert meter.min_window_s == AVERAGED_MIN_WINDOW_S
    with pytest.warns(PowerAverageWarning):
        meter.start()
    clock.t = 10.0
    r = meter.stop()
    assert r.joules == pytest.approx(800.0)  # 80 W flat for 10 s
    assert r.method == "nvml_power_avg"


def test_threaded_sampling_takes_samples():
    import time

    watts = {"v": 120_000}
    nv = fake_nvml([{"uuid": "GPU-aaaa", "counter": None, "instant": lambda: watts["v"], "power": lambda: 1}])
    meter = NvmlMeter(0, nvml=nv, poll_hz=200, device_uuid="GPU-aaaa")
    meter.start()
    time.sleep(0.1)
    r = meter.stop()
    meter.close()
    assert r.samples >= 3  # start + stop + at least one from the thread
    assert r.mean_w == pytest.approx(120.0)


def test_matches_cuda_device_by_uuid_when_nvml_order_differs():
    # NVML lists B then A; the CUDA device measured is A (e.g. CUDA_VISIBLE_DEVICES=1 or another order).
    clock = FakeClock()
    counters = {"a": 5_000, "b": 9_000_000}
    nv = fake_nvml([
        {"uuid": "GPU-bbbb-2222", "counter": lambda: counters["b"], "power": lambda: 1},
        {"uuid": "GPU-AAAA-1111", "counter": lambda: counters["a"], "power": lambda: 1},
    ])
    # torch reports UUIDs without the "GPU-" prefix
    meter = NvmlMeter(0, nvml=nv, clock=clock, device_uuid="aaaa-1111")
    meter.start()
    clock.t += 1.0
    counters["a"] += 42_000
    counters["b"] += 999_000
    assert meter.stop().joules == pytest.approx(42.0)
    assert meter.gpu.handle == 1


def test_matches_by_pci_bus_id_without_uuid():
    clock = FakeClock()
    nv = fake_nvml([
        {"uuid": "GPU-x", "bus": b"00000000:3B:00.0", "counter": lambda: 0, "power": lambda: 1},
        {"uuid": "GPU-y", "bus": b"00000000:AF:00.0", "counter": lambda: 0, "power": lambda: 1},
    ])
    meter = NvmlMeter(0, nvml=nv, clock=clock, pci_bus_id="0000:af:00.0")
    assert meter.probe().available
    assert meter.gpu.handle == 1


def test_no_matching_device_is_unavailable_with_reason():
    nv = fake_nvml([{"uuid": "GPU-other", "counter": lambda: 0, "power": lambda: 1}])
    status = NvmlMeter(0, nvml=nv, device_uuid="GPU-mine").probe()
    assert not status.available and "no NVML device matches" in status.reason


def test_library_missing_gives_null_meter_with_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` now raises ImportError
    meter = open_meter("cuda:0")
    assert isinstance(meter, NullMeter)
    status = meter.probe()
    assert not status.available and "nvidia-ml-py" in status.reason
    with pytest.raises(BackendUnavailableError):
        meter.start()


def test_driver_missing_gives_unavailable():
    nv = fake_nvml([], init_error=FakeNVMLError(9))  # NVML_ERROR_DRIVER_NOT_LOADED
    meter = open_meter("cuda:0", nvml=nv)
    assert isinstance(meter, NullMeter)
    assert "NVIDIA driver" in meter.probe().reason


def test_nvml_error_mid_window_maps_to_backend_unavailable():
    # A lost GPU (15) fails the whole measurement instead: tests/test_nvml.py.
    state = {"fail": False}

    def counter():
        if state["fail"]:
            raise FakeNVMLError(999)  # NVML_ERROR_UNKNOWN
        return 0

    nv = fake_nvml([{"uuid": "GPU-aaaa", "counter": counter, "power": lambda: 1}])
    meter = NvmlMeter(0, nvml=nv, clock=FakeClock(), device_uuid="GPU-aaaa")
    meter.start()
    state["fail"] = True
    with pytest.raises(BackendUnavailableError) as info:
        meter.stop()
    assert isinstance(info.value.__cause__, FakeNVMLError)


def test_null_meter_says_why_and_never_reads_zero():
    m = NullMeter("no permission")
    assert m.probe().reason == "no permission" and not m.probe().available
    with pytest.raises(BackendUnavailableError):
        m.start()
    with pytest.raises(BackendUnavailableError):
        m.stop()
    assert isinstance(open_meter("meta"), NullMeter)


def test_uuid_normalisation_and_clock_drop():
    assert normalise_uuid("GPU-AbC") == normalise_uuid("abc") == "abc"
    assert clocks_dropped({"sm_clock_mhz": 1980}, {"sm_clock_mhz": 1755}) is True
    assert clocks_dropped({"sm_clock_mhz": 1980}, {"sm_clock_mhz": 1965}) is False
    assert clocks_dropped({"sm_clock_mhz": 1980, "throttle_reasons": []},
                          {"sm_clock_mhz": 1980, "throttle_reasons": ["hw_thermal_slowdown"]}) is True
    assert clocks_dropped(None, {"sm_clock_mhz": 1}) is None


def test_trapezoid_by_hand():
    assert trapezoid_joules([0, 1, 3], [10, 20, 20]) == pytest.approx(15 + 40)


# --- RAPL ----------------------------------------------------------------------------------------

def rapl_tree(root: pathlib.Path, zones: dict[str, tuple[int, int]]) -> None:
    for name, (energy, max_range) in zones.items():
        z = root / name
        z.mkdir(parents=True)
        (z / "name").write_text("package-0\n")
        (z / "energy_uj").write_text(f"{energy}\n")
        (z / "max_energy_range_uj").write_text(f"{max_range}\n")


def test_rapl_sums_packages_not_subzones(tmp_path):
    rapl_tree(tmp_path, {"intel-rapl:0": (1_000_000, 262_143_328_850), "intel-rapl:1": (5_000_000, 262_143_328_850),
                         "intel-rapl:0:0": (7, 262_143_328_850)})
    clock = FakeClock(0.0)
    meter = RaplMeter(tmp_path, clock=clock)
    assert meter.probe().available
    meter.start()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("31000000\n")  # +30 J
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("15000000\n")  # +10 J
    (tmp_path / "intel-rapl:0:0" / "energy_uj").write_text("999999999\n")  # sub-zone: ignored
    clock.t = 2.0
    r = meter.stop()
    assert r.joules == pytest.approx(40.0)
    assert r.mean_w == pytest.approx(20.0)
    assert r.method == "rapl"


def test_rapl_counter_wrap_around(tmp_path):
    max_uj = 262_143_328_850
    rapl_tree(tmp_path, {"intel-rapl:0": (max_uj - 2_000_000, max_uj)})
    clock = FakeClock(0.0)
    meter = RaplMeter(tmp_path, clock=clock)
    meter.start()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("3000000\n")  # wrapped: 2 J to the top + 3 J after
    clock.t = 1.0
    assert meter.stop().joules == pytest.approx(5.0)


def test_rapl_permission_error_is_unavailable_with_reason(tmp_path, monkeypatch):
    rapl_tree(tmp_path, {"intel-rapl:0": (1, 10)})
    real = pathlib.Path.read_text

    def guarded(self, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "read_text", guarded)
    meter = open_meter("cpu", rapl_root=str(tmp_path))
    assert isinstance(meter, NullMeter)
    assert "permission denied" in meter.probe().reason


def test_rapl_missing_tree(tmp_path):
    status = RaplMeter(tmp_path / "nope").probe()
    assert not status.available and "does not exist" in status.reason


# --- the method: idle first, windows, trials, gross and net -------------------------------------

class ScriptedMeter:
    """Integrates a power level that the fake workload and the fake sleep set."""

    min_window_s = 0.0

    def __init__(self, clock):
        self.clock = clock
        self.acc = 0.0
        self.opened = None

    def probe(self):
        from effkit.measurement.energy.base import MeterStatus

        return MeterStatus(True, "scripted")

    def start(self):
        self.opened = (self.clock(), self.acc)

    def stop(self):
        t0, a0 = self.opened
        s = self.clock() - t0
        return EnergyReading(self.acc - a0, s, (self.acc - a0) / s, None, 2, "scripted")

    def close(self):
        pass


def test_measure_energy_gross_and_net_by_hand():
    clock = FakeClock(0.0)
    meter = ScriptedMeter(clock)

    def step():  # one batch: 0.1 s at 100 W
        clock.t += 0.1
        meter.acc += 100 * 0.1

    def sleep(s):  # idle: 20 W
        clock.t += s
        meter.acc += 20 * s

    res = measure_energy(meter, step, images_per_step=4, trials=3, min_window_s=1.0, min_window_iters=5,
                         idle_s=0.5, clock=clock, sleep=sleep)
    # each window: 10 steps (1.0 s >= 1 s, 10 >= 5 iterations), 100 J, 40 images
    assert res.iterations_per_trial == pytest.approx(10, abs=1)
    n_img = res.iterations_per_trial * 4
    assert res.idle_power_w == pytest.approx(20.0)
    # the headline is gross: 100 W x 0.1 s per batch of 4 = 2.5 J/img; net of 20 W idle: 80 x 0.1 / 4 = 2.0
    assert res.energy_j_per_img == pytest.approx(100 * 0.1 * res.iterations_per_trial / n_img)
    assert res.energy_j_per_img == pytest.approx(2.5)
    assert res.energy_j_per_img_net == pytest.approx((100 - 20) * 0.1 * res.iterations_per_trial / n_img)
    assert res.energy_j_per_img_net == pytest.approx(2.0)
    assert res.energy_j_per_img_std == pytest.approx(0.0, abs=1e-9)
    assert res.mean_power_w == pytest.approx(100.0)
    assert res.trials == 3


def test_measure_energy_iteration_minimum_dominates_short_time():
    clock = FakeClock(0.0)
    meter = ScriptedMeter(clock)

    def step():
        clock.t += 0.01
        meter.acc += 1.0

    res = measure_energy(meter, step, 1, trials=1, min_window_s=0.0, min_window_iters=32, idle_s=0,
                         clock=clock, sleep=lambda s: None)
    assert res.iterations_per_trial == 32
    assert res.idle_power_w is None  # no idle window: no net figure, rather than a net equal to gross
    assert res.energy_j_per_img == pytest.approx(1.0) and res.energy_j_per_img_net is None
    assert res.energy_j_per_img_std is None


def test_energy_columns_in_measure_rows(monkeypatch):
    """Wiring: idle baseline first, then load windows; J/img gross = J / images, net = (J - idle W * s) / images."""
    from torch import nn

    import effkit.measurement.energy.idle as idle_mod
    import effkit.measurement.energy.meter as meter_mod
    from effkit.measurement.api import measure

    monkeypatch.setattr(idle_mod, "REST_S", 0.0)
    monkeypatch.setattr(idle_mod, "MIN_WINDOW_S", 0.0)
    readings = iter([EnergyReading(2.0, 1.0, 2.0, None, 2, "fake")]  # idle window: 2 W
                    + [EnergyReading(30.0, 2.0, 15.0, None, 2, "fake")] * 2)  # two load windows

    class Fake(ScriptedMeter):
        def stop(self):
            return next(readings)

    monkeypatch.setattr(meter_mod, "open_meter", lambda device, **k: Fake(FakeClock()))
    df = measure(nn.Conv2d(3, 4, 1), input_size=4, batch_sizes=[2], device="cpu", warmup_s=0, warmup_iters=1,
                 min_iters=2, min_time_s=0, energy_trials=2, energy_window_s=0.0, energy_window_iters=3,
                 idle_s=0.01)
    row = df.iloc[0]
    assert row["energy_status"] == "ok", row["energy_status"]
    images = row["energy_iters_per_trial"] * 2
    assert row["energy_iters_per_trial"] == 3
    assert row["idle_power_w"] == pytest.approx(2.0)
    assert row["energy_j_per_img"] == pytest.approx(30.0 / images)
    assert row["energy_j_per_img_net"] == pytest.approx((30.0 - 2.0 * 2.0) / images)
    assert row["energy_method"] == "fake"
    assert row["idle_method"].startswith("fake: 1.0 s window after 0 s rest")
    assert row["idle_measured_at"].endswith("+00:00")


def test_unavailable_meter_leaves_energy_empty_with_reason(monkeypatch):
    from torch import nn

    import effkit.measurement.energy.meter as meter_mod
    from effkit.measurement.api import measure

    monkeypatch.setattr(meter_mod, "open_meter", lambda device, **k: NullMeter("RAPL needs root here"))
    df = measure(nn.Conv2d(3, 4, 1), input_size=4, device="cpu", warmup_s=0, warmup_iters=1, min_iters=2,
                 min_time_s=0)
    row = df.iloc[0]
    assert row["status"] == "ok"
    assert row["energy_status"] == "unavailable: RAPL needs root here"
    for col in ("energy_j_per_img", "energy_j_per_img_net", "mean_power_w", "idle_power_w"):
        assert row[col] is None or math.isnan(row[col])


def test_idle_measured_once_per_device_after_a_rest_over_three_seconds():
    from effkit.measurement.energy.idle import IdleBaselines

    clock = FakeClock(0.0)
    meter = ScriptedMeter(clock)
    power = {"w": 60.0, "settled": False}  # the board still warm from a load: 25 W after 4 s of rest
    slept = []

    def sleep(s):
        slept.append(s)
        for _ in range(int(round(s * 10))):  # 100 ms steps
            clock.t += 0.1
            meter.acc += power["w"] * 0.1
            if clock.t >= 4.0 - 1e-9 and not power["settled"]:
                power.update(w=25.0, settled=True)

    idle = IdleBaselines(1.0, sleep=sleep, now=lambda: "2026-01-01T00:00:00+00:00")
    a = idle.get("cuda:0", meter)
    assert slept == [5.0, 3.0]  # rest 5 s, then a window raised from 1 s to 3 s
    assert a.power_w == pytest.approx(25.0)  # a 1 s window straight after the load would read 60 W
    assert a.window_s == pytest.approx(3.0)
    assert a.method == "scripted: 3.0 s window after 5 s rest, once per device per run"
    assert a.columns() == {"idle_power_w": pytest.approx(25.0), "idle_measured_at": "2026-01-01T00:00:00+00:00",
                           "idle_method": a.method}
    power["w"] = 300.0
    assert idle.get("cuda:0", meter) is a and slept == [5.0, 3.0]  # reused, not measured again
    b = idle.get("cuda:1", meter)
    assert b.power_w == pytest.approx(300.0) and len(slept) == 4  # another device gets its own


def test_sweep_reuses_one_idle_baseline_for_every_row(monkeypatch):
    from torch import nn

    import effkit.measurement.energy.idle as idle_mod
    import effkit.measurement.energy.meter as meter_mod
    from effkit.measurement.api import measure

    monkeypatch.setattr(idle_mod, "REST_S", 0.0)
    monkeypatch.setattr(idle_mod, "MIN_WINDOW_S", 0.0)
    stops = []
    idle_reads = iter([EnergyReading(4.0, 2.0, 2.0, None, 2, "fake"), EnergyReading(99.0, 1.0, 99.0, None, 2, "fake")])

    class Fake(ScriptedMeter):
        def stop(self):
            stops.append(1)
            # the first window is the idle one; every later window is a load window
            return next(idle_reads) if len(stops) == 1 else EnergyReading(10.0, 1.0, 10.0, None, 2, "fake")

    monkeypatch.setattr(meter_mod, "open_meter", lambda device, **k: Fake(FakeClock()))
    df = measure(nn.Conv2d(3, 4, 1), input_size=4, batch_sizes=[1, 2, 3], device="cpu", warmup_s=0,
                 warmup_iters=1, min_iters=2, min_time_s=0, energy_trials=1, energy_window_s=0.0,
                 energy_window_iters=1, idle_s=0.01)
    assert list(df["idle_power_w"]) == pytest.approx([2.0, 2.0, 2.0])
    assert df["idle_measured_at"].nunique() == 1
    assert len(stops) == 1 + 3  # one idle window for the run, one load window per row


def test_old_store_rows_read_with_gross_headline(tmp_path):
    from effkit.store import Store

    with Store(tmp_path / "r.sqlite") as st:
        # as written before: headline net of 20 W idle, gross beside it
        st.add({"model": "m", "status": "ok", "energy_j_per_img": 2.0, "energy_j_per_img_gross": 2.5,
                "idle_power_w": 20.0})
        st.add({"model": "n", "status": "ok", "energy_j_per_img": 1.0, "energy_j_per_img_gross": 1.0,
                "idle_power_w": None})
        st.add({"model": "o", "status": "ok", "energy_j_per_img": 3.0, "energy_j_per_img_net": 2.0})
        df = st.rows()
    assert list(df["energy_j_per_img"]) == [2.5, 1.0, 3.0]
    assert df["energy_j_per_img_net"].iloc[0] == 2.0 and df["energy_j_per_img_net"].iloc[2] == 2.0
    assert df["energy_j_per_img_net"].isna().iloc[1]  # no idle then: "net" was gross, so no net figure now
    assert "energy_j_per_img_gross" not in df.columns


def test_sweep_runner_measures_idle_once_for_the_run(monkeypatch):
    import effkit.measurement.energy.idle as idle_mod
    import effkit.measurement.energy.meter as meter_mod
    from effkit.measurement.api import MeasureConfig
    from effkit.measurement.preflight import checked_measure_fn

    monkeypatch.setattr(idle_mod, "REST_S", 0.0)
    monkeypatch.setattr(idle_mod, "MIN_WINDOW_S", 0.0)
    windows = []

    class Fake(ScriptedMeter):
        def stop(self):
            windows.append(1)
            return EnergyReading(3.0 if len(windows) == 1 else 10.0, 1.0, 1.0, None, 2, "fake")

    monkeypatch.setattr(meter_mod, "open_meter", lambda device, **k: Fake(FakeClock()))
    configs = [MeasureConfig("resnet18", input_size=32, batch_size=b, device="cpu", warmup_s=0, warmup_iters=1,
                             min_iters=2, min_time_s=0, energy_trials=1, energy_window_s=0.0,
                             energy_window_iters=1, idle_s=0.01) for b in (1, 2)]
    run = checked_measure_fn([(c, None) for c in configs])  # what measure(), compare() and a local sweep run
    rows = [run(c) for c in configs]
    assert [r["idle_power_w"] for r in rows] == [3.0, 3.0]  # the first window is the only idle one
    assert len(windows) == 1 + 2
