"""Hand-computed costs of the ops and blocks of MobileNetV2, ShuffleNetV2, EfficientNet and ConvNeXt.

Each case lists, per aten op the module runs, ``(flops, mult_adds, mac)`` worked out beside it, under the
rules of ``effkit/analysis/formulas.py``: elementwise ops one flop per output element, reductions one
per input element, layer norm five per element, views and restrides free; MAC reads every input
(weights included) once and writes every output once.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from effkit.analysis.formulas import TensorInfo, get_formula
from effkit.analysis.profile import profile
from effkit.models.convnext import CNBlock, LayerNorm2d, Permute
from effkit.models.efficientnet import MBConv, SqueezeExcitation
from effkit.models.mobilenet import InvertedResidual
from effkit.models.shufflenet import ShuffleUnit, channel_shuffle


class Fn(nn.Module):
    """A functional expression as a module, so it can be profiled."""

    def __init__(self, fn, name: str) -> None:
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, x):
        return self.fn(x)

    def __repr__(self) -> str:
        return self.name


class Scale(nn.Module):
    """ConvNeXt's layer scale: a (C, 1, 1) parameter broadcast over an NCHW tensor."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.ones(ch, 1, 1))

    def forward(self, x):
        return self.s * x


def _channels_last_pool(x):
    return F.adaptive_avg_pool2d(x.contiguous(memory_format=torch.channels_last), 1)


def _chunk_cat(x):
    a, b = x.chunk(2, dim=1)
    return torch.cat((b, a), dim=1)


# (module, input shape, {op: (flops, mult_adds, mac)}), every number worked out by hand.
CASES = [
    # ReLU6 is hardtanh(0, 6): 1x2x4x4 = 32 elements, one compare-pair per element; reads 32, writes 32
    (nn.ReLU6(), (1, 2, 4, 4), {"hardtanh": (32, 0, 64)}),
    (nn.ReLU6(inplace=True), (1, 2, 4, 4), {"hardtanh_": (32, 0, 64)}),
    (nn.SiLU(inplace=True), (1, 2, 4, 4), {"silu_": (32, 0, 64)}),
    (nn.Sigmoid(), (1, 2, 4, 4), {"sigmoid": (32, 0, 64)}),
    # GELU over 1x4x8 = 32 elements
    (nn.GELU(), (1, 4, 8), {"gelu": (32, 0, 64)}),
    # broadcast multiply (2,1,1) * (1,2,4,4): 32 outputs; reads 2 + 32, writes 32
    (Scale(2), (1, 2, 4, 4), {"mul": (32, 0, 66)}),
    # squeeze-excitation's pattern: mean over H, W (32 adds, reads 32 writes 2), then the gate multiply
    (Fn(lambda x: x * x.mean((2, 3), keepdim=True), "gate"), (1, 2, 4, 4),
     {"mean": (32, 0, 34), "mul": (32, 0, 66)}),
    # LayerNorm(4) over 1x3x3x4 = 36 elements: 5 per element = 180; reads 36 + weight 4 + bias 4, writes 36
    (nn.LayerNorm(4), (1, 3, 3, 4), {"native_layer_norm": (180, 0, 80)}),
    # the channels-first LayerNorm: two permutes (views, free) around the same 36-element norm
    (LayerNorm2d(4), (1, 4, 3, 3), {"permute": (0, 0, 0), "native_layer_norm": (180, 0, 80)}),
    (Permute([0, 2, 3, 1]), (1, 2, 3, 4), {"permute": (0, 0, 0)}),
    # channel shuffle of 1x4x2x2: view and transpose are free, `contiguous` copies 16 elements (16 + 16)
    (Fn(lambda x: channel_shuffle(x, 2), "shuffle"), (1, 4, 2, 2),
     {"view": (0, 0, 0), "transpose": (0, 0, 0), "clone": (0, 0, 32)}),
    # channel split is a view; the concat reads two 8-element halves and writes 16
    (Fn(_chunk_cat, "split-cat"), (1, 4, 2, 2), {"split": (0, 0, 0), "cat": (0, 0, 32)}),
    # global mean of ShuffleNetV2's head, x.mean([2, 3]) of 1x2x4x4: 32 adds, reads 32 writes 2
    (Fn(lambda x: x.mean([2, 3]), "mean"), (1, 2, 4, 4), {"mean": (32, 0, 34)}),
    # average pool of a channels-last tensor: the copy to channels-last (32 + 32), the mean (32 adds,
    # reads 32 writes 2), and the restride of its output to channels-last (metadata only)
    (Fn(_channels_last_pool, "cl-pool"), (1, 2, 4, 4),
     {"clone": (0, 0, 64), "mean": (32, 0, 34), "as_strided_": (0, 0, 0)}),
    # Linear(4, 3) per pixel of 1x2x2x4: 4 rows x 4 x 3 = 48 multiply-adds; the views and transpose are
    # free; addmm reads x 16 + W 12 + bias 3 and writes 12
    (nn.Linear(4, 3), (1, 2, 2, 4), {"view": (0, 0, 0), "t": (0, 0, 0), "addmm": (96, 48, 43)}),
    # ConvNeXt's 7x7 depthwise conv with bias on 1x2x8x8: 128 outputs x 49 = 6272 multiply-adds;
    # reads 128 + 98 weights + 2 biases, writes 128
    (nn.Conv2d(2, 2, 7, padding=3, groups=2), (1, 2, 8, 8), {"convolution": (12544, 6272, 356)}),
]


def _per_op(p) -> dict[str, tuple[float, float, float]]:
    sums: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0])
    for row in p.ops.itertuples():
        s = sums[row.op]
        s[0] += row.flops
        s[1] += row.mult_adds
        s[2] += row.mac
    return {op: tuple(v) for op, v in sums.items()}


@pytest.mark.parametrize("module, shape, expected", CASES, ids=[repr(c[0]).split("(")[0] for c in CASES])
def test_op_costs(module, shape, expected):
    p = profile(module, shape)
    assert p.uncounted == {}
    assert _per_op(p) == expected
    assert p.totals.mac == sum(m for _, _, m in expected.values())
    assert p.totals.mac_bytes == 4 * p.totals.mac  # float32


def test_restride_formula_is_free():
    # called directly: whatever the shapes, an in-place restride moves nothing
    t = TensorInfo((2, 8, 1, 1), 4)
    cost = get_formula(torch.ops.aten.as_strided_.default)([t], [t], (), {})
    assert (cost.flops, cost.mult_adds, cost.mac, cost.mac_bytes) == (0, 0, 0, 0)


# (block, input shape, params, mult_adds), worked out by hand from each block's layers.
BLOCKS = [
    # MobileNetV2 block, 4 -> 4 channels, expansion 2, on 4x4 (16 pixels):
    # expand 1x1 4->8: 16*8*4 = 512; depthwise 3x3 on 8: 16*8*9 = 1152; project 8->4: 16*4*8 = 512.
    # params: 32 + BN 16, 72 + BN 16, 32 + BN 8 = 176
    (InvertedResidual(4, 4, 1, 2), (1, 4, 4, 4), 176, 2176),
    # ShuffleNetV2 unit, 8 -> 8, stride 1: branch2 on 4 of the channels at 4x4:
    # 1x1 4->4: 16*16 = 256; depthwise 3x3: 16*4*9 = 576; 1x1: 256. params: 16+8, 36+8, 16+8 = 92
    (ShuffleUnit(8, 8, 1), (1, 8, 4, 4), 92, 1088),
    # strided unit 8 -> 16 on 4x4 (outputs 2x2, 4 pixels): branch1 dw 3x3 on 8: 4*8*9 = 288, 1x1 8->8:
    # 4*64 = 256; branch2 1x1 8->8 at 4x4: 16*64 = 1024, dw 3x3/2 on 8: 288, 1x1 8->8: 256.
    # params: branch1 72+16, 64+16; branch2 64+16, 72+16, 64+16 = 416
    (ShuffleUnit(8, 16, 2), (1, 8, 4, 4), 416, 2112),
    # MBConv 4 -> 4, kernel 3, expansion 2, on 4x4: expand 512, depthwise 1152, gate fc1 8->1 and fc2
    # 1->8 on 1x1: 8 + 8, project 512. params: 32+16, 72+16, gate (8+1)+(8+8) = 25, 32+8 = 201
    (MBConv(4, 4, 3, 1, 2, 0.0), (1, 4, 4, 4), 201, 2192),
    # ConvNeXt block, dim 4, on 4x4: depthwise 7x7: 64*49 = 3136; linear 4->16 over 16 pixels: 1024;
    # linear 16->4: 1024. params: 196+4, LN 8, 64+16, 64+4, layer scale 4 = 360
    (CNBlock(4, 1e-6, 0.0), (1, 4, 4, 4), 360, 5184),
]


@pytest.mark.parametrize("block, shape, params, mult_adds", BLOCKS,
                         ids=[type(b[0]).__name__ + str(i) for i, b in enumerate(BLOCKS)])
def test_block_costs(block, shape, params, mult_adds):
    p = profile(block.eval(), shape)
    assert p.uncounted == {}
    assert (p.totals.params, p.totals.mult_adds) == (params, mult_adds)


def test_squeeze_excitation_every_op():
    # gate of 4 channels squeezed to 2 on 1x4x2x2:
    #   pool (mean): 16 adds, reads 16 writes 4          -> flops 16, mac 20
    #   fc1 1x1 4->2 on 1x1: 8 multiply-adds; reads 4 + 8 + 2 bias, writes 2 -> mac 16
    #   SiLU on 2: 2 flops, mac 4;  fc2 2->4: 8 multiply-adds; reads 2 + 8 + 4, writes 4 -> mac 18
    #   sigmoid on 4: 4 flops, mac 8;  multiply (1,4,1,1)*(1,4,2,2): 16 flops; reads 4 + 16, writes 16
    p = profile(SqueezeExcitation(4, 2), (1, 4, 2, 2))
    assert p.uncounted == {}
    assert p.totals.params == 8 + 2 + 8 + 4
    assert p.totals.mult_adds == 16
    assert p.totals.flops == 16 + 16 + 2 + 16 + 4 + 16
    assert p.totals.mac == 20 + 16 + 4 + 18 + 8 + 36
