"""What the tracer keeps of one aten op: a flat record of shapes, no tensors and no pytree.

Aten arguments are flat (tensors, scalars, lists of tensors or scalars, a kwargs dict), so one loop
finds every tensor; each becomes a :class:`~effkit.analysis.formulas.TensorInfo` (a named tuple of
shape and element size), in the order ``torch.utils._pytree`` would give them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from effkit.analysis.formulas import TensorInfo

_Tensor = torch.Tensor


class OpRecord(NamedTuple):
    """One aten op call as the tracer saw it (a tuple: add fields at the end to extend it)."""

    op: Any  # torch._ops.OpOverload
    inputs: tuple  # TensorInfo of every tensor argument, in argument order
    outputs: tuple  # TensorInfo of every tensor the op returned
    args: tuple
    kwargs: dict


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
