"""Models built from the configs of a widely used library (transformers; random weights, no download).

The second tool is PyTorch's own FlopCounterMode on a real forward pass: effkit's mult_adds must be
exactly half its flops, with every op counted. FlopCounterMode has no formula for the CPU flash
attention kernel, so it runs with the math attention backend, whose matrix products it does count.
"""

import warnings

import pytest
import torch

from effkit import profile

transformers = pytest.importorskip("transformers", reason="transformers is not installed")


def _flop_counter_mult_adds(model, shape) -> int:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    fc = FlopCounterMode(display=False)
    with fc, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        model(torch.randn(shape, generator=torch.Generator().manual_seed(0)))
    return fc.get_total_flops() // 2


def _tiny_vit():
    cfg = transformers.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=64, image_size=32, patch_size=8)
    return transformers.ViTModel(cfg).eval()  # default attention: scaled_dot_product_attention


def _tiny_mobilevit():
    cfg = transformers.MobileViTConfig(image_size=64, hidden_sizes=[16, 24, 32],
                                       neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 32], num_attention_heads=2)
    return transformers.MobileViTModel(cfg).eval()


MODELS = [("vit", _tiny_vit, (1, 3, 32, 32)), ("mobilevit", _tiny_mobilevit, (1, 3, 64, 64))]


@pytest.mark.parametrize("name, build, shape", MODELS, ids=[m[0] for m in MODELS])
def test_mult_adds_match_flop_counter_and_every_op_counted(name, build, shape):
    model = build()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an UncountedOpsWarning fails the test
        p = profile(model, shape)
    assert p.uncounted == {}
    assert p.totals.mult_adds == _flop_counter_mult_adds(model, shape)
    # every parameter in exactly one row
    assert p.layers["params"].sum() == p.totals.params == sum(t.numel() for t in model.parameters())


def test_vit_attention_is_one_op_per_layer():
    p = profile(_tiny_vit(), (1, 3, 32, 32))
    ops = list(p.ops["op"])
    assert ops.count("scaled_dot_product_attention") == 2  # two layers
    assert "_safe_softmax" not in ops and "bmm" not in ops
    # 17 tokens (16 patches + class), 4 heads of 8: 4*17*17*(8+8) multiply-adds per layer
    att = p.ops[p.ops["op"] == "scaled_dot_product_attention"]
    assert list(att["mult_adds"]) == [4 * 17 * 17 * 16] * 2
