"""NVML details against a fake that behaves like the real library: an energy counter in mJ that steps every
100 ms, field structs with per-field return codes, value types and microsecond timestamps, error classes by
code (NotSupported, FunctionNotFound, GpuIsLost, NoPermission), ``GPU-``/``MIG-`` UUIDs, MIG mode."""

from __future__ import annotations

import math
import types

import pytest

from effkit.errors import BackendUnavailableError
from effkit.measurement.energy.meter import NullMeter, measure_energy, open_meter
from effkit.measurement.energy.nvml import (
    MIG_NOT_ATTRIBUTABLE, MIG_WHOLE_BOARD, NvmlGpu, NvmlMeter, clocks_dropped_any, field_value, reason_names,
)

NOT_SUPPORTED, NO_PERMISSION, FUNCTION_NOT_FOUND, GPU_IS_LOST, RESET_REQUIRED = 3, 4, 13, 15, 16


class NVMLError(Exception):
    """pynvml's base error: ``value`` is the nvmlReturn_t code; subclasses are chosen by code, as pynvml does."""

    def __new__(cls, value):
        sub = {NOT_SUPPORTED: NVMLError_NotSupported, FUNCTION_NOT_FOUND: NVMLError_FunctionNotFound,
               GPU_IS_LOST: NVMLError_GpuIsLost, NO_PERMISSION: NVMLError_NoPermission,
               RESET_REQUIRED: NVMLError_ResetRequired}.get(value, cls)
        return Exception.__new__(sub)

    def __init__(self, value):
        super().__init__(value)
        self.value = value

    def __str__(self):
        return {NOT_SUPPORTED: "Not Supported", FUNCTION_NOT_FOUND: "Function Not Found",
                GPU_IS_LOST: "GPU is lost", NO_PERMISSION: "Insufficient Permissions",
                RESET_REQUIRED: "GPU requires restart"}.get(self.value, "Unknown")


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_FunctionNotFound(NVMLError):
    pass


class NVMLError_GpuIsLost(NVMLError):
    pass


class NVMLError_NoPermission(NVMLError):
    pass


class NVMLError_ResetRequired(NVMLError):
    pass


class Board:
    """One physical GPU: a power trace p(t) in W; the energy counter integrates it in 100 ms steps (mJ)."""

    def __init__(self, uuid, power, *, bus="00000000:3B:00.0", mig=None, reasons=0, event_call=True,
                 instant_type=1, lost_at=None):
        self.uuid, self.power, self.bus, self.mig = uuid, power, bus, mig
        self.reasons, self.event_call, self.instant_type = reasons, event_call, instant_type
        self.lost = False  # set on demand: from then on every call on the board raises NVMLError_GpuIsLost
        self.lost_at = lost_at  # or: lost once the clock reaches this time (mid-window, mid-sweep)

    def is_lost(self, t: float) -> bool:
        return self.lost or (self.lost_at is not None and t >= self.lost_at)

    def energy_mj(self, t: float) -> int:
        # the counter updates every 100 ms: it holds the energy up to the last 100 ms tick
        ticks = int(math.floor(t / 0.1 + 1e-9))
        return int(round(sum(self.power(i * 0.1) * 0.1 for i in range(ticks)) * 1000))


def fake_pynvml(boards, clock, *, init_error=None):
    nv = types.ModuleType("pynvml")
    nv.NVMLError = NVMLError
    nv.NVMLError_NotSupported = NVMLError_NotSupported
    nv.NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    nv.NVMLError_GpuIsLost = NVMLError_GpuIsLost
    nv.NVML_ERROR_GPU_IS_LOST = GPU_IS_LOST
    nv.NVML_SUCCESS = 0
    nv.calls = {"init": 0, "shutdown": 0}
    nv.NVML_FI_DEV_POWER_INSTANT = 186
    nv.NVML_DEVICE_MIG_ENABLE = 1

    def init():
        if init_error is not None:
            raise NVMLError(init_error)
        nv.calls["init"] += 1

    def shutdown():
        nv.calls["shutdown"] += 1

    def board(h):
        if boards[h].is_lost(clock()):
            raise NVMLError(GPU_IS_LOST)
        return boards[h]

    def mig_mode(h):
        if board(h).mig is None:
            raise NVMLError(NOT_SUPPORTED)
        return [board(h).mig, board(h).mig]

    def fields(h, ids):
        out = []
        for fid in ids:
            b = board(h)
            # the driver refreshes the instant power every 20 ms and stamps it (microseconds since the epoch)
            tick = math.floor(clock() / 0.02 + 1e-9) * 0.02
            mw = int(b.power(tick) * 1000)
            value = types.SimpleNamespace(dVal=float(mw), uiVal=mw, ulVal=mw, ullVal=mw, sllVal=mw, siVal=mw,
                                          usVal=mw & 0xFFFF)
            if b.instant_type != 1:
                value.uiVal = 0xDEADBEEF  # another union member: garbage if read
            out.append(types.SimpleNamespace(fieldId=fid, scopeId=0, timestamp=int(round(tick * 1e6)),
                                             latencyUsec=0, valueType=b.instant_type, nvmlReturn=0, value=value))
        return out

    def event_reasons(h):
        if not board(h).event_call:
            raise NVMLError(FUNCTION_NOT_FOUND)  # binding newer than the driver's library
        return board(h).reasons

    nv.nvmlInit = init
    nv.nvmlShutdown = shutdown
    nv.nvmlDeviceGetCount = lambda: len(boards)
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetUUID = lambda h: board(h).uuid
    nv.nvmlDeviceGetPciInfo = lambda h: types.SimpleNamespace(busId=board(h).bus.encode())
    nv.nvmlDeviceGetTotalEnergyConsumption = lambda h: board(h).energy_mj(clock())
    nv.nvmlDeviceGetFieldValues = fields
    nv.nvmlDeviceGetPowerUsage = lambda h: int(board(h).power(clock()) * 1000)
    nv.nvmlDeviceGetMigMode = mig_mode
    nv.nvmlDeviceGetCurrentClocksEventReasons = event_reasons
    nv.nvmlDeviceGetCurrentClocksThrottleReasons = lambda h: board(h).reasons
    nv.nvmlDeviceGetClockInfo = lambda h, kind: 1980
    return nv


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_gross_j_per_img_is_the_counter_delta_over_images():
    clock = Clock(1000.0)
    board = Board("GPU-aaaa", lambda t: 300.0)
    meter = NvmlMeter(0, nvml=fake_pynvml([board], clock), clock=clock, device_uuid="aaaa")

    def step():  # one batch of 8 images: 50 ms at 300 W
        clock.t += 0.05

    res = measure_energy(meter, step, 8, trials=2, min_window_s=5.0, min_window_iters=1, clock=clock,
                         idle_power_w=60.0)
    # each window: 100 steps = 5.0 s, counter 300 W x 5.0 s = 1500 J over 800 images
    assert res.iterations_per_trial == pytest.approx(100, abs=1)
    assert res.energy_j_per_img == pytest.approx(1500.0 / 800, rel=0.03)  # counter steps: +-100 ms of 5 s
    assert res.energy_j_per_img_net == pytest.approx((300.0 - 60.0) * 5.0 / 800, rel=0.03)


def test_mig_instance_is_not_attributable_without_opt_in():
    clock = Clock()
    # the instance's UUID matches nothing NVML lists; the PCI fallback finds the parent board, in MIG mode
    boards = [Board("GPU-parent", lambda t: 400.0, bus="00000000:3B:00.0", mig=1)]
    nv = fake_pynvml(boards, clock)
    meter = NvmlMeter(0, nvml=nv, clock=clock, device_uuid="MIG-1234-abcd", pci_bus_id="0000:3b:00.0")
    status = meter.probe()
    assert not status.available and status.reason == MIG_NOT_ATTRIBUTABLE
    assert status.row_status() == "whole board (MIG): not attributable"
    with pytest.raises(BackendUnavailableError):
        meter.start()
    # a MIG-enabled board found by PCI id is a MIG instance even when torch gives no MIG- UUID
    plain = NvmlMeter(0, nvml=nv, clock=clock, pci_bus_id="0000:3b:00.0")
    assert plain.probe().reason == MIG_NOT_ATTRIBUTABLE
    # opted in: measured, and said to be the whole board
    opted = NvmlMeter(0, nvml=nv, clock=clock, pci_bus_id="0000:3b:00.0", allow_mig=True)
    assert opted.probe().available and MIG_WHOLE_BOARD in opted.probe().reason


def test_open_meter_carries_the_mig_status_verbatim(monkeypatch):
    import effkit.measurement.energy.nvml.device as nvml_device

    clock = Clock()
    nv = fake_pynvml([Board("GPU-parent", lambda t: 400.0, mig=1)], clock)
    monkeypatch.setattr(nvml_device, "_cuda_identity", lambda i: ("mig-1234", (0, 0x3B, 0)))
    m = open_meter("cuda:0", nvml=nv)
    assert isinstance(m, NullMeter) and m.probe().row_status() == MIG_NOT_ATTRIBUTABLE
    other = open_meter("cuda:0", nvml=fake_pynvml([], clock, init_error=NO_PERMISSION))
    assert other.probe().row_status().startswith("unavailable: NVML could not start (Insufficient Permissions)")


def test_board_without_mig_support_is_not_mig():
    clock = Clock()
    nv = fake_pynvml([Board("GPU-aaaa", lambda t: 1.0, mig=None)], clock)  # GetMigMode: NotSupported
    gpu = NvmlGpu(0, nvml=nv, device_uuid="GPU-aaaa")
    assert gpu.mig is False
    gpu.close()
    nv = fake_pynvml([Board("GPU-aaaa", lambda t: 1.0, mig=0)], clock)  # supported, disabled
    assert NvmlGpu(0, nvml=nv, device_uuid="GPU-aaaa").mig is False


def test_clock_event_reasons_fall_back_to_the_deprecated_call_and_keep_unknown_bits():
    clock = Clock()
    board = Board("GPU-aaaa", lambda t: 1.0, reasons=0x4 | 0x40 | 0x400, event_call=False)
    gpu = NvmlGpu(0, nvml=fake_pynvml([board], clock), device_uuid="GPU-aaaa")
    state = gpu.state()
    # the new call raised FunctionNotFound: the throttle-reasons call answered; 0x400 has no name here
    assert state["throttle_reasons"] == ["sw_power_cap", "hw_thermal_slowdown", "0x400"]
    assert reason_names(0x1 | 0x1000 | 0x80000) == ["gpu_idle", "0x1000", "0x80000"]


def test_field_values_are_read_by_value_type_and_return_code():
    v = types.SimpleNamespace(dVal=1.5, uiVal=7, ulVal=8, ullVal=9, sllVal=-10, siVal=-11, usVal=12)
    f = lambda vt, rc=0: types.SimpleNamespace(valueType=vt, nvmlReturn=rc, value=v)  # noqa: E731
    assert [field_value(f(t)) for t in range(7)] == [1.5, 7, 8, 9, -10, -11, 12]
    assert field_value(f(1, rc=NOT_SUPPORTED)) is None  # the call succeeded, this field did not
    assert field_value(f(99)) is None


def test_instant_power_uses_driver_timestamps_and_value_type():
    clock = Clock(1000.0)
    trace = lambda t: 100.0 if t < 1000.5 - 1e-9 else 200.0  # noqa: E731
    board = Board("GPU-aaaa", trace, instant_type=3)  # unsigned long long: uiVal is garbage
    nv = fake_pynvml([board], clock)
    nv.nvmlDeviceGetTotalEnergyConsumption = lambda h: (_ for _ in ()).throw(NVMLError(NOT_SUPPORTED))
    host = Clock(0.0)  # a host clock that disagrees with the driver's stamps

    meter = NvmlMeter(0, nvml=nv, clock=host, poll_hz=0, device_uuid="GPU-aaaa")
    assert meter.probe().method == "nvml_power_instant"
    meter.start()  # stamp 1000.00, 100 W
    for t in (1000.005, 1000.5, 1000.51, 1001.0):  # 1000.005 and 1000.51 repeat a stamp: no new sample
        clock.t = t
        host.t += 0.25
        meter.sample()
    clock.t = 1001.0
    r = meter.stop()  # stamp 1001.00 again: not a new sample
    # samples at driver times 1000.0 (100 W), 1000.5 (200 W), 1001.0 (200 W):
    # 0.5 * (100 + 200) / 2 + 0.5 * (200 + 200) / 2 = 75 + 100 J over 1.0 s
    assert r.samples == 3
    assert r.seconds == pytest.approx(1.0)
    assert r.joules == pytest.approx(175.0)
    assert r.peak_w == pytest.approx(200.0)


def test_gpu_lost_mid_window_fails_the_measurement_not_just_the_energy():
    from effkit.measurement.device_lost import GpuLostError

    clock = Clock()
    board = Board("GPU-aaaa", lambda t: 100.0)
    meter = NvmlMeter(0, nvml=fake_pynvml([board], clock), clock=clock, device_uuid="GPU-aaaa")
    meter.start()
    board.lost = True
    with pytest.raises(GpuLostError) as info:
        meter.stop()
    # not a BackendUnavailableError: that one only empties the energy columns of a row that stays "ok"
    assert not isinstance(info.value, BackendUnavailableError)
    assert (info.value.device, info.value.cause) == ("cuda:0", "NVML: GPU is lost")
    assert str(info.value) == "GPU lost during measurement (NVML: GPU is lost) on cuda:0"
    assert isinstance(info.value.__cause__, NVMLError_GpuIsLost)


def test_clock_drop_covers_the_energy_windows():
    before = {"sm_clock_mhz": 1980, "throttle_reasons": []}
    after_timing = {"sm_clock_mhz": 1980, "throttle_reasons": []}
    after_energy = {"sm_clock_mhz": 1600, "throttle_reasons": ["sw_thermal_slowdown"]}
    assert clocks_dropped_any(before, after_timing) is False
    assert clocks_dropped_any(before, after_timing, after_energy) is True
    assert clocks_dropped_any(before, None, None) is None
    assert clocks_dropped_any(None, after_timing) is None


def test_new_settings_leave_stored_configuration_keys_unchanged():
    from effkit.measurement.api import MeasureConfig

    key = MeasureConfig("resnet50").key()
    assert "mig_energy" not in key and "tf32" not in key
    assert MeasureConfig("resnet50", tf32=False).key() != key
    assert MeasureConfig("resnet50", mig_energy=True).key() != key


# -- a GPU that disappears mid-run ----------------------------------------------------------------------------


def test_gpu_lost_while_sampling_power_fails_the_window():
    from effkit.measurement.device_lost import GpuLostError

    clock = Clock()
    board = Board("GPU-aaaa", lambda t: 100.0)
    nv = fake_pynvml([board], clock)
    nv.nvmlDeviceGetTotalEnergyConsumption = lambda h: (_ for _ in ()).throw(NVMLError(NOT_SUPPORTED))
    meter = NvmlMeter(0, nvml=nv, clock=clock, poll_hz=0, device_uuid="GPU-aaaa")
    assert meter.probe().method == "nvml_power_instant"
    meter.start()
    clock.t += 0.5
    board.lost = True
    with pytest.raises(GpuLostError, match=r"\(NVML: GPU is lost\) on cuda:0"):
        meter.sample()


def test_gpu_lost_before_the_meter_opens_fails_and_shuts_nvml_down(monkeypatch):
    from effkit.measurement.device_lost import GpuLostError

    clock = Clock()
    nv = fake_pynvml([Board("GPU-aaaa", lambda t: 100.0, lost_at=0.0)], clock)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(GpuLostError):
        open_meter("cuda:0", nvml=nv)  # no NullMeter: nothing measured on a lost GPU can be trusted
    assert nv.calls["init"] == nv.calls["shutdown"] == 1


def _lost_configs(tmp_path):
    from effkit.measurement.api import MeasureConfig

    # cuda:0 and cuda:1 interleaved; cuda:0 is lost during its second configuration
    return [MeasureConfig("resnet18", device=d, batch_size=b, energy=False)
            for b in (1, 2, 4) for d in ("cuda:0", "cuda:1")]


def _fake_row(config, **extra):
    return {"model": config.model, "status": "ok", "device": config.device, "batch_size": config.batch_size,
            "machine_id": "m-" + config.device, "gpu_name": "NVIDIA H100 80GB HBM3", "fps": 100.0 * config.batch_size,
            **extra}


def test_sweep_after_a_lost_gpu_skips_that_device_and_keeps_every_row(tmp_path):
    """NVML says the GPU is lost mid-window on cuda:0 at batch 2: that row fails with the reason, batch 4 on
    cuda:0 is stored failed without being measured, cuda:1 goes on, and rows stored before stay."""
    from effkit.measurement.energy.meter import measure_energy
    from effkit.store import Store
    from effkit.measurement.run import run_configs

    clock = Clock(t=0.0)
    board = Board("GPU-aaaa", lambda t: 300.0)
    nv = fake_pynvml([board], clock)
    called = []

    def measure(config):
        called.append((config.device, config.batch_size))
        if config.device == "cuda:0" and config.batch_size == 2:
            board.lost_at = clock.t + 1.0  # the board falls off the bus 1 s into the energy window
            meter = NvmlMeter(0, nvml=nv, clock=clock, device_uuid="GPU-aaaa")

            def step():
                clock.t += 0.05

            measure_energy(meter, step, config.batch_size, sync=lambda: None, trials=1, min_window_s=5.0,
                           clock=clock, sleep=lambda s: None)
        return _fake_row(config)

    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        earlier = store.add({"model": "vovnet39", "status": "ok", "device": "cuda:0", "fps": 1.0})
        rows = run_configs(_lost_configs(tmp_path), store, measure, lambda event: None)
    assert called == [("cuda:0", 1), ("cuda:1", 1), ("cuda:0", 2), ("cuda:1", 2), ("cuda:1", 4)]
    by = {(r["device"], r["batch_size"]): r for r in rows}
    assert [by[("cuda:1", b)]["status"] for b in (1, 2, 4)] == ["ok", "ok", "ok"]
    lost = by[("cuda:0", 2)]
    assert lost["status"] == "failed"
    assert lost["error"] == ("GPU lost during measurement (NVML: GPU is lost) on cuda:0; later configurations "
                             "on that device are skipped")
    skipped = by[("cuda:0", 4)]
    assert skipped["status"] == "failed" and skipped["error"].startswith(
        "skipped: GPU lost during measurement (NVML: GPU is lost) on cuda:0")
    assert skipped["machine_id"] == lost["machine_id"]  # the lost row's machine columns, not asked again
    with Store(db) as store:
        stored = store.rows()
    assert len(stored) == 1 + 6 and stored.loc[0, "id"] == earlier and stored.loc[0, "model"] == "vovnet39"
    assert (stored["status"] == "failed").sum() == 2


@pytest.mark.parametrize("error, lost", [
    ("RuntimeError: CUDA error: unspecified launch failure", "CUDA error: unspecified launch failure"),
    ("RuntimeError: CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be ...",
     "CUDA error: an illegal memory access was encountered"),
    ("RuntimeError: CUDA error: device-side assert triggered", "CUDA error: device-side assert triggered"),
    ("out of memory at batch size 4 (OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB)", None),
    ("RuntimeError: shapes cannot be multiplied", None),
])
def test_a_sticky_cuda_error_in_a_failed_row_skips_that_device_an_oom_does_not(tmp_path, error, lost):
    from effkit.measurement.run import run_configs

    called = []

    def measure(config):  # what measure_config returns when torch raised inside the timed loop
        called.append((config.device, config.batch_size))
        if (config.device, config.batch_size) == ("cuda:0", 1):
            return _fake_row(config, status="failed", error=error)
        return _fake_row(config)

    rows = run_configs(_lost_configs(tmp_path), None, measure, lambda event: None)
    first = rows[0]
    if lost is None:
        assert len(called) == 6 and first["error"] == error
        assert all(r["status"] == "ok" for r in rows[1:])
    else:
        assert first["error"] == (f"GPU lost during measurement ({lost}) on cuda:0; later configurations on "
                                  "that device are skipped")
        assert ("cuda:0", 2) not in called and ("cuda:0", 4) not in called and len(called) == 4
        assert [r["status"] for r in rows if r["device"] == "cuda:0"] == ["failed"] * 3
        assert [r["status"] for r in rows if r["device"] == "cuda:1"] == ["ok"] * 3


def test_a_lost_gpu_raised_by_the_measurement_becomes_the_reason(tmp_path):
    from effkit.measurement.device_lost import GpuLostError
    from effkit.measurement.run import measure_one

    config = _lost_configs(tmp_path)[0]

    def measure(config):
        raise GpuLostError("cuda:0", "NVML: GPU is lost")

    row = measure_one(config, measure)
    assert row["status"] == "failed"
    assert row["error"] == "GPU lost during measurement (NVML: GPU is lost) on cuda:0"


def test_a_cpu_row_is_never_a_lost_gpu(tmp_path):
    from effkit.measurement.api import MeasureConfig
    from effkit.measurement.run import run_configs

    configs = [MeasureConfig("resnet18", device="cpu", batch_size=b, energy=False) for b in (1, 2)]
    called = []

    def measure(config):
        called.append(config.batch_size)
        return _fake_row(config, status="failed", error="RuntimeError: device-side assert triggered")

    rows = run_configs(configs, None, measure, lambda event: None)
    assert called == [1, 2] and rows[0]["error"] == "RuntimeError: device-side assert triggered"


@pytest.mark.parametrize("raised, lost", [
    (NVMLError(RESET_REQUIRED), "NVML: GPU requires a reset"),  # pynvml's words: "GPU requires restart"
    (NVMLError(GPU_IS_LOST), "NVML: GPU is lost"),
    (NVMLError(NOT_SUPPORTED), None),
])
def test_an_nvml_error_raised_by_the_measurement_is_judged_by_its_code(tmp_path, monkeypatch, raised, lost):
    from effkit.measurement.run import run_configs

    called = []

    def measure(config):
        called.append((config.device, config.batch_size))
        if (config.device, config.batch_size) == ("cuda:0", 1):
            raise raised
        return _fake_row(config)

    rows = run_configs(_lost_configs(tmp_path), None, measure, lambda event: None)
    if lost is None:
        assert rows[0]["error"] == "NVMLError_NotSupported: Not Supported" and len(called) == 6
        return
    assert rows[0]["error"] == f"GPU lost during measurement ({lost}) on cuda:0; later configurations on that " \
                               "device are skipped"
    assert [r["status"] for r in rows if r["device"] == "cuda:0"] == ["failed"] * 3 and len(called) == 4
    # the code decides, whatever the words: the same codes with text that names nothing
    monkeypatch.setattr(NVMLError, "__str__", lambda self: "Unknown")
    from effkit.measurement.device_lost import lost_cause

    assert lost_cause(type(raised)(raised.value)) == lost


@pytest.mark.parametrize("text, lost", [
    ("NVMLError_ResetRequired: GPU requires restart", "NVML: GPU requires a reset"),  # pynvml 12/13's wording
    ("NVMLError_GpuIsLost: GPU is lost", "NVML: GPU is lost"),
    ("NVMLError: NVML Error with code 16", "NVML: GPU requires a reset"),  # pynvml when the library has no name
    ("NVMLError: NVML Error with code 160", None),
    ("GPU lost during measurement (NVML: GPU requires a reset) on cuda:0", "NVML: GPU requires a reset"),
    ("NVMLError_NotSupported: Not Supported", None),
])
def test_a_failed_rows_text_names_an_nvml_lost_gpu(text, lost):
    from effkit.measurement.device_lost import lost_cause

    assert lost_cause(text) == lost


def test_the_lost_gpu_codes_and_words_are_pynvmls():
    import pynvml

    from effkit.measurement import device_lost
    from effkit.measurement.device_lost import lost_cause
    from effkit.measurement.failed import error_text

    assert (device_lost.NVML_ERROR_GPU_IS_LOST, device_lost.NVML_ERROR_RESET_REQUIRED) == (
        pynvml.NVML_ERROR_GPU_IS_LOST, pynvml.NVML_ERROR_RESET_REQUIRED)
    for cls, lost in ((pynvml.NVMLError_ResetRequired, "NVML: GPU requires a reset"),
                      (pynvml.NVMLError_GpuIsLost, "NVML: GPU is lost"), (pynvml.NVMLError_NotSupported, None)):
        e = cls()  # no driver needed: these codes' messages are pynvml's own table
        assert lost_cause(e) == lost and lost_cause(error_text(e)) == lost


# -- the one NVML error mapper -------------------------------------------------------------------------------


def _errors(device="cuda:1"):
    from effkit.measurement.energy.nvml.errors import NvmlErrors

    return NvmlErrors(fake_pynvml([], Clock()), device)


@pytest.mark.parametrize("code, cause", [(GPU_IS_LOST, "NVML: GPU is lost"),
                                         (RESET_REQUIRED, "NVML: GPU requires a reset")])
def test_the_mapper_turns_a_lost_board_into_a_failed_measurement(code, cause):
    from effkit.measurement.device_lost import GpuLostError

    errors = _errors()
    with pytest.raises(GpuLostError) as info:
        with errors.unavailable("NVML error while reading energy: {}"):
            raise NVMLError(code)
    assert (info.value.device, info.value.cause) == ("cuda:1", cause)
    assert isinstance(info.value.__cause__, NVMLError)
    with pytest.raises(GpuLostError):
        errors.answer(lambda: (_ for _ in ()).throw(NVMLError(code)))
    # context such as clocks is read with lost=False: the meter, not that read, reports the board
    assert errors.answer(lambda: (_ for _ in ()).throw(NVMLError(code)), lost=False) is None


def test_the_mapper_words_other_nvml_errors_as_the_caller_asks_and_leaves_the_rest_alone():
    from effkit.measurement.energy.nvml.errors import error_code

    errors = _errors()
    with pytest.raises(BackendUnavailableError) as info:
        with errors.unavailable("NVML error while reading energy: {}"):
            raise NVMLError(NO_PERMISSION)
    assert str(info.value) == "NVML error while reading energy: Insufficient Permissions"
    assert isinstance(info.value.__cause__, NVMLError_NoPermission)
    with pytest.raises(ValueError):  # not NVML's: not the mapper's business
        with errors.unavailable("{}"):
            raise ValueError("a bug")
    other = RuntimeError("another library's error")
    other.value = GPU_IS_LOST  # the same attribute, another class: caught only as the module's NVMLError
    with pytest.raises(RuntimeError):
        with errors.unavailable("{}"):
            raise other
    assert errors.answer(lambda: 42) == 42
    assert errors.answer(lambda: (_ for _ in ()).throw(NVMLError(NOT_SUPPORTED))) is None
    assert errors.answer(lambda: errors.no_such_function()) is None  # a binding without the function
    assert [errors.not_offered(NVMLError(c)) for c in (NOT_SUPPORTED, FUNCTION_NOT_FOUND, NO_PERMISSION)] == [
        True, True, False]
    assert error_code(NVMLError(RESET_REQUIRED)) == 16 and error_code(ValueError("x")) is None


@pytest.mark.parametrize("code, raised, message", [
    (NO_PERMISSION, BackendUnavailableError,
     "NVML could not start (Insufficient Permissions); is the NVIDIA driver loaded?"),
    (RESET_REQUIRED, "lost", "GPU lost during measurement (NVML: GPU requires a reset) on cuda:0"),
])
def test_nvml_failing_to_start_goes_through_the_mapper(code, raised, message):
    from effkit.measurement.device_lost import GpuLostError

    nv = fake_pynvml([Board("GPU-aaaa", lambda t: 1.0)], Clock(), init_error=code)
    with pytest.raises(GpuLostError if raised == "lost" else raised) as info:
        NvmlGpu(0, nvml=nv, device_uuid="GPU-aaaa")
    assert str(info.value) == message
    status = NvmlMeter(0, nvml=nv, device_uuid="GPU-aaaa").probe() if raised != "lost" else None
    assert status is None or (not status.available and status.reason == message)
