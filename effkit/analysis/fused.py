"""Fused MAC: the memory traffic of a deployed (fused) model, next to what eager PyTorch moves.

Eager MAC charges every op for reading each input once and writing each output once
(:mod:`effkit.analysis.formulas`). An inference engine moves less: it folds batch norm into the
preceding conv, runs activations and the residual add as the producer's epilogue, and lets the
producers of a concatenation write straight into its buffer. ``mac_fused`` is the eager MAC of each op
less what these rules save. The rules, all of them here:

1. **Chains** (:func:`absorbs`). A chain starts at a conv or linear (:data:`CHAIN_HEADS`). The op
   consuming the chain's output joins the chain when it is a batch norm (:data:`FOLDED`), an
   activation (:data:`EPILOGUES`) or an elementwise add (:data:`ADDS`), and when the tensor between
   them is *materialisable away*: its only reader is that op, and the op's output has as many elements
   (no broadcast onto a bigger tensor). The ops of a chain move nothing extra, except the add's other
   operand, read once; a batch norm's statistics and affine weights are folded into the conv's weights
   offline and cost nothing. The chain's output is written once, by its last op (:func:`savings`).
   When both operands of an add come from chains, the later one absorbs the add; the other is written
   and read once.
2. **Concatenation** (:func:`writes_in_place`). ``cat`` moves nothing for an input *produced for it*:
   made by an op (not a model input or a weight), as big as the part of the buffer it fills, and read
   by no earlier ``cat``. Its producer writes it straight into the concatenation buffer, once; any other
   reader of that tensor reads it from there (a tensor read by several readers must be materialised
   somewhere anyway, and this buffer is as good a place as any). A tensor lives in one buffer only,
   so a second ``cat`` of it copies it; and when the buffer or the input is overwritten in place
   later, only an input that this ``cat`` alone reads is free. Any other input is copied: read once and written once.
3. **Views** (:data:`VIEWS`) move nothing (as in eager MAC) and are transparent: a reader of a view
   reads the viewed tensor, so two views of one tensor, each read, make two readers.

Everything else costs its eager MAC. A tensor with more than one reader is always materialised.

Limits (what real engines do beyond this): they fuse more (pooling, pointwise chains without a conv,
a conv into the next 1x1 conv, attention blocks), plan memory so that DenseNet's repeatedly
concatenated features live in one shared buffer (here each ``cat`` after the first that takes a
feature copies it), pick kernels that re-read inputs (tiling, im2col) or keep them in cache, and may
change the layout (NCHW to NHWC) with copies of their own. So ``mac_fused`` is a model of the traffic a
fusing engine cannot avoid under these rules, not a measurement of any one engine. Ops without a
:class:`~effkit.analysis.records.Flow` (records made without tensor ids) switch fusion off for the
whole trace: ``mac_fused`` is then the eager MAC.
"""

from __future__ import annotations

from typing import Callable, Iterable

from effkit.analysis.formulas import ALIASING_OPS

#: Ops that start a chain: their output can take an epilogue.
CHAIN_HEADS = frozenset({"convolution", "_convolution", "addmm", "mm"})
#: Batch norm at inference: folded into the head's weights and bias (``native_batch_norm`` only when not training).
FOLDED = frozenset({"native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit"})
#: Pointwise activations, run on the head's output before it is stored.
EPILOGUES = frozenset({
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu", "elu_",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "hardsigmoid", "hardsigmoid_", "hardswish", "hardswish_",
    "silu", "silu_", "gelu", "gelu_", "mish", "mish_", "clamp", "clamp_", "clamp_min", "clamp_min_",
})
#: The residual add: the other operand is read once, inside the epilogue.
ADDS = frozenset({"add", "add_"})
#: Concatenation: inputs produced for it are written into its buffer by their producers.
CONCATS = frozenset({"cat"})
#: Ops whose output aliases their first input: free, and transparent to readers.
VIEWS = ALIASING_OPS - {"empty", "empty_like", "empty_strided", "new_empty"}


class _Value:
    """One version of one tensor: the op that wrote it and the ops that read it."""

    __slots__ = ("op", "slot", "numel", "nbytes", "readers")

    def __init__(self, op: int, slot: int, numel: int, nbytes: int):
        self.op, self.slot, self.numel, self.nbytes = op, slot, numel, nbytes
        self.readers: list[int] = []


def _dataflow(recs: list, names: list[str]) -> tuple[list[list], list[list]]:
    """For each op (in run order), the :class:`_Value` each tensor input read (None: made outside the
    trace) and the values it wrote.

    Readers are registered on the values as a side effect. A view registers no reader: its outputs
    stand for the value it views. An in-place op reads the old version of its tensor and writes a new one.
    """
    current: dict[int, _Value | None] = {}
    reads: list[list] = []
    writes: list[list] = []
    for i, rec in enumerate(recs):
        got = [current.get(t) for t in rec.flow.inputs]
        reads.append(got)
        made: list[_Value] = []
        writes.append(made)
        if names[i] in VIEWS:
            for t in rec.flow.outputs:
                current[t] = got[0] if got else None
            continue
        for v in got:
            if v is not None:
                v.readers.append(i)
        for slot, (t, ti) in enumerate(zip(rec.flow.outputs, rec.outputs)):
            if t:
                current[t] = v = _Value(i, slot, ti.numel, ti.numel * ti.itemsize)
                made.append(v)
    return reads, writes


def absorbs(name: str, rec, got: list, chained: list[bool]) -> int | None:
    """Rule 1: the input slot through which op ``rec`` joins a chain, or None."""
    if name in FOLDED:
        if len(rec.args) > 5 and rec.args[5] is True:
            return None  # batch norm with batch statistics (training): nothing to fold
        slots = [0]
    elif name in EPILOGUES:
        slots = [0]
    elif name in ADDS:
        slots = [s for s in range(min(2, len(got)))]
    else:
        return None
    out = rec.outputs[0].numel if rec.outputs else -1
    best = None
    for s in slots:
        v = got[s] if s < len(got) else None
        if v is None or v.slot != 0 or not chained[v.op] or len(v.readers) != 1 or v.numel != out:
            continue
        if best is None or v.op > got[best].op:
            best = s  # the later producer takes the epilogue
    return best


def writes_in_place(rec, got: list, hosted: set[int], overwritten: Callable[[_Value], bool],
                    out: list) -> list[int]:
    """Rule 2: the input slots of a ``cat`` whose producers write straight into its buffer.

    ``hosted`` holds the ``id`` of every value an earlier ``cat`` already took (updated here);
    ``overwritten(value)``: an in-place op writes over it; ``out``: the values the ``cat`` wrote.
    """
    free = []
    changed = any(overwritten(v) for v in out)
    for s, v in enumerate(got):
        if v is None or id(v) in hosted or v.numel != rec.inputs[s].numel:
            continue
        if (changed or overwritten(v)) and len(v.readers) != 1:
            continue  # sharing the buffer would let one reader see another's in-place change
        hosted.add(id(v))
        free.append(s)
    return free


def savings(calls: Iterable) -> dict[tuple[int, int], tuple[int, int]]:
    """``{(call index, op index): (elements, bytes)}``: what the fusion rules take off each op's eager MAC.

    The key indexes ``calls[ci].ops[oi]``; ops that save nothing are absent.
    """
    keyed = [((ci, oi), rec) for ci, call in enumerate(calls) for oi, rec in enumerate(call.ops)]
    if any(rec.flow is None for _, rec in keyed):
        return {}
    keyed.sort(key=lambda kr: kr[1].flow.seq)
    recs = [rec for _, rec in keyed]
    cache: dict = {}  # op overload -> name: a few dozen distinct ops among thousands of records
    names = [cache.get(r.op) or cache.setdefault(r.op, r.op.overloadpacket.__name__) for r in recs]
    reads, writes = _dataflow(recs, names)
    chained = [False] * len(recs)
    hosted: set[int] = set()
    saved = [[0, 0] for _ in recs]

    def overwritten(v: _Value) -> bool:
        # an in-place op writes over its first argument (self)
        return any(names[r].endswith("_") and reads[r] and reads[r][0] is v for r in v.readers)

    for i, (rec, got, name) in enumerate(zip(recs, reads, names)):
        if name in CHAIN_HEADS:
            chained[i] = True
            continue
        if name in CONCATS:
            for s in writes_in_place(rec, got, hosted, overwritten, writes[i]):
                # the copy cat would do (read the part, write it again) is the producer's own write
                saved[i][0] += 2 * rec.inputs[s].numel
                saved[i][1] += 2 * rec.inputs[s].numel * rec.inputs[s].itemsize
            continue
        s = absorbs(name, rec, got, chained)
        if s is None:
            continue
        chained[i] = True
        v = got[s]
        saved[v.op][0] += v.numel  # the producer no longer writes the tensor ...
        saved[v.op][1] += v.nbytes
        dropped = rec.inputs if name in FOLDED else rec.inputs[s:s + 1]  # ... nor this op read it
        saved[i][0] += sum(t.numel for t in dropped)  # (BN: its statistics too, folded offline)
        saved[i][1] += sum(t.numel * t.itemsize for t in dropped)
    return {key: (e, b) for (key, _), (e, b) in zip(keyed, saved) if e or b}
