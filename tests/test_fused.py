"""Fused MAC (effkit.analysis.fused): each rule on a tiny module, counted by hand beside the test.

Element counts (float32, so bytes = 4 x elements). Inputs are 1x2x4x4 (32 elements, hw = 16) unless
stated. Eager MAC: every op reads each input once and writes each output once; BN reads its four
per-channel vectors too.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from effkit import profile
from effkit.models.densenet import DenseBlock
from effkit.models.vovnet import OSAModule

X = (1, 2, 4, 4)


def _layers(p, col):
    return dict(zip(p.layers["name"], p.layers[col]))


def test_conv_absorbs_batch_norm_and_relu():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU())
    p = profile(model, X)
    # conv reads x 32 + w 3*2*9 = 54, writes y 3*16 = 48; BN reads y 48 + 4*3, writes 48; ReLU 48 + 48.
    assert p.totals.mac == (32 + 54 + 48) + (48 + 12 + 48) + (48 + 48) == 338
    # Fused: conv reads x and w; BN (folded) and ReLU (epilogue) move nothing but the one write of y,
    # charged to the chain's last op.
    assert _layers(p, "mac_fused") == {"0": 32 + 54, "1": 0, "2": 48}
    assert p.totals.mac_fused == 134
    assert p.totals.mac_fused_bytes == 4 * 134


class _Residual(nn.Module):
    def __init__(self, bn: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(2) if bn else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        if isinstance(self.bn, nn.Identity):
            return self.conv(x) + x
        out = self.bn(self.conv(x))
        out += x
        return self.relu(out)


def test_conv_absorbs_a_residual_add_and_reads_the_other_operand_once():
    p = profile(_Residual(), X)
    # Eager: conv 32 + 4 + 32 = 68; add reads 32 + 32, writes 32 = 96.
    assert p.totals.mac == 164
    # Fused: conv 32 + 4 (no write); the add reads x once (32) and writes the result (32).
    assert p.totals.mac_fused == 36 + 64 == 100


def test_resnet_style_tail_conv_bn_inplace_add_relu():
    p = profile(_Residual(bn=True), X)
    # Eager: conv 68; BN 32 + 8 + 32 = 72; add_ 32 + 32 + 32 = 96; relu_ 32 + 32 = 64.
    assert p.totals.mac == 68 + 72 + 96 + 64
    # Fused: conv 36, BN 0, add_ reads x only (32), relu_ writes the result (32).
    assert _layers(p, "mac_fused") == {"(model) (own ops)": 32, "conv": 36, "bn": 0, "relu": 32}
    assert p.totals.mac_fused == 100


class _TwoReaders(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)

    def forward(self, x):
        y = self.conv(x)
        return torch.relu(y), torch.sigmoid(y.flatten(1))  # the second reader reads y through a view


def test_a_tensor_with_two_readers_is_materialised():
    p = profile(_TwoReaders(), X)
    # conv 68, relu 64, sigmoid 64; y has two readers, so nothing fuses.
    assert p.totals.mac == 68 + 64 + 64
    assert p.totals.mac_fused == p.totals.mac
    assert p.ops["mac_fused"].tolist() == p.ops["mac"].tolist()


class _Cat(nn.Module):
    def __init__(self, first_is_input: bool = False):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 1, bias=False)
        self.b = nn.Conv2d(2, 1, 1, bias=False)
        self.first_is_input = first_is_input

    def forward(self, x):
        if self.first_is_input:
            return torch.cat([x, self.b(x)], 1)
        return torch.cat([self.a(x), self.b(x)], 1)


def test_cat_of_two_conv_outputs_moves_nothing():
    p = profile(_Cat(), X)
    # a: 32 + 6 + 48 = 86; b: 32 + 2 + 16 = 50; cat reads 64 and writes 64.
    assert p.totals.mac == 86 + 50 + 128
    # Each conv writes its part of the concat buffer; the cat itself is free.
    assert _layers(p, "mac_fused") == {"(model) (own ops)": 0, "a": 86, "b": 50}
    assert p.totals.mac_fused == 136


def test_cat_copies_a_model_input():
    p = profile(_Cat(first_is_input=True), X)
    # b: 50; cat reads 32 + 16 and writes 48 (eager). x was not produced for the cat: read 32, write 32.
    assert p.totals.mac == 50 + 96
    assert p.totals.mac_fused == 50 + 64


class _CatThenInPlace(_Cat):
    def forward(self, x):
        y = self.a(x)
        z = torch.cat([y, self.b(x)], 1)
        return z, y.relu_()


def test_cat_copies_an_input_that_is_later_overwritten_in_place():
    p = profile(_CatThenInPlace(), X)
    # a 86, b 50, cat 128, relu_ 48 + 48 = 96 (eager). y cannot live in the buffer (relu_ would change
    # the concat too): copied, 2 * 48; b's output is free; relu_ is y's second reader: no fusion.
    assert p.totals.mac == 86 + 50 + 128 + 96
    assert p.totals.mac_fused == 86 + 50 + 96 + 96


def test_linear_absorbs_gelu():
    model = nn.Sequential(nn.Linear(4, 3), nn.GELU())
    p = profile(model, (2, 4))
    # addmm reads bias 3, x 8, w^T 12 (t is a free view), writes 6; gelu reads 6, writes 6.
    assert p.totals.mac == 29 + 12
    assert p.totals.mac_fused == 23 + 6


def test_linear_on_a_3d_input_fuses_through_the_views():
    model = nn.Sequential(nn.Linear(4, 3), nn.GELU())
    p = profile(model, (2, 5, 4))
    # x is viewed to 10x4, addmm reads 3 + 40 + 12, writes 30, the result is viewed back to 2x5x3.
    assert p.totals.mac == 85 + 60
    assert p.totals.mac_fused == 55 + 30


class _Views(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)

    def forward(self, x):
        return torch.relu(self.conv(x).flatten(1).unsqueeze(0).squeeze(0).view(1, 2, 16))


def test_a_view_chain_is_free_and_transparent():
    p = profile(_Views(), X)
    # conv 68, four views 0, relu 64: eager 132. The relu reads the conv output through the views
    # and absorbs it: conv 36, relu writes 32.
    assert p.totals.mac == 132
    assert p.totals.mac_fused == 68
    views = p.ops[p.ops["op"].isin(["view", "_unsafe_view", "unsqueeze", "squeeze", "flatten"])]
    assert len(views) >= 3 and (views["mac_fused"] == 0).all()


class _Dense(nn.Module):
    """A 1x1 stem conv, then a DenseNet block of two layers (growth 1, bottleneck width 2)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 2, 1, bias=False)
        self.block = DenseBlock(2, 2, growth_rate=1, bn_size=2)

    def forward(self, x):
        return self.block(self.stem(x))


def test_a_small_densenet_block_by_hand():
    """Eager vs fused MAC of a DenseNet block, op by op (hw = 16; x = stem output, 2 channels).

    stem conv 2->2 1x1: 32 + 4 + 32 = 68 (written: three cats read x).
    layer 1 (in 2, mid 2): cat[x] 64 | BN 32+8+32 = 72 | relu_ 64 | conv1 1x1 2->2 32+4+32 = 68 |
        BN 72 | relu_ 64 | conv2 3x3 2->1 32+18+16 = 66 -> eager 470.
        fused: cat 0 (first cat of x) | BN 72, relu_ 64 (they follow a cat, not a conv) | conv1 36 |
        BN 0 | relu_ 32 | conv2 66 -> 270.
    layer 2 (in 3): cat[x, f1] 96 | BN 48+12+48 = 108 | relu_ 96 | conv1 3->2 48+6+32 = 86 | BN 72 |
        relu_ 64 | conv2 66 -> eager 588.
        fused: cat 64 (x is in layer 1's buffer already: copied; f1 free) | 108 | 96 | 54 | 0 | 32 | 66 -> 420.
    final cat[x, f1, f2]: eager 2 * 64 = 128; fused: x 64 + f1 32 copied, f2 free -> 96.
    """
    p = profile(_Dense(), X)
    assert p.totals.mac == 68 + 470 + 588 + 128
    assert p.totals.mac_fused == 68 + 270 + 420 + 96
    cats = p.ops[p.ops["op"] == "cat"].set_index("layer")
    order = ["block.denselayer1 (own ops)", "block.denselayer2 (own ops)", "block (own ops)"]
    assert cats.loc[order, "mac"].tolist() == [64, 96, 128]
    assert cats.loc[order, "mac_fused"].tolist() == [0, 64, 96]


class _OSA(nn.Module):
    """A 1x1 stem conv, then a one-shot aggregation block: two 3x3 conv-BN-ReLU of 1 channel, concat, 1x1 to 2."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 2, 1, bias=False)
        self.block = OSAModule(2, 1, 2, 2, "OSA")

    def forward(self, x):
        return self.block(self.stem(x))


def test_a_small_osa_block_by_hand():
    """The same sizes as the DenseNet block above; every feature goes into one concat, once.

    stem 68 (x has two readers: written). layer 0: conv 3x3 2->1 32+18+16 = 66 | BN 16+4+16 = 36 |
    relu_ 32; fused 50 | 0 | 16. layer 1: conv 1->1 16+9+16 = 41 | 36 | 32; fused 25 | 0 | 16.
    cat[x, f0, f1]: eager 2 * 64 = 128; fused 0 (each input's producer writes into the buffer, the
    other reader of x and f0 reads it there). concat conv 1x1 4->2: 64+8+32 = 104 | BN 32+8+32 = 72 |
    relu_ 64; fused 72 | 0 | 32.
    """
    p = profile(_OSA(), X)
    assert p.totals.mac == 68 + (66 + 36 + 32) + (41 + 36 + 32) + 128 + (104 + 72 + 64) == 679
    assert p.totals.mac_fused == 68 + 66 + 41 + 0 + 104 == 279
    assert p.ops.loc[p.ops["op"] == "cat", "mac_fused"].tolist() == [0]


class _TrainingBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)

    def forward(self, x):
        return torch.nn.functional.batch_norm(self.conv(x), None, None, training=True)


def test_batch_norm_with_batch_statistics_is_not_folded():
    p = profile(_TrainingBN(), X)
    # conv 68 and BN reads 32, writes 32 (no weights, no running statistics): nothing fuses.
    assert p.totals.mac == 68 + 64
    assert p.totals.mac_fused == p.totals.mac


def test_fused_columns_sum_to_the_totals_and_match_by_depth():
    p = profile(_Dense(), X)
    assert p.totals.mac_fused == int(p.layers["mac_fused"].sum()) == int(p.ops["mac_fused"].sum())
    assert int(p.by_depth(1)["mac_fused"].sum()) == p.totals.mac_fused


def test_records_without_a_flow_switch_fusion_off():
    from effkit.analysis.fused import savings
    from effkit.analysis.records import OpRecord
    from effkit.analysis.tracer import ModuleCall

    call = ModuleCall(("x",), "Conv2d", 0, 0)
    call.ops.append(OpRecord(torch.ops.aten.relu.default, (), (), (), {}))
    assert savings([call]) == {}


@pytest.fixture(scope="module")
def zoo_totals():
    from effkit import list_models

    return {name: profile(name).totals for name in list_models()}


def test_fused_mac_never_exceeds_eager_mac_on_the_zoo(zoo_totals):
    for name, t in zoo_totals.items():
        assert 0 < t.mac_fused < t.mac, name
        assert 0 < t.mac_fused_bytes < t.mac_bytes, name
        # The conv and linear layers must still read their weights and inputs: the paper's MAC
        # (conv/linear reads plus writes) minus the writes can never be undercut.
        assert t.mac_fused >= t.paper_mac - t.activations, name


def test_fusion_saves_more_on_vovnet_than_on_densenet(zoo_totals):
    # An OSA block hands each feature to one concat: every cat input is written into the buffer,
    # while DenseNet re-concatenates every feature in every later layer (the copies stay), and its
    # pre-activation BN-ReLU follows a cat, not a conv, so it does not fuse.
    v, d = zoo_totals["vovnet39"], zoo_totals["densenet121"]
    assert v.mac_fused / v.mac < d.mac_fused / d.mac
