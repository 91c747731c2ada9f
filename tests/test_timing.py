"""Timing, memory and the measure() API on the CPU, against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from effkit.errors import BackendUnavailableError, BadInputError
from effkit.measurement import memory
from effkit.measurement.api import MeasureConfig, measure, measure_config, measure_layers
from effkit.devices import resolve_device
from effkit.measurement.timing import Runner, cudnn_benchmark, percentile, prepare, summarize, time_step, warm_up

FAST = dict(device="cpu", warmup_s=0.0, warmup_iters=1, min_iters=5, min_time_s=0.0, energy=False)


def conv_only() -> nn.Module:
    # One 3x3 conv, 3 -> 8 channels, no bias: at N x 3 x 8 x 8 with padding 1 the output is N x 8 x 8 x 8,
    # so mult_adds = N * (8*8 outputs * 8 channels) * (3*3*3) = N * 13824, flops = 2 * mult_adds.
    return nn.Conv2d(3, 8, 3, padding=1, bias=False)


class Picky(nn.Module):
    """Fails at one batch size, the way a model can fail for one configuration in a sweep."""

    def __init__(self, bad_batch: int = 2, exc=RuntimeError("boom at batch 2")):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bad_batch = bad_batch
        self.exc = exc

    def forward(self, x):
        if x.shape[0] == self.bad_batch and x.device.type != "meta":
            raise self.exc
        return self.conv(x)


def test_summarize_by_hand():
    r = summarize([4.0, 1.0, 3.0, 2.0, 5.0], batch_size=2)
    assert r.latency_ms == 3.0
    assert r.latency_min_ms == 1.0
    # linear interpolation between ranks of [1, 2, 3, 4, 5]: p90 at rank 3.6, p99 at 3.96, p75 - p25 = 4 - 2
    assert r.latency_p90_ms == pytest.approx(4.6)
    assert r.latency_p99_ms == pytest.approx(4.96)
    assert r.latency_iqr_ms == pytest.approx(2.0)
    # no span given: a loop without gaps, 5 iterations x 2 images in 15 ms
    assert r.fps == pytest.approx(10 / 0.015)
    assert r.iterations == 5
    assert r.flops_per_s(6e6) == pytest.approx(6e6 * 5 / 0.015)
    # with gaps: the same 5 iterations spread over 30 ms -> half the throughput, same latencies
    g = summarize([4.0, 1.0, 3.0, 2.0, 5.0], batch_size=2, span_s=0.030)
    assert g.fps == pytest.approx(10 / 0.030) and g.latency_ms == 3.0
    assert g.flops_per_s(6e6) == pytest.approx(6e6 * 5 / 0.030)


class FakeTimeline:
    """A fake CUDA stream: a clock in seconds, events that record it, and a host gap before every record."""

    def __init__(self, gap_ms: float):
        self.t = 0.0
        self.gap_s = gap_ms / 1000.0

    def clock(self) -> float:
        return self.t

    def event(self):
        line = self

        class Event:
            def record(self):
                line.t += line.gap_s  # host-side work between kernels (launch, Python, allocator)
                self.at = line.t

            def elapsed_time(self, other) -> float:
                return (other.at - self.at) * 1000.0

            def synchronize(self):
                pass

        return Event()


def test_gpu_fps_is_throughput_over_chunk_span_not_batch_over_median():
    from effkit.measurement import timing

    line = FakeTimeline(gap_ms=0.5)
    lat = iter([10.0] * 12 + [50.0] * 4 + [10.0] * 12 + [50.0] * 4)  # ms of device work per iteration

    def step():
        line.t += next(lat) / 1000.0

    r = timing.time_step(step, torch.device("cuda", 0), 8, min_iters=32, min_time_s=0.0,
                         clock=line.clock, event=line.event)
    assert r.iterations == 32 and r.timer == "cuda_event"
    # per iteration: start event, work, end event (0.5 ms gap before it): 10.5 ms or 50.5 ms
    assert r.latency_ms == pytest.approx(10.5)
    # per chunk of 16, first start to last end: 12*10 + 4*50 ms of work + 31 gaps after the first record
    chunk_s = (12 * 10 + 4 * 50 + 31 * 0.5) / 1000.0
    assert r.span_s == pytest.approx(2 * chunk_s)
    assert r.fps == pytest.approx(32 * 8 / (2 * chunk_s))  # 256 / 0.671 s = 381.5 img/s...
    assert r.fps < 0.51 * 8 / (r.latency_ms / 1000.0)  # ...about half of batch / median (761.9) with this tail
    assert r.flops_per_s(1e9) == pytest.approx(1e9 * 32 / (2 * chunk_s))


def test_cpu_fps_is_throughput_over_span_with_an_injected_clock():
    from effkit.measurement import timing

    t = {"now": 0.0}
    lat = iter([0.010, 0.010, 0.010, 0.070])

    def step():
        t["now"] += next(lat)

    r = timing.time_step(step, torch.device("cpu"), 2, min_iters=4, min_time_s=0.0, clock=lambda: t["now"])
    assert r.iterations == 4
    assert r.latency_ms == pytest.approx(10.0)
    assert r.span_s == pytest.approx(0.1)
    assert r.fps == pytest.approx(8 / 0.1)  # 80 img/s; batch / median would say 200


def test_percentile_matches_statistics_quantiles():
    import statistics

    data = sorted([0.3, 0.9, 1.7, 2.2, 2.4, 3.1, 8.0])
    # statistics.quantiles(method="inclusive") uses the same rank interpolation
    q = statistics.quantiles(data, n=4, method="inclusive")
    assert percentile(data, 25) == pytest.approx(q[0])
    assert percentile(data, 50) == pytest.approx(q[1])
    assert percentile(data, 75) == pytest.approx(q[2])


def test_time_step_sane_stats():
    dev = resolve_device("cpu")
    model, x = prepare(conv_only(), (2, 3, 8, 8), dev)
    runner = Runner(model, x, "float32")
    warm_up(runner, runner.sync, warmup_s=0.0, warmup_iters=1)
    r = time_step(runner, dev, 2, min_iters=7, min_time_s=0.0)
    assert r.iterations >= 7
    assert r.latency_min_ms <= r.latency_ms <= r.latency_p99_ms
    assert r.latency_p90_ms <= r.latency_p99_ms
    assert r.fps == pytest.approx(r.iterations * 2 / r.span_s)
    assert r.span_s >= sum(r.samples_ms) / 1000.0  # the span holds every iteration and the gaps between
    assert r.timer == "perf_counter"


def test_measure_flops_per_s_is_hand_flops_times_throughput():
    df = measure(conv_only(), input_shape=(2, 3, 8, 8), batch_sizes=None, **FAST)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["status"] == "ok"
    assert row["batch_size"] == 2 and row["input_shape"] == "2x3x8x8"
    assert row["mult_adds"] == 2 * 13824
    assert row["flops"] == 2 * 2 * 13824
    assert row["fps"] == pytest.approx(row["iterations"] * 2 / row["timed_span_s"])
    assert row["flops_per_s"] == pytest.approx(55296 * row["iterations"] / row["timed_span_s"])
    assert row["weights_bytes"] == 8 * 3 * 3 * 3 * 4
    # analytic activation footprint: the conv's output, 2*8*8*8 float32 elements
    assert row["activation_bytes"] == 2 * 8 * 8 * 8 * 4
    assert row["energy_status"] == "off"
    assert row["energy_j_per_img"] is None or math.isnan(row["energy_j_per_img"])
    assert row["family"] == "other" and row["model"] == "Conv2d"
    assert row["timestamp"].endswith("+00:00")


def test_batch_sweep_failed_configuration_recorded_and_sweep_goes_on():
    df = measure(Picky(), input_size=8, batch_sizes=[1, 2, 3], **FAST)
    assert list(df["batch_size"]) == [1, 2, 3]
    assert list(df["status"]) == ["ok", "failed", "ok"]
    assert "boom at batch 2" in df.iloc[1]["error"]
    assert df.iloc[1]["latency_ms"] is None or math.isnan(df.iloc[1]["latency_ms"])
    assert df.iloc[2]["latency_ms"] > 0


def test_out_of_memory_recorded_with_batch_size():
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    df = measure(Picky(bad_batch=4, exc=oom), input_size=8, batch_sizes=[1, 4], **FAST)
    assert list(df["status"]) == ["ok", "failed"]
    assert "out of memory at batch size 4" in df.iloc[1]["error"]


def test_user_model_left_where_it_was():
    m = conv_only()
    w = m.weight.detach().clone()
    measure(m, input_size=8, **FAST)
    assert m.weight.device.type == "cpu" and torch.equal(m.weight, w)


def test_bad_settings_raise():
    with pytest.raises(BadInputError):
        measure(conv_only(), input_size=8, batch_sizes=[0], **FAST)
    with pytest.raises(BadInputError):
        measure(conv_only(), input_size=8, dtype="int8", **FAST)
    with pytest.raises(BadInputError):
        measure(conv_only(), input_size=8, cuda_graph=True, **FAST)
    with pytest.raises(BadInputError):
        resolve_device("tpu")
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(BackendUnavailableError):
            resolve_device("cuda")
        with pytest.raises(BackendUnavailableError):
            resolve_device("cuda:1")


def test_bfloat16_autocast_runs_on_cpu():
    df = measure(conv_only(), input_size=8, dtype="bfloat16", **FAST)
    row = df.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["activation_bytes"] == 8 * 8 * 8 * 2  # element size of bfloat16


def test_channels_last_runs():
    df = measure(conv_only(), input_size=8, channels_last=True, **FAST)
    assert df.iloc[0]["status"] == "ok"
    assert bool(df.iloc[0]["channels_last"]) is True


def test_cudnn_benchmark_restored():
    old = torch.backends.cudnn.benchmark
    with cudnn_benchmark(not old):
        assert torch.backends.cudnn.benchmark is (not old)
    assert torch.backends.cudnn.benchmark is old


def test_config_key_stable_and_distinct():
    a = MeasureConfig("vovnet39", batch_size=8, input_shape="8,3,224,224")
    b = MeasureConfig("vovnet39", batch_size=8, input_shape=(8, 3, 224, 224))
    c = MeasureConfig("vovnet39", batch_size=8, input_shape=(8, 3, 224, 224), dtype="float16")
    assert a.key() == b.key()
    assert a.key() != c.key()
    assert a.input_shape == (8, 3, 224, 224)


def test_measure_config_rejects_bad_settings():
    with pytest.raises(BadInputError):
        measure_config(MeasureConfig("anything", batch_size=0))
    with pytest.raises(BadInputError):
        measure_config(MeasureConfig("anything", input_size=8, min_iters=0))


def test_measure_config_row():
    # measure_config takes names only; an importable factory avoids depending on the zoo.
    cfg = MeasureConfig("torch.nn:Identity", input_shape=(1, 3, 4, 4), **FAST)
    row = measure_config(cfg)
    assert row["config_key"] == cfg.key()
    assert row["batch_size"] == 1


def test_measure_layers_joins_analysis():
    model = nn.Sequential(conv_only(), nn.ReLU())
    df = measure_layers(model, (1, 3, 8, 8), device="cpu", iters=3, warmup_iters=1)
    conv = df[df["type"] == "Conv2d"].iloc[0]
    assert conv["flops"] == 2 * 13824
    assert conv["latency_ms"] > 0
    assert conv["flops_per_s"] == pytest.approx(conv["flops"] / (conv["latency_ms"] / 1000))
    assert df["time_share"].sum() == pytest.approx(1.0)
    assert set(df["name"]) == {"0", "1"}


def test_per_layer_in_measure_row():
    df = measure(nn.Sequential(conv_only(), nn.ReLU()), input_size=8, per_layer=True, **FAST)
    import io

    import pandas as pd

    layers = pd.read_json(io.StringIO(df.iloc[0]["layers_json"]), orient="records")
    assert list(layers["type"]) == ["Conv2d", "ReLU"]


def test_memory_helpers_by_hand():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
    # conv weight 216 floats; BN weight, bias, running mean, running var (8 each) and num_batches_tracked (int64)
    assert memory.weights_bytes(m) == 216 * 4 + 4 * 8 * 4 + 8
    assert memory.activation_bytes(100, "float16") == 200
    assert memory.activation_bytes(100, "float32") == 400
    res = memory.measure_memory(lambda: torch.zeros(1 << 20).add_(1), torch.device("cpu"), m, activations=10)
    assert res.weights_bytes == memory.weights_bytes(m)
    assert res.activation_bytes == 40
    assert res.peak_reserved_bytes is None
    if memory.RssPeak.available():
        assert res.peak_memory_bytes is not None
        assert "RSS" in res.method


def test_selfcheck_needs_cuda():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "selfcheck.py"
    spec = importlib.util.spec_from_file_location("selfcheck", path)
    selfcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(selfcheck)
    crosscheck = selfcheck.crosscheck

    with pytest.raises((BackendUnavailableError, BadInputError)):
        crosscheck("resnet50", device="cpu")


def test_failed_row_says_energy_was_not_measured():
    df = measure(Picky(bad_batch=1), input_size=8, batch_sizes=[1], **{**FAST, "energy": True, "idle_s": 0.0,
                                                                      "energy_window_s": 0.0})
    row = df.iloc[0]
    assert row["status"] == "failed"
    assert row["energy_j_per_img"] is None or math.isnan(row["energy_j_per_img"])
    assert row["energy_status"].startswith(("not measured", "unavailable"))


def test_zoo_model_row_has_family_and_published_params():
    df = measure("resnet18", input_size=32, **FAST)
    row = df.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["family"] == "resnet"
    assert row["params"] == 11_689_512  # torchvision's published ResNet-18 parameter count
    assert row["input_shape"] == "1x3x32x32"


def test_batch_size_defaults_to_n_of_input_shape_and_must_agree(tmp_path):
    from effkit.measurement.api import compare

    # no batch_sizes at all: the N of input_shape (3 here), not 1; the hand count scales with it
    df = measure(conv_only(), input_shape=(3, 3, 8, 8), **FAST)
    assert list(df["batch_size"]) == [3] and df.iloc[0]["mult_adds"] == 3 * 13824
    # no shape either: batch 1
    assert list(measure(conv_only(), input_size=8, **FAST)["batch_size"]) == [1]
    db = tmp_path / "r.db"
    with pytest.raises(BadInputError, match="disagrees"):
        measure(conv_only(), input_shape=(4, 3, 8, 8), batch_sizes=[1, 4], db=db, **FAST)
    with pytest.raises(BadInputError, match="disagrees"):
        compare(["resnet18"], input_shape="4,3,32,32", batch_sizes=2, db=db, **FAST)
    assert not db.exists()  # refused before the store was opened


def test_iteration_bounds_one_message_per_setting():
    def message(**kw):
        with pytest.raises(BadInputError) as e:
            measure(conv_only(), input_size=8, **{**FAST, **kw})
        return str(e.value)

    assert message(min_iters=0) == message(min_iters=-1).replace("-1", "0")
    assert "min_iters" in message(min_iters=0) and ">= 1" in message(min_iters=0)
    assert message(warmup_iters=-1) == message(warmup_iters=-5).replace("-5", "-1")


def test_bad_weights_refused_before_anything_is_stored(tmp_path):
    from effkit.errors import ModelLoadError
    from effkit.measurement.api import check_weights

    db = tmp_path / "r.db"
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ModelLoadError, match="could not read weights file"):
        measure(conv_only(), input_size=8, batch_sizes=[1, 2], weights=str(garbage), db=db, **FAST)
    # a real checkpoint of another shape: the key/shape check runs up front too
    other = tmp_path / "other.pt"
    torch.save(nn.Conv2d(3, 4, 3, padding=1, bias=False).state_dict(), other)
    with pytest.raises(ModelLoadError):
        measure(conv_only(), input_size=8, weights=str(other), db=db, **FAST)
    assert not db.exists()

    # a fitting checkpoint is accepted and the check leaves the caller's module alone
    m = conv_only()
    good = tmp_path / "good.pt"
    ref = conv_only()
    torch.save(ref.state_dict(), good)
    check_weights(m, good)
    assert m.weight.device.type == "cpu" and not torch.equal(m.weight, ref.weight)
    df = measure(m, input_size=8, weights=str(good), db=db, **FAST)
    assert list(df["status"]) == ["ok"]


class FakeCudaMemory:
    """torch.cuda's peak-memory counters for a board on which eager passes allocate and replays do not."""

    def __init__(self, monkeypatch, resident: int):
        self.resident = resident  # weights + static input/output
        self.peak = resident
        for name, fn in (("synchronize", lambda *a: None), ("reset_peak_memory_stats", self.reset),
                         ("max_memory_allocated", lambda *a: self.peak),
                         ("max_memory_reserved", lambda *a: self.peak + 2 * MIB)):
            monkeypatch.setattr(torch.cuda, name, fn)

    def reset(self, *a):
        self.peak = self.resident

    def allocate(self, n: int):
        self.peak = max(self.peak, self.resident + n)


MIB = 2 ** 20


class FakeGraphRunner:
    def __init__(self, mem: FakeCudaMemory, activations: int):
        self.mem, self.activations, self.graph = mem, activations, None

    def eager(self):
        self.mem.allocate(self.activations)

    def capture(self):
        self.eager()  # warm-up passes and the capture itself allocate the activations once
        self.graph = object()

    def __call__(self):
        if self.graph is None:
            self.eager()  # a replay allocates nothing


def test_cuda_graph_peak_is_not_the_replays_weights_only_figure(monkeypatch):
    # ResNet-50 bs32 on an H100, as reported: 98 MiB resident (weights, static input/output), 468 MiB eager peak
    mem = FakeCudaMemory(monkeypatch, resident=98 * MIB)
    model = nn.Conv2d(3, 8, 3)
    dev = torch.device("cuda", 0)
    runner = FakeGraphRunner(mem, activations=370 * MIB)
    capture_peak = memory.peak_during(runner.capture, dev)
    assert capture_peak == (468 * MIB, 470 * MIB)
    r = memory.measure_memory(runner, dev, model, capture_peak=capture_peak)
    assert r.peak_memory_bytes == 468 * MIB and r.method == memory.CUDA_GRAPH_CAPTURE
    # without the capture's peak: eager passes of the same model, never replays
    r = memory.measure_memory(runner, dev, model)
    assert r.peak_memory_bytes == 468 * MIB and r.method == memory.CUDA_GRAPH_EAGER
    assert "graph replay allocates nothing" in r.method
    # an eager runner is measured on its own passes, as before
    eager = FakeGraphRunner(mem, activations=370 * MIB)
    r = memory.measure_memory(eager, dev, model)
    assert r.peak_memory_bytes == 468 * MIB and r.method == memory.CUDA_EAGER


def test_tf32_context_sets_and_restores_every_precision_setting():
    from effkit.measurement.machine import PRECISION_FIELDS, fingerprint, precision_settings, tf32

    b = torch.backends
    before = precision_settings()
    with tf32(True):
        assert b.cudnn.allow_tf32 is True and b.cuda.matmul.allow_tf32 is True
        assert torch.get_float32_matmul_precision() == "high"
    assert precision_settings() == before
    with pytest.raises(RuntimeError), tf32(False):
        assert b.cudnn.allow_tf32 is False and b.cuda.matmul.allow_tf32 is False
        assert torch.get_float32_matmul_precision() == "highest"
        raise RuntimeError("a failed measurement restores them too")
    assert precision_settings() == before
    with tf32(None):
        assert precision_settings() == before
    fp = fingerprint("cpu")
    assert {k: fp[k] for k in PRECISION_FIELDS} == before
    assert before["cudnn_allow_tf32"] == torch.backends.cudnn.allow_tf32  # read from torch, not assumed


def test_tf32_context_restores_per_backend_settings_exactly():
    from effkit.measurement.machine import tf32

    conv = getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None)
    if conv is None:
        pytest.skip("this torch has no per-backend fp32_precision settings")
    rnn = torch.backends.cudnn.rnn.fp32_precision
    with tf32(True):  # the outer block puts torch back as this test found it (legacy reads included)
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        with tf32(False):
            assert torch.backends.cudnn.conv.fp32_precision != "tf32"
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
        assert torch.backends.cudnn.rnn.fp32_precision == "tf32"  # as the outer block set it
    assert torch.backends.cudnn.rnn.fp32_precision == rnn


def test_settings_object_and_keywords_merge_keywords_win():
    from effkit.measurement.settings import MeasureSettings

    base = MeasureSettings(warmup_s=0.25, min_iters=3)
    merged = MeasureSettings.merged(base, min_iters=5)
    assert (merged.warmup_s, merged.min_iters) == (0.25, 5)
    assert MeasureSettings.merged() == MeasureSettings()


def test_measure_refuses_a_keyword_that_is_not_a_setting():
    with pytest.raises(TypeError, match="unexpected keyword argument 'warmup'"):
        measure("resnet18", warmup=1.0)


def test_measure_takes_a_settings_object(tmp_path):
    from effkit.measurement.settings import MeasureSettings

    fast = MeasureSettings(device="cpu", warmup_s=0, warmup_iters=1, min_iters=2, min_time_s=0, energy=False,
                           idle_s=0)
    df = measure(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), input_size=8, settings=fast, min_iters=3)
    assert df["status"].tolist() == ["ok"]
    assert df["iterations"].iloc[0] >= 3 and df["warmup_iters"].iloc[0] == 1
