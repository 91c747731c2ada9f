"""effkit's multiply-adds against fvcore's, a second tool that traces a real forward pass.

Tiny models carry hand-computed counts; zoo models must agree with fvcore module by module.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

import pytest
from conftest import assert_bad_input
import torch
from torch import nn

from effkit.analysis.crosscheck import COLUMNS, TOTAL_ROW, fvcore_crosscheck
from effkit.analysis.profile import profile
from effkit.errors import BackendUnavailableError, BadInputError

aten = torch.ops.aten


class SlashNet(nn.Module):
    """Conv block with '/' in its layer names (as in the original VoVNet code), a linear head and a
    functional matmul run by the model itself."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(OrderedDict([
            ("s1/conv", nn.Conv2d(3, 8, 3, padding=1)),
            ("s1/bn", nn.BatchNorm2d(8)),
            ("s1/relu", nn.ReLU(inplace=True)),
        ]))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)
        self.proj = nn.Parameter(torch.randn(4, 5))

    def forward(self, x):
        y = self.fc(torch.flatten(self.pool(self.body(x)), 1))
        return y @ self.proj


# Hand counts at input 2x3x8x8:
#   s1/conv: 2*8*8*8 outputs x 3*3*3 = 27648;  fc: 2 x 8 x 4 = 64;  matmul (2x4)@(4x5): 40.
SLASH_EXPECTED = {"(model) (own ops)": 40, "body.s1/conv": 27648, "fc": 64, TOTAL_ROW: 27752}


def _counts(cc, column):
    return dict(zip(cc.table["module"], cc.table[column]))


def test_functional_matmul_and_slash_names_agree_with_hand_counts():
    cc = fvcore_crosscheck(SlashNet(), (2, 3, 8, 8))
    assert list(cc.table.columns) == COLUMNS
    assert _counts(cc, "effkit_mult_adds") == SLASH_EXPECTED
    assert _counts(cc, "fvcore_mult_adds") == SLASH_EXPECTED
    assert (cc.table["diff"] == 0).all()
    assert cc.agree and cc.modules_differ == 0
    assert cc.effkit_mult_adds == cc.fvcore_mult_adds == 27752
    assert "0 of 3 modules differ" in cc.summary
    assert "\n" not in cc.summary


def test_users_model_is_left_untouched():
    model = SlashNet().train()
    names = [n for n, _ in model.named_modules()]
    params = {n: (p, p.detach().clone()) for n, p in model.named_parameters()}
    bn = model.body[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    fvcore_crosscheck(model, "2,3,8,8")
    assert [n for n, _ in model.named_modules()] == names
    assert model.training and bn.training
    for n, p in model.named_parameters():
        assert p is params[n][0] and torch.equal(p, params[n][1])
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert int(bn.num_batches_tracked) == stats[2]
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_slash_names_next_to_the_placeholder_text():
    # A name that already holds the stand-in for '/' must not be confused with a renamed one.
    model = nn.Sequential(OrderedDict([
        ("a/b", nn.Conv2d(1, 2, 1, bias=False)),
        ("a__slash__b", nn.Conv2d(2, 3, 1, bias=False)),
    ]))
    cc = fvcore_crosscheck(model, (1, 1, 4, 4))
    # 16 pixels: 1x1 convs cost 16*2*1 = 32 and 16*3*2 = 96 multiply-adds.
    want = {"a/b": 32, "a__slash__b": 96, TOTAL_ROW: 128}
    assert _counts(cc, "effkit_mult_adds") == want
    assert _counts(cc, "fvcore_mult_adds") == want


class Mixed(nn.Module):
    """A module called twice under two names, a transposed conv, a 3-d linear and a batched matmul."""

    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.alias = self.c
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.q = nn.Linear(4, 6)

    def forward(self, x):
        x = self.alias(self.c(x))
        y = self.up(x)
        q = self.q(x.flatten(2).transpose(1, 2))  # (N, HW, 6)
        a = torch.bmm(q, q.transpose(1, 2))
        return y.sum() + a.sum()


def test_shared_module_transposed_conv_and_bmm():
    cc = fvcore_crosscheck(Mixed(), (2, 4, 6, 6))
    want = {
        "c": 2 * 2 * 4 * 36 * 4 * 9,  # two calls, 288 outputs each, 36 multiply-adds per output
        "up": 2 * 4 * 36 * 2 * 2 * 2,  # each input element scattered into co*kh*kw outputs
        "q": 2 * 36 * 4 * 6,
        "(model) (own ops)": 2 * 36 * 6 * 36,  # (36x6)@(6x36) per sample
    }
    want[TOTAL_ROW] = sum(want.values())
    assert _counts(cc, "effkit_mult_adds") == want
    assert _counts(cc, "fvcore_mult_adds") == want


def test_a_difference_is_reported_and_explained():
    # Tell effkit that addmm is free: the linear layer then differs from fvcore, and only it.
    model = SlashNet()
    prof = profile(model, (2, 3, 8, 8), formulas={aten.addmm: None}, warn=False)
    cc = fvcore_crosscheck(model, (2, 3, 8, 8), profile=prof)
    row = cc.table.set_index("module").loc["fc"]
    assert (row["effkit_mult_adds"], row["fvcore_mult_adds"], row["diff"]) == (0, 64, -64)
    assert row["diff_pct"] == -100.0
    assert "linear 64" in row["note"]
    assert cc.modules_differ == 1 and not cc.agree
    assert "1 of 3 modules differ" in cc.summary
    total = cc.table.set_index("module").loc[TOTAL_ROW]
    assert (total["effkit_mult_adds"], total["fvcore_mult_adds"]) == (27752 - 64, 27752)


def test_ops_neither_counts_are_listed_in_the_summary():
    class WithMv(nn.Module):
        def forward(self, x):
            return torch.mv(x.flatten(1), x.new_ones(x[0].numel()))

    cc = fvcore_crosscheck(WithMv(), (2, 3, 2, 2))
    assert "aten::mv" in cc.unsupported_ops
    assert "fvcore unsupported ops:" in cc.summary and "aten::mv" in cc.summary


def test_profile_of_another_shape_is_rejected():
    prof = profile(SlashNet(), (1, 3, 8, 8), warn=False)
    with pytest.raises(BadInputError, match="computed for input"):
        fvcore_crosscheck(SlashNet(), (2, 3, 8, 8), profile=prof)


def test_missing_fvcore_is_backend_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "fvcore.nn", None)  # makes `import fvcore.nn` fail
    with pytest.raises(BackendUnavailableError, match="pip install fvcore") as e:
        fvcore_crosscheck(SlashNet(), (1, 3, 8, 8))
    assert "\n" not in str(e.value)


def test_model_fvcore_cannot_trace_is_backend_unavailable():
    class ReturnsInt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            self.c(x)
            return 3

    with pytest.raises(BackendUnavailableError, match="fvcore could not analyse ReturnsInt") as e:
        fvcore_crosscheck(ReturnsInt(), (1, 3, 4, 4))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, convs_and_linears, side", [
    ("resnet18", 21, 64), ("vovnet27_slim", None, 64),
    # EfficientNet-B0: stem; block 1 depthwise, 2 gate convs, project; 15 blocks of expand, depthwise,
    # 2 gate convs, project; head conv; classifier: 1 + 4 + 75 + 1 + 1. At 32x32 to stay cheap.
    ("efficientnet_b0", 82, 32),
    # ConvNeXt-Tiny: stem; 18 blocks of a depthwise conv and two linears on 4-D tensors; 3
    # downsampling convs; classifier: 1 + 54 + 3 + 1.
    ("convnext_tiny", 59, 32),
])
def test_zoo_models_match_fvcore_in_every_module(name, convs_and_linears, side):
    cc = fvcore_crosscheck(name, (1, 3, side, side))
    assert cc.agree, cc.table[cc.table["diff"] != 0].to_string()
    assert (cc.table["diff"] == 0).all()
    modules = cc.table[cc.table["module"] != TOTAL_ROW]
    assert (modules["effkit_mult_adds"] > 0).all()
    assert cc.effkit_mult_adds == modules["effkit_mult_adds"].sum()
    if convs_and_linears is not None:
        # ResNet-18: stem conv, 16 block convs, 3 downsample convs and the classifier.
        assert len(modules) == convs_and_linears
    if name.startswith("vovnet"):
        assert modules["module"].str.contains("/").any(), "expected VoVNet's '/' layer names"


def test_cli_cross_check(cli):
    proc = cli("profile", "resnet18", "-s", "64", "--format", "csv", "--cross-check", "fvcore")
    assert proc.returncode == 0, proc.stderr
    # the CSV on stdout stays machine-readable; the comparison goes to stderr
    assert "cross-check" not in proc.stdout and proc.stdout.startswith("name,")
    assert "cross-check against fvcore" in proc.stderr
    text = " ".join(proc.stderr.split())  # rich may wrap the summary inside the table title
    assert "0 of 21 modules differ" in text


def test_cli_unknown_cross_check_tool_is_one_line(cli):
    assert_bad_input(cli("profile", "resnet18", "-s", "64", "--format", "csv", "--cross-check", "nope"), "nope")


class _SamePadAttention(nn.Module):
    """A 'same'-padded conv (as EfficientNet ports write it) feeding self-attention over its pixels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding="same", bias=False)
        self.valid = nn.Conv2d(8, 8, 1, padding="valid")

    def forward(self, x):
        y = self.valid(self.conv(x))  # 1x8x4x4
        q = y.flatten(2).transpose(1, 2).reshape(1, 16, 2, 4).transpose(1, 2)  # B=1, H=2, L=16, E=4
        return torch.nn.functional.scaled_dot_product_attention(q, q, q)


def test_same_padding_conv_and_attention_agree_with_hand_counts():
    # conv: 16 outputs x 8 channels x 3*3*3 = 3456; 1x1 conv: 128 x 8 = 1024;
    # attention: 1*2*16 queries x 16 keys x (4 + 4) = 4096
    cc = fvcore_crosscheck(_SamePadAttention(), (1, 3, 4, 4))
    assert cc.agree, cc.table
    assert cc.effkit_mult_adds == cc.fvcore_mult_adds == 3456 + 1024 + 4096
    assert not cc.unsupported_ops
