"""What the tracer keeps of one aten op: a flat record of shapes, no tensors and no pytree.

Aten arguments are flat (tensors, scalars, lists of tensors or scalars, a kwargs dict), so one loop
finds every tensor; each becomes a :class:`~effkit.analysis.formulas.TensorInfo` (a named tuple of
shape and element size), in the order ``torch.utils._pytree`` would give them.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import torch

from effkit.analysis.formulas import TensorInfo

_Tensor = torch.Tensor


class Flow(NamedTuple):
    """Where an op sits in the data flow: its place in the run and which tensors it read and wrote.

    Tensors are named by ``id()``. The trace keeps every argument alive in its records, so the id of
    a tensor that was read cannot be reused while the trace runs; an output nobody read may be freed
    and its id reused, which is why a reader is matched to the *latest* op that wrote that id.
    An id of 0 stands for a tensor the op reports but never made (the empty BN statistics).
    """

    seq: int  # order of the op in the run, across all module calls (increasing, not contiguous)
    inputs: tuple  # id of each tensor in OpRecord.inputs, same order
    outputs: tuple  # id of each tensor in OpRecord.outputs, same order


class OpRecord(NamedTuple):
    """One aten op call as the tracer saw it (a tuple: add fields at the end to extend it)."""

    op: Any  # torch._ops.OpOverload
    inputs: tuple  # TensorInfo of every tensor argument, in argument order
    outputs: tuple  # TensorInfo of every tensor the op returned
    args: tuple
    kwargs: dict
    flow: Flow | None = None  # None: the data flow is unknown (no fusion across this op)


#: One counter for every trace: only the order of ops within a trace matters.
_SEQ = itertools.count()


def flow(inputs: tuple, outputs: tuple) -> Flow:
    """A :class:`Flow` for the op about to be recorded, from the ids of its input and output tensors."""
    return Flow(next(_SEQ), inputs, outputs)


def tensor_ids(values) -> tuple:
    """``id`` of each tensor in ``values`` and in the lists or tuples among them: the order of :func:`tensor_infos`."""
    out = []
    for v in values:
        if isinstance(v, _Tensor):
            out.append(id(v))
        elif isinstance(v, (list, tuple)):
            out.extend(id(t) for t in v if isinstance(t, _Tensor))
    return tuple(out)


def arg_ids(args: tuple, kwargs: dict) -> tuple:
    return tensor_ids(args) + tensor_ids(kwargs.values()) if kwargs else tensor_ids(args)


def out_ids(out) -> tuple:
    if isinstance(out, _Tensor):
        return (id(out),)
    return tensor_ids(out) if isinstance(out, (list, tuple)) else ()


def info(t: torch.Tensor) -> TensorInfo:
    return TensorInfo(tuple(t.shape), t.itemsize)


def tensor_infos(values) -> tuple:
    """TensorInfo of each tensor in ``values`` and in the lists or tuples among them (one level)."""
    out = []
    for v in values:
        if isinstance(v, _Tensor):
            out.append(TensorInfo(tuple(v.shape), v.itemsize))
        elif isinstance(v, (list, tuple)):
            out.extend(TensorInfo(tuple(t.shape), t.itemsize) for t in v if isinstance(t, _Tensor))
    return tuple(out)


def arg_infos(args: tuple, kwargs: dict) -> tuple:
    return tensor_infos(args) + tensor_infos(kwargs.values()) if kwargs else tensor_infos(args)


def out_infos(out) -> tuple:
    if isinstance(out, _Tensor):
        return (TensorInfo(tuple(out.shape), out.itemsize),)
    return tensor_infos(out) if isinstance(out, (list, tuple)) else ()


def shapes(values) -> list[tuple[int, ...]]:
    """Shapes of the tensors in ``values`` (a module's inputs or outputs: a tensor, or a flat sequence)."""
    if isinstance(values, _Tensor):
        return [tuple(values.shape)]
    if isinstance(values, dict):
        values = values.values()
    elif not isinstance(values, (list, tuple)):
        return []
    out = []
    for v in values:
        if isinstance(v, _Tensor):
            out.append(tuple(v.shape))
        elif isinstance(v, (list, tuple, dict)):
            out.extend(shapes(v))
    return out
