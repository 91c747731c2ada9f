"""Op kinds and the features of one model at one benchmark setup (input size, batch, dtype).

A roofline predictor needs more than whole-model totals: a depthwise conv, a dense conv, a layer norm and
a concatenation reach very different fractions of a device's peak. Every aten op of a trace falls in one
:data:`KINDS` entry (:func:`op_kind`), and :func:`setup_features` sums flops, eager and fused bytes and
kernel launches per kind.

Batch scaling: an analysis on the meta device costs about the same at any batch, but a trace at batch
1024 of a large model still takes seconds, so :func:`setup_features` traces at batch 2 and 3 and takes
every quantity as ``fixed + batch * per_image``. That is exact when each op's cost is affine in the
batch, as for the ops of a feed-forward image model: activations scale with the batch, weights and
constant tables (a relative-position bias) are read once per call whatever the batch, and kernel counts
do not depend on it. Batch 1 is the exception and gets its own trace: a reshape of a permuted tensor
whose batch dimension is 1 is often a view where any larger batch needs a copy (CaiT, BoTNet, CoaT).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from effkit.analysis import formulas as F

aten = torch.ops.aten

#: The op kinds, in column order. ``view`` ops (reshapes, slices) move nothing and launch nothing.
KINDS = ("conv", "conv_grouped", "conv_depthwise", "matmul", "attention", "norm", "softmax",
         "elementwise", "pool_reduce", "data_movement", "resample", "other")

_BY_FORMULA = {
    F.elementwise_cost: "elementwise",
    F.reduction_cost: "pool_reduce",
    F.pool2d_cost: "pool_reduce",
    F.vector_norm_cost: "norm",
    F.norm_with_stats_cost: "norm",
    F.batch_norm_cost: "norm",
    F.batch_norm_training_cost: "norm",
    F.batch_norm_either_cost: "norm",
    F.softmax_cost: "softmax",
    F.mm_cost: "matmul",
    F.bmm_cost: "matmul",
    F.attention_cost: "attention",
    F.attention_unfused_cost: "attention",
    F.copy_cost: "data_movement",
    F.write_only_cost: "data_movement",
    F.copy_into_cost: "data_movement",
    F.embedding_cost: "data_movement",
    F.gather_cost: "data_movement",
    F.col2im_cost: "data_movement",
    F.upsample_nearest_cost: "data_movement",
    F.upsample_bilinear_cost: "resample",
    F.upsample_bicubic_cost: "resample",
    F.upsample_linear_cost: "resample",
    F.adaptive_max_pool2d_cost: "pool_reduce",
    F.scan_cost: "pool_reduce",
    F.scalar_read_cost: "data_movement",
}


def op_kind(name: str) -> str:
    """The kind of aten op ``name`` (``"view"`` for free ops); convolutions are split by :func:`conv_kind`."""
    op = getattr(aten, name, None)
    fn = F.get_formula(op) if op is not None else None
    if fn is None:
        return "other"
    if fn is F._free:
        return "view"
    if fn is F.conv_cost:
        return "conv"
    return _BY_FORMULA.get(fn, "other")


def conv_kind(inputs, args) -> str:
    """``conv`` (groups 1), ``conv_depthwise`` (one group per input channel) or ``conv_grouped``."""
    groups = args[8] if len(args) > 8 else 1
    if groups == 1:
        return "conv"
    return "conv_depthwise" if groups == inputs[0].shape[1] else "conv_grouped"


#: Kinds whose ops keep a kernel of their own under the fusion rules even when part of their traffic is saved.
_OWN_KERNEL = frozenset({"conv", "conv_grouped", "conv_depthwise", "matmul", "data_movement"})

#: Whole-model quantities of :class:`~effkit.analysis.profile.Totals` carried per image and per batch.
TOTALS = ("mult_adds", "flops", "paper_mac", "mac", "mac_bytes", "mac_fused", "mac_fused_bytes", "activations")


def trace_sums(model: nn.Module, size: int, batch: int, dtype: str) -> dict[str, Any]:
    """Totals, per-kind sums (:data:`KIND_COLUMNS`), kernel counts and uncounted ops of one trace at ``batch``."""
    from effkit.analysis.profile import profile

    convs: list[str] = []

    def conv_recorded(inputs, outputs, args, kwargs):  # the kind of each conv, in trace order
        convs.append(conv_kind(inputs, args))
        return F.conv_cost(inputs, outputs, args, kwargs)

    p = profile(model, (batch, 3, size, size), dtype, warn=False,
                formulas={aten.convolution: conv_recorded, aten._convolution: conv_recorded})
    out: dict[str, Any] = {k: v for k, v in p.totals.as_dict().items()}
    for kind in KINDS:
        for q in ("flops", "bytes", "fused_bytes", "kernels", "kernels_fused"):
            out[f"{kind}_{q}"] = 0
    kinds: dict[str, str] = {}
    conv_i = 0
    kernels = kernels_fused = 0
    for _, _, name, flops, _, mac, mac_bytes, counted, fused, fused_bytes in p.ops.itertuples(index=False):
        if name in ("convolution", "_convolution"):
            kind = convs[conv_i]
            conv_i += 1
        else:
            kind = kinds.get(name) or kinds.setdefault(name, op_kind(name))
        if kind == "view":
            continue
        if not counted:  # missing, not free: it launches a kernel whose cost is unknown
            out[f"{kind}_kernels"] += 1
            kernels += 1
            continue
        out[f"{kind}_flops"] += flops
        out[f"{kind}_bytes"] += mac_bytes
        out[f"{kind}_fused_bytes"] += fused_bytes
        if mac:
            out[f"{kind}_kernels"] += 1
            kernels += 1
        # Under fusion an op runs inside its producer's kernel when the rules saved part of its traffic
        # (a folded batch norm, an epilogue activation or add); conv and matmul heads and the copies a
        # concatenation still makes keep their own kernel.
        if fused and (fused == mac or kind in _OWN_KERNEL):
            out[f"{kind}_kernels_fused"] += 1
            kernels_fused += 1
    out["kernels"], out["kernels_fused"] = kernels, kernels_fused
    out["params"] = p.totals.params
    out["uncounted"] = dict(p.uncounted)
    out["other_ops"] = sorted({n for n, k in kinds.items() if k == "other"})
    return out


#: Per-kind quantities (per batch); kernel counts do not depend on the batch.
KIND_COLUMNS = tuple(f"{k}_{q}" for k in KINDS for q in ("flops", "bytes", "fused_bytes", "kernels", "kernels_fused"))


def trace_pair(model: nn.Module, size: int, dtype: str) -> tuple[dict, dict]:
    """The sums of two traces of ``model`` at ``size`` in ``dtype``: at batch 2 and at batch 3."""
    return trace_sums(model, size, 2, dtype), trace_sums(model, size, 3, dtype)


def at_batch(pair: tuple[dict, dict] | None, batch: int, one: dict | None = None) -> dict[str, Any]:
    """The features at ``batch`` from :func:`trace_pair`; at batch 1, ``one`` (the trace at batch 1) is needed.

    ``pair`` may be None at batch 1: the row then has no ``_per_image`` and ``_fixed`` numbers (None).
    See :func:`setup_features` for the columns.
    """
    if batch == 1 and one is None:
        raise ValueError("batch 1 needs its own trace (one=trace_sums(model, size, 1, dtype))")
    if pair is None and batch != 1:
        raise ValueError(f"batch {batch} needs the traces at batch 2 and 3 (trace_pair)")
    exact = one if batch == 1 else None
    two, three = pair or (None, None)
    out: dict[str, Any] = {"params": (two or one)["params"]}
    for k in TOTALS:
        per_image = three[k] - two[k] if pair else None
        fixed = two[k] - 2 * per_image if pair else None
        out[f"{k}_per_image"] = per_image
        out[f"{k}_fixed"] = fixed
        out[f"{k}_per_batch"] = exact[k] if exact else fixed + batch * per_image
    for c in KIND_COLUMNS:
        if exact:
            out[c] = exact[c]
        elif c.endswith(("_kernels", "_kernels_fused")):
            out[c] = two[c]
        else:
            per_image = three[c] - two[c]
            out[c] = two[c] - 2 * per_image + batch * per_image
    src = exact or two
    out["kernels"], out["kernels_fused"] = src["kernels"], src["kernels_fused"]
    out["uncounted"] = dict(src["uncounted"])
    out["other_ops"] = sorted(set(two["other_ops"] if two else ()) | set(exact["other_ops"] if exact else ()))
    # The scaling is exact only when the two traces ran the same kernels.
    out["affine"] = not pair or all(two[c] == three[c] for c in ("kernels", "kernels_fused", *KIND_COLUMNS)
                                    if c.startswith("kernels") or c.endswith(("_kernels", "_kernels_fused")))
    return out


def setup_features(model: nn.Module, size: int, batch: int, dtype: str) -> dict[str, Any]:
    """The features of ``model`` at input ``batch x 3 x size x size`` in ``dtype`` (NCHW).

    Returns ``params``; for each of :data:`TOTALS` ``NAME_per_image`` (what one more image adds),
    ``NAME_fixed`` (what a call costs whatever the batch: weights, constant tables) and
    ``NAME_per_batch`` (the whole call: ``fixed + batch * per_image``, or the batch-1 trace itself at
    batch 1, where a reshape of a tensor with a size-1 batch is often a view that copies at any larger
    batch, so batch 1 can run fewer kernels than the line through batches 2 and 3 says); the per-kind columns of
    :data:`KIND_COLUMNS` for the whole call; ``kernels`` / ``kernels_fused`` (ops that launch a kernel,
    eagerly and under the fusion rules of :mod:`effkit.analysis.fused`); ``uncounted`` (op -> calls at
    batch 1) and ``other_ops`` (op names of kind ``other``); ``affine``: False when the two traces ran
    different numbers of kernels (the scaling would then not be exact).
    """
    one = trace_sums(model, size, 1, dtype) if batch == 1 else None
    return at_batch(trace_pair(model, size, dtype), batch, one)
