"""Shape-and-record shortcuts one level above the dispatcher, for the leaf modules of a CNN.

Most ops of a CNN run inside a ``Conv2d``, ``BatchNorm2d``, ``ReLU``, pooling or ``Linear`` leaf.
For those, when the case is one effkit works out exactly, the tracer's forward for the module
(:mod:`effkit.analysis.tracer`) calls the shortcut here, which makes the output meta tensor and
writes the op records the dispatcher would have produced (same ops, same tensors in the same order, same arguments the
formulas read), without the round trip through the dispatch mode. Anything else (a subclass, an
unusual input, a dtype or device mix) returns ``NotImplemented`` and runs the module's own forward.
``torch.cat``, the one functional op a DenseNet or VoVNet calls at every block, gets the same kind of
shortcut for the length of a trace (:func:`cat`, put in place by :mod:`effkit.analysis.patches`).

``tests/test_fast_path.py`` checks that both paths give identical rows on every zoo model.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from effkit.analysis.formulas import TensorInfo
from effkit.analysis.records import OpRecord, flow, info
from effkit.analysis.shapes import conv_shape, pair, pool_shape

aten = torch.ops.aten
_Tensor = torch.Tensor
_META = torch.device("meta")


def _empty(shape, dtype: torch.dtype) -> torch.Tensor:
    # The dispatch mode is active here; it must not see (and record) the allocation of an output.
    with torch._C._DisableTorchDispatch():
        return torch.empty(shape, dtype=dtype, device=_META)


def _plain(x, *others) -> bool:
    """``x`` is a contiguous meta tensor and every other tensor given is meta and of its dtype (None is skipped).

    A shortcut's outputs are contiguous; on another memory format (channels-last, a permuted view) the
    kernels keep the input's strides and may record extra ops (ConvNeXt's pool records ``as_strided_``),
    so such inputs take the dispatch path.
    """
    if not isinstance(x, _Tensor) or not x.is_meta or not x.is_contiguous():
        return False
    return all(t is None or (t.is_meta and t.dtype == x.dtype) for t in others)


def _infos(*tensors) -> tuple:
    return tuple(info(t) for t in tensors if t is not None)


def _ids(*tensors) -> tuple:
    """Ids of the tensors given, None skipped: the order of :func:`_infos` (see :class:`~effkit.analysis.records.Flow`)."""
    return tuple(id(t) for t in tensors if t is not None)


def _trim(args: list, defaults: list) -> tuple:
    """Drop trailing arguments that equal their defaults (the dispatcher hands them over trimmed)."""
    n = len(args)
    while n > len(args) - len(defaults) and args[n - 1] == defaults[n - 1 - (len(args) - len(defaults))]:
        n -= 1
    return tuple(args[:n])


def conv2d(mod: nn.Conv2d, x):
    """``aten.convolution`` of a zero-padded 2-d conv on a batched input."""
    w, b = mod.weight, mod.bias
    if mod.padding_mode != "zeros" or isinstance(mod.padding, str) or not _plain(x, w, b) or x.dim() != 4:
        return NotImplemented
    stride, padding, dilation = list(mod.stride), list(mod.padding), list(mod.dilation)
    out = _empty(conv_shape(x.shape, w.shape, stride, padding, dilation, mod.groups), x.dtype)
    args = (x, w, b, stride, padding, dilation, False, [0, 0], mod.groups)
    return out, [OpRecord(aten.convolution.default, _infos(x, w, b), (info(out),), args, {},
                          flow(_ids(x, w, b), (id(out),)))]


def batch_norm2d(mod: nn.BatchNorm2d, x):
    """Inference batch norm with running statistics: the reserve allocation, then ``native_batch_norm``."""
    w, b, mean, var = mod.weight, mod.bias, mod.running_mean, mod.running_var
    if mod.training or mean is None or var is None or not _plain(x, w, b, mean, var) or x.dim() != 4:
        return NotImplemented
    if any(t is not None and tuple(t.shape) != (x.shape[1],) for t in (w, b, mean, var)):
        return NotImplemented  # a channel mismatch: PyTorch's own error
    out = _empty(x.shape, x.dtype)
    momentum = 0.0 if mod.momentum is None else mod.momentum
    args = (x, w, b, mean, var, False, momentum, mod.eps)
    # Saved statistics, as the meta kernel makes them: per channel, float32 for reduced precision.
    stat = TensorInfo((x.shape[1],), 4 if x.dtype in (torch.float16, torch.bfloat16) else x.itemsize)
    reserve = OpRecord(aten.empty.memory_format, (), (TensorInfo((0,), 1),), ([0],),
                       {"dtype": torch.uint8, "layout": torch.strided, "device": _META}, flow((), (0,)))
    return out, [reserve, OpRecord(aten.native_batch_norm.default, _infos(x, w, b, mean, var),
                                   (info(out), stat, stat), args, {},
                                   flow(_ids(x, w, b, mean, var), (id(out), 0, 0)))]


def relu(mod: nn.ReLU, x):
    """``relu_`` (in place, returns its input) or ``relu``."""
    if not _plain(x):
        return NotImplemented
    if mod.inplace:
        return x, [OpRecord(aten.relu_.default, (info(x),), (info(x),), (x,), {}, flow((id(x),), (id(x),)))]
    out = _empty(x.shape, x.dtype)
    return out, [OpRecord(aten.relu.default, (info(x),), (info(out),), (x,), {}, flow((id(x),), (id(out),)))]


def max_pool2d(mod: nn.MaxPool2d, x):
    """``max_pool2d_with_indices`` (the indices are recorded, not made)."""
    if mod.return_indices or not _plain(x) or x.dim() != 4:
        return NotImplemented
    k, s, p, d = pair(mod.kernel_size, 2), pair(mod.stride, 2), pair(mod.padding, 2), pair(mod.dilation, 2)
    ceil = bool(mod.ceil_mode)
    out = _empty(pool_shape(x.shape, k, s, p, d, ceil), x.dtype)
    args = _trim([x, k, s, p, d, ceil], [[0, 0], [1, 1], False])
    return out, [OpRecord(aten.max_pool2d_with_indices.default, (info(x),),
                          (info(out), TensorInfo(tuple(out.shape), 8)), args, {}, flow((id(x),), (id(out), 0)))]


def avg_pool2d(mod: nn.AvgPool2d, x):
    """``avg_pool2d``."""
    if not _plain(x) or x.dim() != 4:
        return NotImplemented
    k, s, p = pair(mod.kernel_size, 2), pair(mod.stride, 2), pair(mod.padding, 2)
    ceil = bool(mod.ceil_mode)
    out = _empty(pool_shape(x.shape, k, s, p, [1, 1], ceil), x.dtype)
    args = _trim([x, k, s, p, ceil, bool(mod.count_include_pad), mod.divisor_override],
                 [[0, 0], False, True, None])
    return out, [OpRecord(aten.avg_pool2d.default, (info(x),), (info(out),), args, {}, flow((id(x),), (id(out),)))]


def adaptive_avg_pool2d(mod: nn.AdaptiveAvgPool2d, x):
    """A global average pool: PyTorch computes it as ``mean`` over the last two dims, kept."""
    if pair(mod.output_size, 2) != [1, 1] or not _plain(x) or x.dim() != 4:
        return NotImplemented
    out = _empty((*x.shape[:2], 1, 1), x.dtype)
    return out, [OpRecord(aten.mean.dim, (info(x),), (info(out),), (x, [-1, -2], True), {},
                          flow((id(x),), (id(out),)))]


def linear(mod: nn.Linear, x):
    """A 2-d input: ``t`` of the weight, then ``addmm`` (with a bias) or ``mm``."""
    w, b = mod.weight, mod.bias
    if not _plain(x, w, b) or x.dim() != 2 or x.shape[1] != w.shape[1]:
        return NotImplemented
    wt = _empty((w.shape[1], w.shape[0]), w.dtype)
    out = _empty((x.shape[0], w.shape[0]), x.dtype)
    t = OpRecord(aten.t.default, (info(w),), (info(wt),), (w,), {}, flow((id(w),), (id(wt),)))
    if b is None:
        return out, [t, OpRecord(aten.mm.default, _infos(x, wt), (info(out),), (x, wt), {}, flow(_ids(x, wt), (id(out),)))]
    return out, [t, OpRecord(aten.addmm.default, _infos(b, x, wt), (info(out),), (b, x, wt), {},
                             flow(_ids(b, x, wt), (id(out),)))]


#: Exact module type -> shortcut(module, input) -> (output, records) or NotImplemented.
LEAVES: dict[type, Callable] = {
    nn.Conv2d: conv2d,
    nn.BatchNorm2d: batch_norm2d,
    nn.ReLU: relu,
    nn.MaxPool2d: max_pool2d,
    nn.AvgPool2d: avg_pool2d,
    nn.AdaptiveAvgPool2d: adaptive_avg_pool2d,
    nn.Linear: linear,
}


def cat(tensors, dim=0):
    """``aten.cat`` of contiguous meta tensors of one dtype and rank, joined along an int ``dim``."""
    if type(dim) is not int or not isinstance(tensors, (list, tuple)) or not tensors:
        return NotImplemented
    first = tensors[0]
    if not _plain(first) or first.dim() == 0 or not -first.dim() <= dim < first.dim():
        return NotImplemented
    d = dim % first.dim()
    ref = tuple(first.shape)
    dtype, itemsize = first.dtype, first.itemsize
    infos = []
    size = 0
    # A DenseNet block concatenates every earlier feature map at each layer: this loop sees thousands of
    # tensors per trace, so it checks each one inline (see _plain) and keeps the shape tuple it makes.
    for t in tensors:  # the rest of each shape must match: any other case is PyTorch's to handle (or refuse)
        if not isinstance(t, _Tensor) or not t.is_meta or t.dtype != dtype or not t.is_contiguous():
            return NotImplemented
        shape = tuple(t.shape)
        if len(shape) != len(ref) or shape[:d] != ref[:d] or shape[d + 1:] != ref[d + 1:]:
            return NotImplemented
        size += shape[d]
        infos.append(TensorInfo(shape, itemsize))
    out = _empty((*ref[:d], size, *ref[d + 1:]), dtype)
    ts = list(tensors)  # the dispatcher hands over a list, and leaves out dim at its default
    return out, [OpRecord(aten.cat.default, tuple(infos), (info(out),), (ts, dim) if dim else (ts,),
                          {}, flow(tuple(id(t) for t in ts), (id(out),)))]
