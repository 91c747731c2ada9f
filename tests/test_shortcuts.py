"""Each own shape shortcut (effkit.analysis.shapes) against PyTorch's own meta kernel: shape and dtype.

The reference is the op itself run on meta tensors with the dispatch mode off, so a shortcut that
got a promotion rule wrong (``(x > 0).sum(-1)`` is int64, not bool) fails here.
"""

import pytest
import torch

from effkit.analysis.shapes import SHORTCUTS

aten = torch.ops.aten
f32, f16, bf16, f64, i64, b8 = torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.bool


def m(*shape, dtype=f32):
    return torch.empty(shape, dtype=dtype, device="meta")


# (op, args builder) — a builder so each case gets fresh tensors.
CASES = [
    (aten.add.Tensor, lambda: (m(2, 3), m(2, 3))),
    (aten.add.Tensor, lambda: (m(2, 3, dtype=f16), m(2, 3, dtype=f16))),
    (aten.add.Tensor, lambda: (m(2, 3, dtype=b8), m(2, 3, dtype=b8))),
    (aten.add.Tensor, lambda: (m(2, 3), m(2, 3, dtype=f16))),  # promotion: float32
    (aten.add.Tensor, lambda: (m(2, 3, dtype=i64), m(2, 3))),  # promotion: float32
    (aten.add.Tensor, lambda: (m(2, 3), m(3))),  # broadcasting
    (aten.add.Tensor, lambda: (m(2, 3, dtype=i64), 1.5)),  # scalar promotion: float32
    (aten.mul.Tensor, lambda: (m(4, 1), m(1, 5))),
    (aten.mul.Tensor, lambda: (m(2, 3, dtype=b8), m(2, 3, dtype=b8))),
    (aten.cat.default, lambda: ([m(2, 3), m(4, 3)],)),
    (aten.cat.default, lambda: ([m(2, 3), m(2, 5)], 1)),
    (aten.cat.default, lambda: ([m(2, 3), m(2, 5)], -1)),
    (aten.cat.default, lambda: ([m(2, 3), m(4, 3, dtype=f16)],)),  # promotion: float32
    (aten.cat.default, lambda: ([m(2, 3, dtype=i64), m(4, 3, dtype=i64)],)),
    (aten.add_.Tensor, lambda: (m(2, 3), m(2, 3))),
    (aten.add_.Tensor, lambda: (m(2, 3), m(3))),
    (aten.mul_.Tensor, lambda: (m(2, 3, dtype=f16), m(2, 3))),
    (aten.mul_.Tensor, lambda: (m(2, 3), 2.0)),
    (aten._softmax.default, lambda: (m(2, 3), 1, False)),
    (aten._softmax.default, lambda: (m(2, 3, dtype=f16), -1, False)),
    (aten._softmax.default, lambda: (m(2, 3, dtype=f16), -1, True)),  # half_to_float: float32
    (aten._log_softmax.default, lambda: (m(2, 3, dtype=bf16), 0, False)),
    (aten.mm.default, lambda: (m(2, 3), m(3, 4))),
    (aten.mm.default, lambda: (m(2, 3, dtype=f64), m(3, 4, dtype=f64))),
    (aten.addmm.default, lambda: (m(4), m(2, 3), m(3, 4))),
    (aten.addmm.default, lambda: (m(2, 4), m(2, 3, dtype=f16), m(3, 4, dtype=f16))),
    (aten.mean.dim, lambda: (m(2, 3, 4), [-1, -2], True)),
    (aten.mean.dim, lambda: (m(2, 3, 4, dtype=f16), [1])),
    (aten.mean.dim, lambda: (m(2, 3, 4), [0, 2], False)),
    (aten.sum.dim_IntList, lambda: (m(2, 3, 4), [-1])),
    (aten.sum.dim_IntList, lambda: (m(2, 3, 4, dtype=b8), [-1])),  # (x > 0).sum(-1): int64
    (aten.sum.dim_IntList, lambda: (m(2, 3, 4, dtype=torch.int32), [1], True)),  # int64
    (aten.sum.dim_IntList, lambda: (m(2, 3, 4, dtype=torch.uint8), [0, 1])),  # int64
    (aten.native_batch_norm.default, lambda: (m(2, 3, 4, 4), m(3), m(3), m(3), m(3), False, 0.1, 1e-5)),
    (aten.native_batch_norm.default, lambda: (m(2, 3, 4, 4, dtype=f16), m(3, dtype=f16), m(3, dtype=f16),
                                              m(3, dtype=f16), m(3, dtype=f16), False, 0.1, 1e-5)),
    (aten.native_batch_norm.default, lambda: (m(2, 3, 4, 4, dtype=bf16), m(3), m(3), m(3), m(3), False, 0.1, 1e-5)),
    (aten.native_batch_norm.default, lambda: (m(2, 3, 4, 4, dtype=f64), m(3, dtype=f64), m(3, dtype=f64),
                                              m(3, dtype=f64), m(3, dtype=f64), False, 0.1, 1e-5)),
    (aten.native_batch_norm.default, lambda: (m(2, 3, 4, 4), m(3), m(3), m(3), m(3), True, 0.1, 1e-5)),
    (aten._native_batch_norm_legit_no_training.default, lambda: (m(2, 3, 5), m(3), m(3), m(3), m(3), 0.1, 1e-5)),
    (aten.convolution.default, lambda: (m(1, 4, 9, 9), m(8, 4, 3, 3), None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1)),
    (aten.convolution.default, lambda: (m(1, 4, 9, 9, dtype=f16), m(8, 2, 3, 3, dtype=f16), m(8, dtype=f16),
                                        [1, 1], [0, 0], [2, 2], False, [0, 0], 2)),
    (aten.convolution.default, lambda: (m(2, 4, 11), m(6, 4, 3), m(6), [1], [1], [1], False, [0], 1)),
    (aten.max_pool2d_with_indices.default, lambda: (m(1, 3, 9, 9), [3, 3], [2, 2], [1, 1], [1, 1], True)),
    (aten.max_pool2d_with_indices.default, lambda: (m(3, 8, 8, dtype=f16), [2, 2])),
    (aten.avg_pool2d.default, lambda: (m(1, 3, 7, 7), [2, 2], [2, 2], [0, 0], True)),
    (aten.avg_pool2d.default, lambda: (m(1, 3, 8, 8, dtype=bf16), [3, 3], [1, 1], [1, 1])),
]


def _outs(out):
    return [(tuple(t.shape), t.dtype) for t in (out if isinstance(out, (tuple, list)) else (out,))]


@pytest.mark.parametrize("op, build", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shortcut_matches_meta_kernel(op, build):
    expected = _outs(op(*build()))
    got = SHORTCUTS[op](op, build(), {})
    if got is NotImplemented:
        return  # left to PyTorch: its own kernel gives the answer
    assert _outs(got) == expected


def test_every_shortcut_has_a_case():
    assert {c[0] for c in CASES} == set(SHORTCUTS)


def test_bool_sum_then_negation_traces():
    # The reported failure: a bool sum taken as bool made the following negation raise.
    from effkit import profile

    class M(torch.nn.Module):
        def forward(self, x):
            return -(x > 0).sum(dim=-1)

    p = profile(M(), (2, 3, 4), warn=False)
    assert p.totals.flops > 0
