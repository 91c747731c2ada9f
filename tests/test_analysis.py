"""Hand-computed costs of single ops and small models (each expected value is worked out in a comment)."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from effkit.analysis.formulas import mac_min, paper_mac, register_formula
from effkit.analysis.profile import NUMERIC_COLUMNS, UncountedOpsWarning, profile
from effkit.errors import BadInputError


def _one(model, shape, **kw):
    """The profile of ``model`` and its single non-empty row."""
    p = profile(model, shape, **kw)
    rows = p.layers[(p.layers["mac"] > 0) | (p.layers["params"] > 0)]
    return p, rows


# (module, input shape, params, mult_adds, flops, mac), worked out by hand.
CASES = [
    # stride 1, same padding: the paper's formula hw(ci+co) + k^2 ci co = 100*12 + 9*32 = 1488
    (nn.Conv2d(4, 8, 3, padding=1, bias=False), (1, 4, 10, 10), 288, 100 * 8 * 36, 2 * 28800, 1488),
    # stride 2: output 5x5; reads 400 + 288 weights, writes 200; 25*8*36 multiply-adds
    (nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False), (1, 4, 10, 10), 288, 7200, 14400, 888),
    # no padding: output 8x8 -> writes 512; 64*8*36 = 18432 multiply-adds
    (nn.Conv2d(4, 8, 3, bias=False), (1, 4, 10, 10), 288, 18432, 36864, 400 + 512 + 288),
    # bias adds co to params and to the reads (not to flops, as PyTorch's FlopCounterMode)
    (nn.Conv2d(4, 8, 3, padding=1), (1, 4, 10, 10), 296, 28800, 57600, 1488 + 8),
    # groups=2: weight 8x2x3x3 = 144; each output takes 2*9 multiply-adds: 800*18
    (nn.Conv2d(4, 8, 3, padding=1, groups=2, bias=False), (1, 4, 10, 10), 144, 14400, 28800,
     400 + 800 + 144),
    # depthwise: weight 4x1x3x3 = 36; 400 outputs x 9
    (nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), (1, 4, 10, 10), 36, 3600, 7200, 400 + 400 + 36),
    # batch 2 doubles activations but not weights: 2*100*12 + 288
    (nn.Conv2d(4, 8, 3, padding=1, bias=False), (2, 4, 10, 10), 288, 57600, 115200, 2400 + 288),
    # linear 5->3 on batch 2: reads x 10, W 15, bias 3; writes 6; 2*5*3 multiply-adds
    (nn.Linear(5, 3), (2, 5), 18, 30, 60, 34),
    # inference BN on 1x3x4x4: reads x 48 + 4 vectors of 3, writes 48; multiply + add per element
    (nn.BatchNorm2d(3).eval(), (1, 3, 4, 4), 6, 0, 96, 108),
    # max-pool 2x2/2 on 1x2x4x4: reads 32, writes 8; 4 compares per output
    (nn.MaxPool2d(2), (1, 2, 4, 4), 0, 0, 32, 40),
    (nn.AvgPool2d(2), (1, 2, 4, 4), 0, 0, 32, 40),
    # adaptive average pool to 1x1: reads 32, writes 2; one add per input element
    (nn.AdaptiveAvgPool2d(1), (1, 2, 4, 4), 0, 0, 32, 34),
    # ReLU (not in place): reads 32, writes 32, one flop per element
    (nn.ReLU(), (1, 2, 4, 4), 0, 0, 32, 64),
]


@pytest.mark.parametrize("module, shape, params, mult_adds, flops, mac", CASES,
                         ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)])
def test_single_module_costs(module, shape, params, mult_adds, flops, mac):
    p, rows = _one(module, shape)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["params"], row["mult_adds"], row["flops"], row["mac"]) == (params, mult_adds, flops, mac)
    assert row["mac_bytes"] == 4 * mac  # float32


def test_paper_formula_exact_at_stride_one():
    for ci, co, k, hw in [(16, 12, 3, 32), (64, 64, 1, 7), (3, 16, 3, 32)]:
        conv = nn.Conv2d(ci, co, k, padding=k // 2, bias=False)
        p, rows = _one(conv, (1, ci, hw, hw))
        assert rows.iloc[0]["mac"] == paper_mac(k * k, hw, hw, ci, co) == hw * hw * (ci + co) + k * k * ci * co
        assert p.totals.paper_mac == rows.iloc[0]["mac"]


def test_mac_min_reached_when_ci_equals_co():
    # ci = co = 8, k = 3, 10x10: MAC = 100*16 + 576 = 2176; B = 9*100*64 = 57600 and
    # 2*sqrt(100*57600/9) + 57600/100 = 1600 + 576 = 2176: the bound is tight.
    assert mac_min(9, 10, 10, 8, 8) == pytest.approx(2176)
    p, rows = _one(nn.Conv2d(8, 8, 3, padding=1, bias=False), (1, 8, 10, 10))
    assert rows.iloc[0]["mac_min"] == pytest.approx(2176)
    assert rows.iloc[0]["mac_ratio"] == pytest.approx(1.0)
    # Same FLOPs with ci = 2, co = 32 moves more: 100*34 + 576 = 3976.
    p, rows = _one(nn.Conv2d(2, 32, 3, padding=1, bias=False), (1, 2, 10, 10))
    assert rows.iloc[0]["mac"] == 3976
    assert rows.iloc[0]["mac_ratio"] == pytest.approx(3976 / 2176)


class _Block(nn.Module):
    """conv -> functional relu -> cat with the input -> add: functional ops belong to the block."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)

    def forward(self, x):
        y = F.relu(self.conv(x))
        z = torch.cat([x, y], dim=1)
        return z[:, :2] + y


def test_functional_ops_attributed_to_innermost_module():
    p = profile(_Block(), (1, 2, 4, 4))
    rows = p.layers.set_index("name")
    # Block's own ops: relu (read 32 + write 32), cat (read 64, write 64), slice (free), add (read 64, write 32)
    assert rows.loc["(model) (own ops)", "mac"] == 64 + 128 + 96
    assert rows.loc["(model) (own ops)", "flops"] == 32 + 0 + 32
    assert "cat" in rows.loc["(model) (own ops)", "ops"] and "add" in rows.loc["(model) (own ops)", "ops"]
    # the 1x1 conv: reads 32 + 4 weights, writes 32
    assert rows.loc["conv", "mac"] == 68


def test_totals_are_sums_of_rows():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    p = profile(model, (2, 3, 8, 8))
    for col in NUMERIC_COLUMNS:
        assert getattr(p.totals, col) == int(p.layers[col].sum()), col
    assert p.totals.params == sum(x.numel() for x in model.parameters())
    # paper MAC = conv + linear only
    conv_mac = 2 * 3 * 64 + 108 + 4 + 2 * 4 * 36  # input, weights, bias, output
    linear_mac = 2 * 144 + 144 * 5 + 5 + 2 * 5
    assert p.totals.paper_mac == conv_mac + linear_mac


def test_names_with_slash_and_dots_in_display():
    model = nn.Sequential(OrderedDict([
        ("stem_1/conv", nn.Conv2d(3, 4, 3, padding=1, bias=False)),
        ("stem_1/relu", nn.ReLU()),
    ]))
    p = profile(model, (1, 3, 8, 8))
    assert list(p.layers["name"]) == ["stem_1/conv", "stem_1/relu"]
    assert p.layers["path"].iloc[0] == ("stem_1/conv",)


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(self.conv(x))


def test_shared_module_counts_each_call_and_marks_repeat():
    p = profile(_Shared(), (1, 2, 5, 5))
    rows = p.layers[p.layers["name"] == "conv"]
    assert list(rows["call"]) == [0, 1]
    assert list(rows["repeat"]) == [False, True]
    assert list(rows["params"]) == [36, 0]  # weights counted once
    assert p.totals.params == 36
    # each call: 25*2 outputs x 18 multiply-adds
    assert p.totals.mult_adds == 2 * 50 * 18


class _Uncounted(nn.Module):
    # an op with no formula of its own (cumsum, used here before, has one now)
    def forward(self, x):
        return torch.logcumsumexp(x, dim=1)


def test_uncounted_ops_listed_and_warned():
    with pytest.warns(UncountedOpsWarning, match="logcumsumexp"):
        p = profile(_Uncounted(), (1, 4))
    assert p.uncounted == {"logcumsumexp": 1}
    assert not p.complete
    assert not p.layers["counted"].iloc[0]


def test_per_call_formula_override_and_duplicate_registration():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = profile(_Uncounted(), (1, 4), formulas={torch.ops.aten.logcumsumexp: None})
    assert p.uncounted == {} and p.totals.mac == 0
    with pytest.raises(ValueError, match="already registered"):
        register_formula(torch.ops.aten.convolution)(lambda *a: None)


def test_user_model_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    profile(model, (1, 3, 8, 8))
    assert model.training
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_dtype_sets_bytes():
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False)
    p16 = profile(conv, (1, 4, 10, 10), dtype="float16")
    assert p16.totals.mac == 1488 and p16.totals.mac_bytes == 2 * 1488
    assert p16.dtype == "float16"


def test_activations_count_outputs_not_views_or_inplace():
    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.ReLU(inplace=True), nn.Flatten())
    p = profile(model, (1, 1, 3, 3))
    # conv writes 18 new elements; in-place relu and the flatten view allocate nothing new
    assert p.totals.activations == 18


def test_by_depth_aggregates():
    model = nn.Sequential(OrderedDict([
        ("a", nn.Sequential(nn.Conv2d(2, 2, 1, bias=False), nn.ReLU())),
        ("b", nn.Sequential(nn.Conv2d(2, 2, 1, bias=False), nn.ReLU())),
    ]))
    p = profile(model, (1, 2, 4, 4))
    d1 = p.by_depth(1).set_index("name")
    assert list(d1.index) == ["a", "b"]
    # each block: conv 32 + 4 + 32, relu 32 + 32
    assert d1.loc["a", "mac"] == 68 + 64 and d1.loc["a", "layers"] == 2
    assert d1["mac"].sum() == p.totals.mac
    assert p.by_depth(0)["mac"].iloc[0] == p.totals.mac


def test_to_json_round_trip():
    import json

    p = profile(nn.Conv2d(4, 8, 3, padding=1, bias=False), (1, 4, 10, 10))
    data = json.loads(p.to_json())
    assert data["totals"]["mac"] == 1488
    assert data["layers"][0]["mac"] == 1488
    assert data["input_shape"] == [1, 4, 10, 10]


@pytest.mark.parametrize("shape, match", [
    ((1, 4, 16, 16), "expects 3 input channels but got 4"),
    ((1, 3, 1, 1), "too small"),
])
def test_bad_shapes_are_bad_input(shape, match):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(BadInputError, match=match):
        profile(model, shape)


def test_malformed_shape_and_dtype():
    with pytest.raises(BadInputError, match="malformed shape"):
        profile(nn.ReLU(), "1,3,a")
    with pytest.raises(BadInputError, match="positive"):
        profile(nn.ReLU(), (1, 0, 3))
    with pytest.raises(BadInputError, match="unknown dtype"):
        profile(nn.ReLU(), (1, 3), dtype="float8")


def test_matmul_and_bmm_counted():
    class Attn(nn.Module):
        def forward(self, q):
            return q @ q.transpose(-1, -2)

    # batch of 2 matrices 3x4 @ 4x3: 2*3*4*3 = 72 multiply-adds
    p = profile(Attn(), (2, 3, 4))
    assert p.totals.mult_adds == 72
    assert p.uncounted == {}
    assert math.isclose(p.totals.flops, 144)
