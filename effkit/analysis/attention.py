"""Record ``F.scaled_dot_product_attention`` as one op instead of its meta decomposition.

``aten.scaled_dot_product_attention`` is a composite op: below the autograd key it picks a kernel,
and on the meta device that is the math path, so a dispatch mode sees its pieces (scale, two
``bmm``, ``_safe_softmax``, and fp32 upcasts of fp16 inputs) rather than the attention a GPU runs
as one fused kernel. For the length of a trace ``torch.nn.functional.scaled_dot_product_attention``
is replaced (by :mod:`effkit.analysis.patches`) by a function that calls :func:`attention`, which
makes the meta output itself and writes a single ``aten.scaled_dot_product_attention`` record
(inputs q, k, v and the mask), costed by :func:`effkit.analysis.formulas.attention_cost`. ``nn.MultiheadAttention`` and most model libraries
call it through the module attribute, so they are covered; anything unusual (real tensors, mixed
dtypes, shapes PyTorch would reject) goes to the original function and its decomposition.
"""

from __future__ import annotations

import torch

from effkit.analysis.records import OpRecord, arg_ids, flow, info

aten = torch.ops.aten
_META = torch.device("meta")


def _shape_ok(q, k, v, mask, enable_gqa: bool) -> bool:
    """q (..., L, E), k (..., S, E), v (..., S, Ev), same batch dims (or grouped heads), mask broadcastable."""
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        return False
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] or k.shape[:-2] != v.shape[:-2]:
        return False
    if q.shape[:-2] != k.shape[:-2]:
        # Grouped-query attention: heads (dim -3) a multiple of the key heads, the rest equal.
        if not enable_gqa or q.dim() < 3 or q.shape[:-3] != k.shape[:-3] or q.shape[-3] % k.shape[-3]:
            return False
    if mask is not None:
        scores = (*q.shape[:-1], k.shape[-2])
        try:
            return tuple(torch.broadcast_shapes(mask.shape, scores)) == scores
        except RuntimeError:
            return False
    return True


def attention(calls: list, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
              enable_gqa=False):
    """Make the meta output and write one ``aten.scaled_dot_product_attention`` record on ``calls[-1]``
    (the tracer's stack); ``NotImplemented`` for anything unusual, which the original function handles."""
    ts = (query, key, value)
    plain = all(isinstance(t, torch.Tensor) and t.is_meta and t.dtype == query.dtype for t in ts)
    if attn_mask is not None:  # a mask with is_causal is PyTorch's own error
        plain = plain and isinstance(attn_mask, torch.Tensor) and attn_mask.is_meta and not is_causal
    if not plain or not calls or not _shape_ok(query, key, value, attn_mask, enable_gqa):
        return NotImplemented
    with torch._C._DisableTorchDispatch():  # the allocation is not an op of the model
        out = torch.empty((*query.shape[:-1], value.shape[-1]), dtype=query.dtype, device=_META)
    infos = tuple(info(t) for t in (*ts, attn_mask) if t is not None)
    args = (query, key, value, attn_mask, dropout_p, is_causal)
    kwargs = {"scale": scale, "enable_gqa": enable_gqa}
    # the tensor ids let the fused-MAC pass follow attention's inputs and output like any other op's
    calls[-1].ops.append(OpRecord(aten.scaled_dot_product_attention.default, infos, (info(out),), args, kwargs,
                                  flow(arg_ids(args, {}), (id(out),))))
    return out
