"""Output shapes of the common aten ops on meta, computed here instead of by PyTorch's meta kernels.

PyTorch's Python meta kernels for conv and pooling call torch._check, whose first use imports
torch.fx.experimental.symbolic_shapes and with it sympy: about a second on a cold process.
Computing these shapes here keeps `effkit profile` fast and gives a readable channel error.

Each shortcut takes ``(op, args, kwargs)`` as the dispatcher gives them and returns the op's meta
output, or ``NotImplemented`` to leave the op to PyTorch (anything it does not handle exactly).
"""

from __future__ import annotations

import torch

from effkit.errors import BadInputError

aten = torch.ops.aten


def pair(v, n: int) -> list[int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


def _conv_shortcut(args, kwargs):
    x, w = args[0], args[1]
    stride, padding, dilation, transposed, output_padding, groups = args[3:9]
    nd = w.dim() - 2
    if x.dim() != nd + 2 or transposed:
        return NotImplemented
    shape = conv_shape(x.shape, w.shape, pair(stride, nd), pair(padding, nd), pair(dilation, nd), groups)
    return torch.empty(shape, dtype=x.dtype, device="meta")


def conv_shape(x_shape, w_shape, stride, padding, dilation, groups) -> tuple[int, ...]:
    """Output shape of a (non-transposed) convolution; a channel or size mismatch is bad input."""
    nd = len(w_shape) - 2
    ci = x_shape[1]
    if ci != w_shape[1] * groups:
        raise BadInputError(
            f"a convolution expects {w_shape[1] * groups} input channels but got {ci} "
            f"(input shape {tuple(x_shape)}); give an input shape whose channel count matches the model"
        )
    spatial = []
    for i in range(nd):
        size = x_shape[2 + i] + 2 * padding[i] - dilation[i] * (w_shape[2 + i] - 1) - 1
        if size < 0:
            raise BadInputError(
                f"input spatial size {tuple(x_shape[2:])} is too small for a "
                f"{tuple(w_shape[2:])} convolution; use a larger input size"
            )
        spatial.append(size // stride[i] + 1)
    return (x_shape[0], w_shape[0], *spatial)


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    num = size + 2 * p - d * (k - 1) - 1
    out = (-(-num // s) if ceil else num // s) + 1
    # The last window must start inside the input or the left padding (PyTorch's rule).
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_shape(x_shape, k, s, p, d, ceil: bool) -> tuple[int, ...]:
    """Output shape of a 2-d window pooling (max or average); a too small input is bad input."""
    hw = [_pool_out(x_shape[-2 + i], k[i], s[i], p[i], d[i], ceil) for i in range(2)]
    if min(hw) <= 0:
        raise BadInputError(
            f"input spatial size {tuple(x_shape[-2:])} is too small for a {tuple(k)} pooling; "
            "use a larger input size"
        )
    return (*x_shape[:-2], *hw)


def _pool_shortcut(op, args, kwargs):
    x = args[0]
    if x.dim() not in (3, 4):
        return NotImplemented
    k = pair(args[1], 2)
    stride = args[2] if len(args) > 2 and args[2] else k
    s = pair(stride, 2)
    p = pair(args[3] if len(args) > 3 else 0, 2)
    if op is aten.max_pool2d_with_indices.default:
        d = pair(args[4] if len(args) > 4 else 1, 2)
        ceil = bool(args[5]) if len(args) > 5 else False
    else:  # avg_pool2d(self, kernel, stride, padding, ceil_mode, ...)
        d = [1, 1]
        ceil = bool(args[4]) if len(args) > 4 else False
    out = torch.empty(pool_shape(x.shape, k, s, p, d, ceil), dtype=x.dtype, device="meta")
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


#: aten overload -> shortcut(op, args, kwargs).
SHORTCUTS = {
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
