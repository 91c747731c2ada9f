"""The paper's variants in the zoo: OSA versions of CIFAR DenseNet-40 and VoVNet-27-slim with a 1x1 bottleneck.

Every expected number is computed here by hand from the layer shapes (parameter sums, the paper's
equation (1) for MAC), independently of the model code; the paper's own figures are checked for direction.
"""

from __future__ import annotations

import math

import pytest
import torch

from effkit import create_model, profile
from effkit.errors import BadInputError
from effkit.models.cifar import CifarOSAModule

# ------------------------------------------------------------------------------------- hand computations


def bn(ch: int) -> int:
    return 2 * ch  # weight and bias (running stats are buffers, not params)


def osa_module_params(in_ch: int, ch: int, layers: int, out_ch: int) -> int:
    """BN-ReLU-3x3 (in->ch), then (layers-1) x BN-ReLU-3x3 (ch->ch), then BN-ReLU-1x1 (in+layers*ch -> out)."""
    cat = in_ch + layers * ch
    return (bn(in_ch) + 9 * in_ch * ch) + (layers - 1) * (bn(ch) + 9 * ch * ch) + bn(cat) + cat * out_ch


def osa40_params(layers: int, ch: int) -> int:
    """Stem 3->16, OSA modules to 160/304/448, two BN-ReLU-1x1 transitions keeping width, BN head, linear to 10."""
    widths = [16, 160, 304, 448]
    total = 9 * 3 * 16
    for i in range(3):
        total += osa_module_params(widths[i], ch, layers, widths[i + 1])
    total += sum(bn(w) + w * w for w in (160, 304))
    return total + bn(448) + 448 * 10 + 10


def eq1(hw: int, ci: int, co: int, k: int) -> int:
    """The paper's equation (1): MAC = hw(ci + co) + k^2 ci co (stride-1, same-padded conv)."""
    return hw * (ci + co) + k * k * ci * co


def osa40_paper_mac(layers: int, ch: int) -> int:
    """Equation (1) summed over every conv (and the linear layer) of an OSA DenseNet-40 at 32x32."""
    total = eq1(32 * 32, 3, 16, 3)  # stem
    widths = [16, 160, 304, 448]
    for i, side in enumerate((32, 16, 8)):
        hw = side * side
        total += eq1(hw, widths[i], ch, 3) + (layers - 1) * eq1(hw, ch, ch, 3)
        total += eq1(hw, widths[i] + layers * ch, widths[i + 1], 1)
        if i < 2:
            total += eq1(hw, widths[i + 1], widths[i + 1], 1)  # transition conv, before its 2x2 pool
    return total + (448 + 10 + 448 * 10 + 10)  # linear: read 448, write 10, read 448x10 weights and 10 biases


# VoVNet-27-slim (reference code): stage input widths and 3x3 widths, feature-map side at 224x224.
SLIM_STAGES = [(128, 64, 56), (128, 80, 28), (256, 96, 14), (384, 112, 7)]
SLIM_PARAMS = 3_525_736  # the reference implementation's count (tests/test_models.py)


def bottleneck_param_delta() -> int:
    """Params added by the 1x1 bottlenecks minus params the thinner 3x3 convs save, over 5 layers per block."""
    delta = 0
    for in_ch, ch, _ in SLIM_STAGES:
        for ci in [in_ch] + [ch] * 4:
            half = ci // 2
            plain = 9 * ci * ch
            with_bottleneck = ci * half + bn(half) + 9 * half * ch
            delta += with_bottleneck - plain
    return delta


def bottleneck_mult_add_delta() -> int:
    delta = 0
    for in_ch, ch, side in SLIM_STAGES:
        for ci in [in_ch] + [ch] * 4:
            half = ci // 2
            delta += side * side * (ci * half + 9 * half * ch - 9 * ci * ch)
    return delta


def bottleneck_extra_activations() -> int:
    # Each bottleneck writes a conv output and a BN output of ci/2 channels (its ReLU works in place).
    return 2 * sum(side * side * (in_ch // 2 + 4 * (ch // 2)) for in_ch, ch, side in SLIM_STAGES)


# ------------------------------------------------------------------------------------------------- OSA CIFAR


def test_one_osa_cifar_module_params_by_hand():
    m = CifarOSAModule(16, 12, 12, 160)
    # 32 + 1728 (first layer) + 11 * (24 + 1296) + 320 + 160 * 160 (aggregation)
    assert osa_module_params(16, 12, 12, 160) == 42_200
    assert sum(p.numel() for p in m.parameters()) == 42_200
    m5 = CifarOSAModule(160, 43, 5, 304)
    assert sum(p.numel() for p in m5.parameters()) == osa_module_params(160, 43, 5, 304)


@pytest.mark.parametrize("name, layers, ch", [("osa40_cifar_12", 12, 12), ("osa40_cifar_5x43", 5, 43)])
def test_osa_cifar_params_and_paper_mac_by_hand(name, layers, ch):
    p = profile(name)
    assert p.input_shape == (1, 3, 32, 32)
    assert p.totals.params == osa40_params(layers, ch)
    assert p.totals.paper_mac == osa40_paper_mac(layers, ch)
    dense = profile("densenet40_cifar").totals
    # The paper: OSA lowers MAC from 3.7M (DenseNet-40) to 2.5M at similar params and computation.
    assert p.totals.paper_mac < 0.75 * dense.paper_mac
    assert p.totals.params < dense.params and p.totals.flops < dense.flops


def test_osa_cifar_5x43_is_closest_to_densenet40_and_the_papers_mac():
    dense = profile("densenet40_cifar").totals
    t = profile("osa40_cifar_5x43").totals
    # 0.90M params and 95 % of the multiply-adds of DenseNet-40's 1.02M; paper MAC within 6 % of 2.5M.
    assert t.params == pytest.approx(dense.params, rel=0.15)
    assert t.mult_adds == pytest.approx(dense.mult_adds, rel=0.10)
    assert t.paper_mac / 1e6 == pytest.approx(2.5, rel=0.06)


def test_osa_intermediate_layers_sit_on_the_mac_lower_bound():
    # After the first layer a module's 3x3 convs have ci = co = 12, where MAC equals mac_min (the paper's bound, met at ci = co).
    layers = profile("osa40_cifar_12").layers
    inner = layers[layers["name"].str.fullmatch(r"features\.block\d\.layers\.([1-9]|1[01])\.conv")]
    assert len(inner) == 3 * 11
    assert inner["mac_ratio"].to_numpy() == pytest.approx(1.0)
    # A dense layer's input grows by 12 channels per layer while it still writes 12: its MAC climbs away
    # from the bound. Last layer of block 1: ci = 148, co = 12 at 32x32.
    dense = profile("densenet40_cifar").layers
    block1 = dense[dense["name"].str.fullmatch(r"features\.block1\.denselayer\d+\.conv")]
    assert block1["mac_ratio"].is_monotonic_increasing
    hw, ci, co = 32 * 32, 148, 12
    flops_b = 9 * hw * ci * co
    mac_min = 2 * math.sqrt(hw * flops_b / 9) + flops_b / hw
    assert block1["mac_ratio"].iloc[-1] == pytest.approx(eq1(hw, ci, co, 3) / mac_min)
    assert block1["mac_ratio"].iloc[-1] > 1.7


@pytest.mark.parametrize("name", ["osa40_cifar_12", "osa40_cifar_5x43"])
def test_osa_cifar_forward_on_a_tiny_input(name):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 8, 8))  # 8 -> 4 -> 2 through the two transitions' pools
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_osa_cifar_module_bad_config():
    with pytest.raises(BadInputError, match="layer_ch"):
        CifarOSAModule(16, 0, 12, 160)
    assert create_model("osa40_cifar_5x43", num_classes=100).classifier.out_features == 100


# ------------------------------------------------------------------------------------------ 1x1 bottleneck


def test_bottleneck_params_and_mult_adds_by_hand():
    slim = profile("vovnet27_slim").totals
    b = profile("vovnet27_slim_bottleneck").totals
    assert b.params == SLIM_PARAMS + bottleneck_param_delta()
    assert b.mult_adds == slim.mult_adds + bottleneck_mult_add_delta()
    assert b.activations == slim.activations + bottleneck_extra_activations()


def test_bottleneck_has_fewer_params_and_flops_but_more_activations_and_mac():
    slim = profile("vovnet27_slim").totals
    b = profile("vovnet27_slim_bottleneck").totals
    # Paper Table 3 (whole DSOD300 detector): 5.9M -> 4.8M params (x0.81), 5.6 -> 4.6 GFLOPs (x0.82).
    # Here the backbone alone: 3.53M -> 2.75M (x0.78), 4.37 -> 3.44 GFLOPs (x0.79). The same direction
    # and a similar ratio: each 3x3 conv now reads half the channels, so it costs about half, and the
    # 1x1 in front adds back a fraction; stem, aggregation convs and classifier (the detector's head, in
    # the paper) are untouched and keep the ratio well above 0.5.
    assert b.params < slim.params and b.flops < slim.flops
    params_ratio = b.params / slim.params
    flops_ratio = b.flops / slim.flops
    assert 0.70 < params_ratio < 0.85 and 0.70 < flops_ratio < 0.85
    assert abs(params_ratio - 4.8 / 5.9) < 0.05 and abs(flops_ratio - 4.6 / 5.6) < 0.05
    # Yet more layers write more features: the paper's memory goes 825 -> 895 MB and time 14 -> 18 ms.
    assert b.activations > slim.activations and b.mac > slim.mac


def test_bottleneck_forward_on_a_tiny_input():
    model = create_model("vovnet27_slim_bottleneck", num_classes=7).eval()
    first = model.stage2.OSA2_1.layers[0]
    assert (first[0].in_channels, first[0].out_channels, first[0].kernel_size) == (128, 64, (1, 1))
    assert (first[3].in_channels, first[3].out_channels, first[3].kernel_size) == (64, 64, (3, 3))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 7)
