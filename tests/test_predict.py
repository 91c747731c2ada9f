"""Roofline prediction: op times worked out by hand, peaks from the device table's datasheet numbers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest
from torch import nn

import effkit
from effkit.errors import BadInputError
from effkit.prediction.api import predict_profile
from effkit.prediction.roofline import device_peaks, layer_kind, op_kind


def _toy_profile():
    """A conv, an activation, a tiny elementwise op and a view; batch 2."""
    ops = pd.DataFrame({
        "layer": ["conv", "act", "act", "act"],
        "call": [0, 0, 0, 0],
        "op": ["convolution", "relu_", "add", "view"],
        "flops": [2e9, 1e6, 10.0, 0.0],
        "mult_adds": [1e9, 0.0, 0.0, 0.0],
        "mac": [0, 0, 0, 0],
        "mac_bytes": [1e6, 8e6, 100.0, 0.0],
        "counted": [True, True, True, True],
    })
    return SimpleNamespace(ops=ops, input_shape=(2, 3, 8, 8), model_name="toy", dtype="float32")


def test_roofline_of_a_toy_profile_by_hand():
    # 10 TFLOP/s, 1000 GB/s, 5 us per kernel:
    #   conv: compute 2e9 / 1e13 = 200 us, memory 1e6 / 1e12 = 1 us     -> 200 + 5 = 205 us, compute-bound
    #   relu: compute 1e6 / 1e13 = 0.1 us, memory 8e6 / 1e12 = 8 us     ->   8 + 5 =  13 us, memory-bound
    #   add:  compute 1e-12 s, memory 1e-10 s, both < 5 us launch        ->  5.0001 us,      launch-bound
    #   view: moves nothing, launches nothing                            ->   0
    peaks = device_peaks(peak_tflops=10.0, bandwidth_gbs=1000.0, launch_overhead_us=5.0)
    pred = predict_profile(_toy_profile(), peaks, None)
    assert list(pred.ops["bound"]) == ["compute", "memory", "launch", ""]
    assert pred.ops["time_s"].tolist() == pytest.approx([205e-6, 13e-6, 5.0001e-6, 0.0])
    assert pred.latency_ms == pytest.approx(0.2230001)
    assert pred.fps == pytest.approx(2 / 0.2230001e-3)
    # per layer: conv 205 us (compute); act 18.0001 us, of which 13 us memory-bound -> memory
    lay = pred.layers.set_index("layer")
    assert lay.loc["conv", "time_ms"] == pytest.approx(0.205)
    assert lay.loc["act", "time_ms"] == pytest.approx(0.0180001)
    assert lay.loc["act", "bound"] == "memory"
    assert lay.loc["act", "kernels"] == 2
    assert pred.bound_share["compute"] == pytest.approx(205 / 223.0001)
    assert math.isnan(pred.energy_j_per_img)


def test_fused_execution_charges_fused_bytes_and_no_kernel_for_absorbed_ops():
    # The toy again, with a fused deployment's traffic: the relu runs as the conv's epilogue (it moves
    # nothing of its own, so it launches nothing); the conv's fused bytes are given as 2e6.
    # At 10 TFLOP/s, 1000 GB/s, 5 us per kernel:
    #   conv: compute 200 us, memory 2e6 / 1e12 = 2 us          -> 205 us
    #   relu: 0.1 us of compute, no bytes, no kernel              -> 0.1 us (compute-bound, no launch)
    #   add:  100 bytes, one kernel                               -> 5.0001 us
    prof = _toy_profile()
    prof.ops["mac_fused_bytes"] = [2e6, 0.0, 100.0, 0.0]
    peaks = device_peaks(peak_tflops=10.0, bandwidth_gbs=1000.0, launch_overhead_us=5.0)
    pred = predict_profile(prof, peaks, None, execution="fused")
    assert pred.ops["kernels"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert pred.ops["time_s"].tolist() == pytest.approx([205e-6, 0.1e-6, 5.0001e-6, 0.0])
    assert pred.summary()["execution"] == "fused"
    with pytest.raises(BadInputError, match="execution must be one of eager, fused"):
        predict_profile(prof, peaks, None, execution="lazy")


def test_roofline_of_a_real_conv():
    # Conv 1x1, 4 -> 8 channels, no bias, on 1x4x8x8, float32:
    #   flops = 2 * 8*8 * 4 * 8 = 4096; mac = 256 in + 512 out + 32 weights = 800 elements = 3200 bytes
    #   at 1 TFLOP/s and 1 GB/s, no launch cost: compute 4.096 ns, memory 3.2 us -> 3.2 us, memory-bound
    pred = effkit.predict(nn.Conv2d(4, 8, 1, bias=False), input_shape=(1, 4, 8, 8), peak_tflops=1.0,
                          bandwidth_gbs=1.0, launch_overhead_us=0.0)
    assert pred.latency_ms == pytest.approx(3.2e-3)
    assert pred.bound_share["memory"] == pytest.approx(1.0)


def test_peaks_per_op_kind_from_the_device_table():
    # H100 SXM datasheet numbers in effkit/data/device_specs.csv: FP32 66.9, TF32 494.7, FP16 989.4, 3350 GB/s
    fp32 = device_peaks("h100", dtype="float32")
    assert dict(fp32.tflops) == {"conv": 494.7, "matmul": 66.9, "vector": 66.9}
    assert fp32.bandwidth_gbs == 3350
    fp16 = device_peaks("H100 SXM", dtype="float16")
    assert dict(fp16.tflops) == {"conv": 989.4, "matmul": 989.4, "vector": 66.9}
    # no tensor cores: float32 convolutions at the FP32 peak
    assert dict(device_peaks("titan x pascal").tflops) == {"conv": 11.0, "matmul": 11.0, "vector": 11.0}
    assert dict(device_peaks("h200", peak_tflops=3.0).tflops) == {"conv": 3.0, "matmul": 3.0, "vector": 3.0}


def test_op_kinds():
    assert [op_kind(o) for o in ("convolution", "addmm", "mm", "relu_", "cat")] == [
        "conv", "matmul", "matmul", "vector", "vector"]
    assert [layer_kind(t) for t in ("Conv2d", "Linear", "BatchNorm2d")] == ["conv", "matmul", "vector"]


@pytest.mark.parametrize("kwargs, needle", [
    ({"device_spec": "no-such-gpu"}, "unknown device"),
    ({}, "no device to predict for"),
    ({"peak_tflops": -1.0, "bandwidth_gbs": 1.0}, "peak_tflops must be a positive number"),
    ({"peak_tflops": 1.0, "bandwidth_gbs": 1.0, "launch_overhead_us": -2.0}, "launch_overhead_us"),
])
def test_bad_devices(kwargs, needle):
    with pytest.raises(BadInputError, match=needle):
        effkit.predict(nn.Conv2d(4, 8, 1), input_shape=(1, 4, 8, 8), **kwargs)
