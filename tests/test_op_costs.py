"""Costs of the ops real models use beyond plain CNNs (indexing, fills, views, attention...), by hand.

Each case is a tiny module whose forward calls the op once (plus, where needed, a line that makes its
operands); the op's own row of ``Profile.ops`` is checked against flops, mult_adds and MAC worked out
beside it. float32 everywhere unless said, so bytes = 4 x elements.
"""

import pytest
import torch
import torch.nn.functional as nnf
from torch import nn

from effkit import profile
from effkit.analysis.formulas import UNFUSED_ATTENTION


class Fn(nn.Module):
    """A module whose forward is ``fn(self, x)``; extra tensors given as keyword buffers."""

    def __init__(self, fn, **buffers):
        super().__init__()
        self.fn = fn
        for k, v in buffers.items():
            self.register_buffer(k, v)

    def forward(self, x):
        return self.fn(self, x)


def _long(x, n=None):
    return torch.zeros(x.shape if n is None else n, dtype=torch.long, device=x.device)


# (case id, module, input shape, op, flops, mult_adds, mac)
CASES = [
    # embedding 10x4 looked up by 2x3 ids: reads 6 ids + 6 rows of 4, writes 24 -> 6 + 24 + 24
    ("embedding", Fn(lambda m, x: m.emb(_long(x)), ) , (2, 3), "embedding", 0, 0, 54),
    # gather 3 of 5 per row of a 2x5: reads 6 indices + 6 values, writes 6
    ("gather", Fn(lambda m, x: torch.gather(x, 1, _long(x, (2, 3)))), (2, 5), "gather", 0, 0, 18),
    # x[idx] with 3 row indices into 4x5: reads 3 indices + 15 values, writes 15
    ("index", Fn(lambda m, x: x[_long(x, (3,))]), (4, 5), "index", 0, 0, 33),
    # arange(7): writes 7, reads nothing
    ("arange", Fn(lambda m, x: x + torch.arange(4, device=x.device)), (4,), "arange", 0, 0, 4),
    # tril of 4x4: reads 16, writes 16
    ("tril", Fn(lambda m, x: torch.tril(x)), (4, 4), "tril", 0, 0, 32),
    # scalar_tensor: one element written
    ("scalar_tensor", Fn(lambda m, x: x * torch.scalar_tensor(2.0, device=x.device)), (3,), "scalar_tensor",
     0, 0, 1),
    # 2-norm over the last dim of 2x3x4: square + add per input (48), a root per output (6); reads 24, writes 6
    ("vector_norm", Fn(lambda m, x: torch.linalg.vector_norm(x, dim=-1)), (2, 3, 4), "linalg_vector_norm",
     54, 0, 30),
    # max over dim 1 of 2x3x4: 24 compares; reads 24, writes 8 values + 8 indices
    ("max_dim", Fn(lambda m, x: torch.max(x, 1)[0]), (2, 3, 4), "max", 24, 0, 40),
    # all over the last dim of a 2x3x4 mask: 24 ands; reads 24 bools, writes 6
    ("all_dim", Fn(lambda m, x: (x > 0).all(dim=-1)), (2, 3, 4), "all", 24, 0, 30),
    # max of everything: 24 compares, reads 24, writes 1
    ("max_all", Fn(lambda m, x: x.max()), (2, 3, 4), "max", 24, 0, 25),
    # unfold 2x2/2 patches of 1x2x4x4: output 1x8x4 = 32; reads 32, writes 32
    ("im2col", Fn(lambda m, x: nnf.unfold(x, 2, stride=2)), (1, 2, 4, 4), "im2col", 0, 0, 64),
    # fold 1x8x4 columns back to 1x2x4x4: one add per column element (32); reads 32, writes 32
    ("col2im", Fn(lambda m, x: nnf.fold(x, (4, 4), 2, stride=2)), (1, 8, 4), "col2im", 32, 0, 64),
    # bicubic x2 of 1x2x3x3: 72 outputs x 31 flops; reads 18, writes 72
    ("bicubic", Fn(lambda m, x: nnf.interpolate(x, scale_factor=2, mode="bicubic")), (1, 2, 3, 3),
     "upsample_bicubic2d", 31 * 72, 0, 90),
    # training-mode batch norm without affine or running stats (weight standardisation): 5 flops per
    # element of 1x3x8; reads 24, writes 24
    ("bn_training", Fn(lambda m, x: nnf.batch_norm(x, None, None, training=True, momentum=0.0)), (1, 3, 8),
     "native_batch_norm", 120, 0, 48),
    # softmax that zeroes fully masked rows: 4 flops per element of 2x5; reads 10, writes 10
    ("safe_softmax", Fn(lambda m, x: torch.ops.aten._safe_softmax(x, -1)), (2, 5), "_safe_softmax", 40, 0, 20),
    # fills write and read nothing: zeros_like of 2x3 writes 6
    ("zeros_like", Fn(lambda m, x: x + torch.zeros_like(x)), (2, 3), "zeros_like", 0, 0, 6),
    ("fill_", Fn(lambda m, x: torch.empty_like(x).fill_(1.0) + x), (2, 3), "fill_", 0, 0, 6),
    ("zero_", Fn(lambda m, x: torch.empty_like(x).zero_() + x), (2, 3), "zero_", 0, 0, 6),
    # copy_ into a fresh tensor: reads the 6 source elements, writes 6 (the old contents are not read)
    ("copy_", Fn(lambda m, x: torch.empty_like(x).copy_(x)), (2, 3), "copy_", 0, 0, 12),
    # views move nothing
    ("transpose_", Fn(lambda m, x: x.clone().transpose_(0, 1)), (2, 3), "transpose_", 0, 0, 0),
    ("t_", Fn(lambda m, x: x.clone().t_()), (2, 3), "t_", 0, 0, 0),
    ("as_strided_", Fn(lambda m, x: x.clone().as_strided_((3, 2), (1, 3))), (2, 3), "as_strided_", 0, 0, 0),
    ("unsqueeze_", Fn(lambda m, x: x.clone().unsqueeze_(0)), (2, 3), "unsqueeze_", 0, 0, 0),
    ("unsafe_split", Fn(lambda m, x: torch.ops.aten.unsafe_split(x, 1)[0]), (2, 3), "unsafe_split", 0, 0, 0),
    ("unsafe_split_with_sizes", Fn(lambda m, x: torch.ops.aten.unsafe_split_with_sizes(x, [1, 1])[0]), (2, 3),
     "unsafe_split_with_sizes", 0, 0, 0),
    # sine and cosine (rotary embeddings) of 2x3: one evaluation per element (6); reads 6, writes 6
    ("sin", Fn(lambda m, x: torch.sin(x)), (2, 3), "sin", 6, 0, 12),
    ("cos", Fn(lambda m, x: torch.cos(x)), (2, 3), "cos", 6, 0, 12),
    # mirror padding of 1x1x3x3 by 1 on every side: a copy into 1x1x5x5; reads 9, writes 25
    ("reflection_pad2d", Fn(lambda m, x: nnf.pad(x, (1, 1, 1, 1), mode="reflect")), (1, 1, 3, 3),
     "reflection_pad2d", 0, 0, 34),
    # edge padding of 1x2x3 by 2 on the left: 1x2x5; reads 6, writes 10
    ("replication_pad1d", Fn(lambda m, x: nnf.pad(x, (2, 0), mode="replicate")), (1, 2, 3),
     "replication_pad1d", 0, 0, 16),
    # running sum along the rows of 2x3: one add per element (6); reads 6, writes 6
    ("cumsum", Fn(lambda m, x: torch.cumsum(x, 1)), (2, 3), "cumsum", 6, 0, 12),
    # linear x2 of 1x2x3 to 1x2x6: 12 outputs x (2 multiplies + 1 add) = 36; reads 6, writes 12
    ("linear1d", Fn(lambda m, x: nnf.interpolate(x, scale_factor=2, mode="linear")), (1, 2, 3),
     "upsample_linear1d", 36, 0, 18),
    # adaptive max pool of 1x2x5x5 to 3x3: windows over 5 positions [0,2) [1,4) [3,5) sum to 7 per axis,
    # so 2 channels x 7 x 7 = 98 compares; reads 50, writes 18 values (the indices are not counted)
    ("adaptive_max_pool2d", Fn(lambda m, x: nnf.adaptive_max_pool2d(x, 3)), (1, 2, 5, 5),
     "adaptive_max_pool2d", 98, 0, 68),
    # 7 over 7 positions: windows of 1, a plain copy of 1x1x7x7: 49 compares; reads 49, writes 49
    ("adaptive_max_pool2d_same", Fn(lambda m, x: nnf.adaptive_max_pool2d(x, 7)), (1, 1, 7, 7),
     "adaptive_max_pool2d", 49, 0, 98),
    # a 3x3 identity: 9 elements written, nothing read
    ("eye", Fn(lambda m, x: x + torch.eye(3, device=x.device)), (3, 3), "eye", 0, 0, 9),
]
CASES[0][1].emb = nn.Embedding(10, 4)

# mac_bytes where an int64 (8-byte) tensor is read or written; elsewhere 4 x mac.
BYTES = {
    "embedding": 6 * 8 + 48 * 4,
    "gather": 6 * 8 + 12 * 4,
    "index": 3 * 8 + 30 * 4,
    "arange": 4 * 8,
    "max_dim": 24 * 4 + 8 * 4 + 8 * 8,  # values float32, indices int64
    "max_all": 25 * 4,
    "all_dim": 30 * 1,  # bool in, bool out
}


def _op_row(p, op):
    rows = p.ops[p.ops["op"] == op]
    assert len(rows) == 1, p.ops
    return rows.iloc[0]


@pytest.mark.parametrize("case, module, shape, op, flops, mult_adds, mac", CASES, ids=[c[0] for c in CASES])
def test_op_cost(case, module, shape, op, flops, mult_adds, mac):
    p = profile(module, shape)
    assert p.complete, p.uncounted
    row = _op_row(p, op)
    assert (row["flops"], row["mult_adds"], row["mac"]) == (flops, mult_adds, mac)
    assert row["mac_bytes"] == BYTES.get(case, 4 * mac)


def test_copy_between_dtypes_counts_each_side_in_its_own_size():
    # 6 float32 source elements read (24 bytes) and 6 float16 written (12 bytes)
    p = profile(Fn(lambda m, x: torch.empty(x.shape, dtype=torch.float16, device=x.device).copy_(x)), (2, 3))
    row = _op_row(p, "copy_")
    assert (row["mac"], row["mac_bytes"]) == (12, 36)


def test_embedding_reads_selected_rows_not_the_table():
    # A 1000-row table and 2 ids: 2 + 2*8 + 2*8 = 34, not 8000 + ...
    m = Fn(lambda m, x: m.emb(_long(x)))
    m.emb = nn.Embedding(1000, 8)
    row = _op_row(profile(m, (1, 2)), "embedding")
    assert row["mac"] == 2 + 16 + 16


# --- attention ------------------------------------------------------------------------------------
# q 1x2x3x4 (B=1, H=2, L=3, E=4), k 1x2x5x4 (S=5), v 1x2x5x6 (Ev=6): 30 scores.
# mult_adds = 30 * (4 + 6) = 300; flops = 600 + 5 per score (scale, softmax) = 750 (+30 with a mask).
# fused MAC = q 24 + k 40 + v 60 + out 36 = 160 (+ mask 15); unfused adds 4 x 30 (+ 2 x 30 with a mask).
ATT = [
    # (mask?, unfused?, flops, mult_adds, mac)
    (False, False, 750, 300, 160),
    (False, True, 750, 300, 160 + 120),
    (True, False, 780, 300, 175),
    (True, True, 780, 300, 175 + 180),
]


def _attention(mask: bool):
    def fn(m, q):
        return nnf.scaled_dot_product_attention(q, m.k, m.v, attn_mask=m.mask if mask else None)

    return Fn(fn, k=torch.randn(1, 2, 5, 4), v=torch.randn(1, 2, 5, 6), mask=torch.zeros(3, 5))


@pytest.mark.parametrize("mask, unfused, flops, mult_adds, mac", ATT)
def test_attention_cost(mask, unfused, flops, mult_adds, mac):
    p = profile(_attention(mask), (1, 2, 3, 4), formulas=UNFUSED_ATTENTION if unfused else None)
    assert p.complete, p.uncounted
    assert list(p.ops["op"]) == ["scaled_dot_product_attention"]  # one op, not its decomposition
    row = _op_row(p, "scaled_dot_product_attention")
    assert (row["flops"], row["mult_adds"], row["mac"], row["mac_bytes"]) == (flops, mult_adds, mac, 4 * mac)


def test_attention_fp16_moves_half_the_bytes_of_fp32():
    # The meta reference path upcasts fp16 to fp32; that is not traffic: same elements, half the bytes.
    p32 = profile(_attention(False), (1, 2, 3, 4), "float32")
    p16 = profile(_attention(False), (1, 2, 3, 4), "float16")
    assert p16.totals.mac == p32.totals.mac == 160
    assert (p32.totals.mac_bytes, p16.totals.mac_bytes) == (640, 320)


def test_attention_mult_adds_match_flop_counter():
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    m = _attention(True)
    fc = FlopCounterMode(display=False)
    with fc, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        m(torch.randn(1, 2, 3, 4))
    assert profile(m, (1, 2, 3, 4)).totals.mult_adds == fc.get_total_flops() // 2 == 300


def test_grouped_query_attention():
    # 4 query heads share 2 key/value heads: scores 1*4*3*5 = 60, mult_adds 60*(4+4) = 480
    m = Fn(lambda m, q: nnf.scaled_dot_product_attention(q, m.k, m.v, enable_gqa=True),
           k=torch.randn(1, 2, 5, 4), v=torch.randn(1, 2, 5, 4))
    p = profile(m, (1, 4, 3, 4))
    assert p.totals.mult_adds == 480
    # q 48 + k 40 + v 40 + out 48
    assert _op_row(p, "scaled_dot_product_attention")["mac"] == 176


def test_attention_bad_shapes_keep_pytorch_error():
    from effkit.errors import BadInputError

    m = Fn(lambda m, q: nnf.scaled_dot_product_attention(q, m.k, m.k), k=torch.randn(1, 2, 5, 3))
    with pytest.raises(BadInputError):
        profile(m, (1, 2, 3, 4))
