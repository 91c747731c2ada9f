"""Run a model once on the meta device and record every aten op with the module that issued it.

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every op that reaches the dispatcher,
so functional calls (``torch.cat``, ``out += identity``, ``F.relu``) are recorded as well as modules.
Forward pre/post hooks keep a stack of module calls (the model is on meta, see :mod:`effkit.analysis.meta`); each op is attributed
to the innermost module active when it ran. Module paths are tuples, joined only for display, so
names containing ``/`` or ``.`` cannot break attribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from effkit.errors import BadInputError

aten = torch.ops.aten


@dataclass
class OpRecord:
    """One aten op call as the tracer saw it."""

    op: Any  # torch._ops.OpOverload
    inputs: list  # list[TensorInfo]
    outputs: list
    args: tuple
    kwargs: dict


@dataclass
class ModuleCall:
    """One call of one module: where it sits, what it was given and which ops ran directly inside it."""

    path: tuple[str, ...]
    type: str
    call: int  # 0 for the first call of this module, 1 for the second, ...
    order: int  # position in call order (pre-order)
    own_params: int
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    ops: list[OpRecord] = field(default_factory=list)


@dataclass
class Trace:
    """The result of one meta-device forward pass."""

    calls: list[ModuleCall]
    module_types: dict[tuple[str, ...], str]
    uncalled: list[tuple[str, ...]]


def _infos(tree) -> list:
    from effkit.analysis.formulas import TensorInfo

    leaves, _ = tree_flatten(tree)
    return [TensorInfo(tuple(t.shape), t.element_size()) for t in leaves if isinstance(t, torch.Tensor)]


def _shapes(tree) -> list[tuple[int, ...]]:
    leaves, _ = tree_flatten(tree)
    return [tuple(t.shape) for t in leaves if isinstance(t, torch.Tensor)]


# --- own shape functions ----------------------------------------------------------------------
# PyTorch's Python meta kernels for conv and pooling call torch._check, whose first use imports
# torch.fx.experimental.symbolic_shapes and with it sympy: about a second on a cold process.
# Computing these shapes here keeps `effkit profile` fast and gives a readable channel error.


def _pair(v, n: int) -> list[int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


def _conv_shortcut(args, kwargs):
    x, w = args[0], args[1]
    stride, padding, dilation, transposed, output_padding, groups = args[3:9]
    nd = w.dim() - 2
    if x.dim() != nd + 2:
        return NotImplemented
    stride, padding, dilation = _pair(stride, nd), _pair(padding, nd), _pair(dilation, nd)
    if transposed:
        return NotImplemented
    ci = x.shape[1]
    if ci != w.shape[1] * groups:
        raise BadInputError(
            f"a convolution expects {w.shape[1] * groups} input channels but got {ci} "
            f"(input shape {tuple(x.shape)}); give an input shape whose channel count matches the model"
        )
    spatial = []
    for i in range(nd):
        size = x.shape[2 + i] + 2 * padding[i] - dilation[i] * (w.shape[2 + i] - 1) - 1
        if size < 0:
            raise BadInputError(
                f"input spatial size {tuple(x.shape[2:])} is too small for a "
                f"{tuple(w.shape[2:])} convolution; use a larger input size"
            )
        spatial.append(size // stride[i] + 1)
    return torch.empty((x.shape[0], w.shape[0], *spatial), dtype=x.dtype, device="meta")


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    num = size + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil else num // s) + 1
    # The last window must start inside the input or the left padding (PyTorch's rule).
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_shortcut(op, args, kwargs):
    x = args[0]
    if x.dim() not in (3, 4):
        return NotImplemented
    k = _pair(args[1], 2)
    stride = args[2] if len(args) > 2 and args[2] else k
    s = _pair(stride, 2)
    p = _pair(args[3] if len(args) > 3 else 0, 2)
    if op is aten.max_pool2d_with_indices.default:
        d = _pair(args[4] if len(args) > 4 else 1, 2)
        ceil = bool(args[5]) if len(args) > 5 else False
    else:  # avg_pool2d(self, kernel, stride, padding, ceil_mode, ...)
        d = [1, 1]
        ceil = bool(args[4]) if len(args) > 4 else False
    hw = [_pool_out(x.shape[-2 + i], k[i], s[i], p[i], d[i], ceil) for i in range(2)]
    if min(hw) <= 0:
        raise BadInputError(
            f"input spatial size {tuple(x.shape[-2:])} is too small for a {tuple(k)} pooling; "
            "use a larger input size"
        )
    out = torch.empty((*x.shape[:-2], *hw), dtype=x.dtype, device="meta")
    if op is aten.max_pool2d_with_indices.default:
        return out, torch.empty(out.shape, dtype=torch.int64, device="meta")
    return out


def _batch_norm_shortcut(op, args, kwargs):
    # Inference batch norm: same-shaped output; the saved statistics are empty when not training.
    x = args[0]
    training = args[5] if op is aten.native_batch_norm.default else False
    if training:
        return NotImplemented
    stat = torch.empty((0,), dtype=x.dtype, device="meta")
    return torch.empty(x.shape, dtype=x.dtype, device="meta"), stat, torch.empty((0,), dtype=x.dtype, device="meta")


def _reduce_shortcut(op, args, kwargs):
    # mean.dim / sum.dim_IntList(self, dim, keepdim=False, *, dtype=None)
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    keep = bool(args[2]) if len(args) > 2 else bool(kwargs.get("keepdim", False))
    if dims is None or kwargs.get("dtype") is not None or x.dim() == 0:
        return NotImplemented
    dims = {d % x.dim() for d in (dims if isinstance(dims, (list, tuple)) else [dims])}
    if not dims:
        return NotImplemented
    shape = [1 if i in dims else n for i, n in enumerate(x.shape) if keep or i not in dims]
    return torch.empty(shape, dtype=x.dtype, device="meta")


def _mm_shortcut(op, args, kwargs):
    # mm(a, b) / addmm(bias, a, b, ...): (n x k) @ (k x m) -> (n x m)
    a, b = (args[0], args[1]) if op is aten.mm.default else (args[1], args[2])
    if a.dim() != 2 or b.dim() != 2:
        return NotImplemented
    if a.shape[1] != b.shape[0]:
        raise BadInputError(
            f"a matrix product got shapes {tuple(a.shape)} and {tuple(b.shape)}; the input size does "
            "not match the model's linear layer (check the input height and width)"
        )
    return torch.empty((a.shape[0], b.shape[1]), dtype=a.dtype, device="meta")


def _same_shape_shortcut(op, args, kwargs):
    x = args[0]
    return torch.empty(x.shape, dtype=x.dtype, device="meta")


def _cat_shortcut(op, args, kwargs):
    tensors = list(args[0])
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not tensors or any(t.dim() != tensors[0].dim() or t.dtype != tensors[0].dtype for t in tensors):
        return NotImplemented
    dim %= tensors[0].dim()
    ref = list(tensors[0].shape)
    for t in tensors[1:]:
        if [n for i, n in enumerate(t.shape) if i != dim] != [n for i, n in enumerate(ref) if i != dim]:
            raise BadInputError(
                f"torch.cat got tensors of shapes {[tuple(x.shape) for x in tensors]} that differ outside "
                f"dim {dim}; the model does not support this input size (try the size it was designed for)"
            )
    ref[dim] = sum(t.shape[dim] for t in tensors)
    return torch.empty(ref, dtype=tensors[0].dtype, device="meta")


def _inplace_binary_shortcut(op, args, kwargs):
    # add_(self, other, alpha=1) and friends return self; take the shortcut only where no
    # broadcasting or type promotion can be involved.
    self, other = args[0], args[1]
    if isinstance(other, torch.Tensor) and (other.shape != self.shape or other.dtype != self.dtype):
        return NotImplemented
    return self


def _binary_shortcut(op, args, kwargs):
    # add(self, other): same shapes and dtypes only (no broadcasting or promotion to work out).
    self, other = args[0], args[1]
    if not isinstance(other, torch.Tensor) or other.shape != self.shape or other.dtype != self.dtype:
        return NotImplemented
    return torch.empty(self.shape, dtype=self.dtype, device="meta")


_SHORTCUTS = {
    aten.add.Tensor: _binary_shortcut,
    aten.mul.Tensor: _binary_shortcut,
    aten.cat.default: _cat_shortcut,
    aten.add_.Tensor: _inplace_binary_shortcut,
    aten.mul_.Tensor: _inplace_binary_shortcut,
    aten._softmax.default: _same_shape_shortcut,
    aten._log_softmax.default: _same_shape_shortcut,
    aten.mm.default: _mm_shortcut,
    aten.addmm.default: _mm_shortcut,
    aten.mean.dim: _reduce_shortcut,
    aten.sum.dim_IntList: _reduce_shortcut,
    aten.native_batch_norm.default: _batch_norm_shortcut,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_shortcut,
    aten.convolution.default: lambda op, a, k: _conv_shortcut(a, k),
    aten.max_pool2d_with_indices.default: _pool_shortcut,
    aten.avg_pool2d.default: _pool_shortcut,
}


class _Recorder(TorchDispatchMode):
    def __init__(self, tracer: "_ModuleStack"):
        super().__init__()
        self.tracer = tracer

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # By default TorchDispatchMode wraps __torch_dispatch__ in torch._disable_dynamo, whose first
        # call imports torch._dynamo (and sympy): about a second in a cold process. Nothing here is
        # compiled, so there is nothing for Dynamo to skip.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = NotImplemented
        shortcut = _SHORTCUTS.get(func)
        if shortcut is not None and all(
            not isinstance(t, torch.Tensor) or t.device.type == "meta" for t in tree_flatten(args)[0]
        ):
            out = shortcut(func, args, kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        self.tracer.record(OpRecord(func, _infos((args, kwargs)), _infos(out), args, kwargs))
        return out


class _ModuleStack:
    """Forward hooks that keep the stack of active module calls."""

    def __init__(self, model: nn.Module):
        self.calls: list[ModuleCall] = []
        self.stack: list[ModuleCall] = []
        self.counts: dict[int, int] = {}
        self.handles: list = []
        self.names: dict[int, tuple[str, ...]] = {}
        self.types: dict[tuple[str, ...], str] = {}
        for name, mod in model.named_modules(remove_duplicate=False):
            # add_module rejects '.' in child names, so the dots of a qualified name are separators.
            path = tuple(name.split(".")) if name else ()
            self.names.setdefault(id(mod), path)
            self.types.setdefault(path, type(mod).__name__)
        self.model = model
        for mod in {id(m): m for m in model.modules()}.values():
            self.handles.append(mod.register_forward_pre_hook(self._pre, with_kwargs=True))
            self.handles.append(mod.register_forward_hook(self._post, with_kwargs=True, always_call=True))

    def _pre(self, mod, args, kwargs):
        n = self.counts.get(id(mod), 0)
        self.counts[id(mod)] = n + 1
        own = sum(p.numel() for p in mod.parameters(recurse=False)) if n == 0 else 0
        call = ModuleCall(
            path=self.names[id(mod)], type=type(mod).__name__, call=n, order=len(self.calls),
            own_params=own, input_shapes=_shapes((args, kwargs)),
        )
        self.calls.append(call)
        self.stack.append(call)

    def _post(self, mod, args, kwargs, output):
        if self.stack:
            call = self.stack.pop()
            call.output_shapes = _shapes(output)

    def record(self, rec: OpRecord) -> None:
        if self.stack:
            self.stack[-1].ops.append(rec)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def uncalled(self) -> list[tuple[str, ...]]:
        return [
            self.names[id(mod)]
            for mod in self.model.modules()
            if id(mod) not in self.counts and any(True for _ in mod.parameters(recurse=False))
        ]


def trace(model: nn.Module, inputs: Iterable[torch.Tensor]) -> Trace:
    """Run ``model`` (already on meta) once on ``inputs`` and return every module call with its ops."""
    stack = _ModuleStack(model)
    try:
        with torch.no_grad(), _Recorder(stack):
            model(*inputs)
    finally:
        stack.remove()
    return Trace(calls=stack.calls, module_types=stack.types, uncalled=stack.uncalled())


def numel(shape) -> int:
    return math.prod(shape)
