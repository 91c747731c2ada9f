"""The one registry of cost formulas, keyed by aten op (pattern of ``torch.utils.flop_counter``).

Every formula is a small pure function of the shapes an op saw::

    formula(inputs: list[TensorInfo], outputs: list[TensorInfo], args, kwargs) -> OpCost

Conventions (the vocabulary of ``shared/design.md``):

* ``mult_adds`` counts multiply-accumulates and is non-zero only for conv / linear / matmul-like ops
  (what torchvision's "GFLOPS" column and fvcore count).
* ``flops`` = 2 x ``mult_adds`` for those ops (bias adds are not counted, as in PyTorch's
  ``FlopCounterMode``); other ops count their own arithmetic per output element, stated on each formula.
* ``mac`` is the memory access cost in elements: every op reads each tensor input (weights included) once
  and writes each output once. A formula returns ``mac=None`` to use that default, or its own value
  (views move nothing; pooling with indices writes only the pooled values on the inference path).

An op with no formula is *uncounted*: the analysis lists it with its count and never treats it as 0.
Registering the same op twice raises ``ValueError``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import torch

aten = torch.ops.aten


class TensorInfo(NamedTuple):
    """Shape and element size of one tensor an op read or wrote (a tuple: the tracer makes thousands)."""

    shape: tuple[int, ...]
    itemsize: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class OpCost(NamedTuple):
    """What one op call costs: ``mac=None`` means the default (read inputs once, write outputs once)."""

    flops: float
    mult_adds: float = 0
    mac: float | None = None
    mac_bytes: float | None = None


Formula = Callable[[Sequence[TensorInfo], Sequence[TensorInfo], tuple, dict], OpCost]

# Keyed by OpOverloadPacket (aten.convolution covers all its overloads).
_FORMULAS: dict[Any, Formula] = {}

# Ops whose cost counts as the paper's MAC (eq. 1 sums conv layers; the classifier is the linear layer).
PAPER_MAC_OPS = frozenset({"convolution", "_convolution", "addmm", "mm", "linear"})


def register_formula(*ops) -> Callable[[Formula], Formula]:
    """Register ``fn`` as the formula of each aten op given (packets or overloads)."""

    def deco(fn: Formula) -> Formula:
        for op in ops:
            packet = getattr(op, "overloadpacket", op)
            if packet in _FORMULAS:
                raise ValueError(f"a formula for {packet} is already registered")
            _FORMULAS[packet] = fn
        return fn

    return deco


def get_formula(op, overrides: dict | None = None) -> Formula | None:
    """The formula for ``op``: a per-call override first (``None`` value = explicitly free), then the registry.

    Returns ``None`` when the op has no formula (uncounted).
    """
    packet = getattr(op, "overloadpacket", op)
    if overrides:
        for key in (op, packet):
            if key in overrides:
                fn = overrides[key]
                return fn if fn is not None else _free
    return _FORMULAS.get(packet)


def default_mac(inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> tuple[int, int]:
    """Read every input once, write every output once: (elements, bytes)."""
    elems = sum(t.numel for t in inputs) + sum(t.numel for t in outputs)
    nbytes = sum(t.numel * t.itemsize for t in inputs) + sum(t.numel * t.itemsize for t in outputs)
    return elems, nbytes


def _out_numel(outputs: Sequence[TensorInfo]) -> int:
    return outputs[0].numel if outputs else 0


# --- matrix work ----------------------------------------------------------------------------


@register_formula(aten.convolution, aten._convolution)
def conv_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Conv: every output element takes (ci/groups)*kh*kw multiply-adds."""
    # convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    x, w = inputs[0], inputs[1]
    transposed = bool(args[6]) if len(args) > 6 else bool(kwargs.get("transposed", False))
    per_elem = math.prod(w.shape[1:])
    # A transposed conv scatters each *input* element into (co/groups)*kh*kw outputs.
    ma = (x.numel if transposed else _out_numel(outputs)) * per_elem
    return OpCost(flops=2 * ma, mult_adds=ma)


@register_formula(aten.mm, aten.addmm)
def mm_cost(inputs, outputs, args, kwargs) -> OpCost:
    """(n x k) @ (k x m): n*k*m multiply-adds; addmm's bias add is not counted (as PyTorch)."""
    a, b = (inputs[-2], inputs[-1])
    n, k = a.shape
    m = b.shape[1]
    ma = n * k * m
    return OpCost(flops=2 * ma, mult_adds=ma)


@register_formula(aten.bmm, aten.baddbmm)
def bmm_cost(inputs, outputs, args, kwargs) -> OpCost:
    """(b x n x k) @ (b x k x m): b*n*k*m multiply-adds."""
    a, b = inputs[-2], inputs[-1]
    bs, n, k = a.shape
    ma = bs * n * k * b.shape[2]
    return OpCost(flops=2 * ma, mult_adds=ma)


# --- elementwise ----------------------------------------------------------------------------

_ELEMENTWISE = [
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "rsub", "neg",
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu", "elu_",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "hardsigmoid", "hardsigmoid_", "hardswish", "hardswish_",
    "silu", "silu_", "gelu", "mish", "softplus", "threshold", "clamp", "clamp_", "clamp_min",
    "clamp_min_", "clamp_max", "exp", "log", "sqrt", "rsqrt", "pow", "abs", "reciprocal",
    "maximum", "minimum", "where", "addcmul", "lerp", "erf", "sign", "floor", "round",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "bitwise_not", "masked_fill",
]


def elementwise_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Elementwise op: one flop per output element."""
    return OpCost(flops=_out_numel(outputs))


register_formula(*[getattr(aten, n) for n in _ELEMENTWISE if hasattr(aten, n)])(elementwise_cost)


# --- normalisation --------------------------------------------------------------------------


@register_formula(aten._native_batch_norm_legit_no_training, aten._native_batch_norm_legit,
                  aten.native_batch_norm)
def batch_norm_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Inference batch norm: a multiply and an add per element (scale and shift folded from the stats)."""
    x = inputs[0]
    elems, nbytes = default_mac(inputs, outputs[:1])  # save_mean / save_invstd are not features
    return OpCost(flops=2 * x.numel, mac=elems, mac_bytes=nbytes)


@register_formula(aten.native_layer_norm, aten.native_group_norm)
def norm_with_stats_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Layer/group norm: mean, variance, normalise, scale, shift: five flops per element."""
    elems, nbytes = default_mac(inputs, outputs[:1])
    return OpCost(flops=5 * inputs[0].numel, mac=elems, mac_bytes=nbytes)


# --- pooling and reductions -----------------------------------------------------------------


def _kernel_area(args, pos: int) -> int:
    k = args[pos] if len(args) > pos else 1
    k = list(k) if isinstance(k, (list, tuple)) else [k]
    if len(k) == 1:
        k = k * 2
    return math.prod(k)


@register_formula(aten.max_pool2d_with_indices, aten.max_pool2d, aten.avg_pool2d)
def pool2d_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Window pooling: kh*kw flops (compares or adds) per output element.

    MAC counts the pooled values only: the int64 indices of ``max_pool2d_with_indices`` are an
    artefact of the meta/autograd path, not traffic of an inference max-pool.
    """
    out = outputs[0]
    elems, nbytes = default_mac(inputs, outputs[:1])
    return OpCost(flops=out.numel * _kernel_area(args, 1), mac=elems, mac_bytes=nbytes)


@register_formula(aten._adaptive_avg_pool2d, aten.adaptive_avg_pool2d, aten.mean, aten.sum,
                  aten.amax, aten.amin, aten.var_mean, aten.var)
def reduction_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Reductions (mean, sum, adaptive average pool): one flop per input element."""
    return OpCost(flops=inputs[0].numel if inputs else 0)


@register_formula(aten._softmax, aten._log_softmax, aten.softmax, aten.log_softmax)
def softmax_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Softmax: subtract max, exp, sum, divide: four flops per element."""
    return OpCost(flops=4 * _out_numel(outputs))


# --- resampling -----------------------------------------------------------------------------


@register_formula(aten.upsample_nearest2d, aten._upsample_nearest_exact2d)
def upsample_nearest_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Nearest upsampling is a copy: no arithmetic, MAC by the default rule."""
    return OpCost(flops=0)


@register_formula(aten.upsample_bilinear2d, aten._upsample_bilinear2d_aa)
def upsample_bilinear_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Bilinear upsampling: four multiplies and three adds per output element."""
    return OpCost(flops=7 * _out_numel(outputs))


# --- data movement --------------------------------------------------------------------------


@register_formula(aten.cat, aten.stack, aten.clone, aten.copy_, aten._to_copy, aten.constant_pad_nd,
                  aten.zeros_like, aten.ones_like, aten.full_like, aten.fill_, aten.zero_,
                  aten.zeros, aten.ones, aten.full, aten.index_select, aten.repeat,
                  aten.flip, aten.roll)
def copy_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Pure data movement (concatenation, copies, padding, fills): no flops, MAC by the default rule."""
    return OpCost(flops=0)


# --- metadata only --------------------------------------------------------------------------

_VIEW_OPS = [
    "view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute", "expand",
    "squeeze", "unsqueeze", "slice", "select", "alias", "detach", "as_strided", "unbind", "split",
    "split_with_sizes", "chunk", "narrow", "unflatten", "flatten", "view_as", "expand_as",
    "lift_fresh", "empty", "empty_like", "empty_strided", "new_empty", "contiguous",
    "_reshape_copy",
]


def _free(inputs, outputs, args, kwargs) -> OpCost:
    """Metadata-only ops (views, reshapes, allocation without writes): no flops and no memory traffic."""
    return OpCost(flops=0, mac=0, mac_bytes=0)


register_formula(*[getattr(aten, n) for n in _VIEW_OPS if hasattr(aten, n)])(_free)


@register_formula(aten.as_strided_)
def restride_cost(inputs, outputs, args, kwargs) -> OpCost:
    """In-place restride: new sizes and strides for existing storage, no flops and no memory traffic.

    Kernels that keep their input's memory format emit it on their fresh output (adaptive average pool
    of a channels-last tensor, as ConvNeXt's head sees); the values were written by the op before it.
    """
    return OpCost(flops=0, mac=0, mac_bytes=0)

# Ops that produce a new tensor aliasing their input write nothing new, so their outputs are not
# activations; in-place ops (trailing underscore) write into memory that already exists.
ALIASING_OPS = frozenset(n for n in _VIEW_OPS)


# --- the paper's lower bound ----------------------------------------------------------------


def mac_min(k2: float, h: int, w: int, ci: int, co: int, batch: int = 1) -> float:
    """Seed 003's lower bound of a conv's MAC at fixed FLOPs: 2*N*sqrt(h*w*B/k^2) + B/(h*w).

    Derivation: with B = k^2*h*w*ci*co fixed, MAC = N*h*w*(ci+co) + k^2*ci*co and ci+co >= 2*sqrt(ci*co)
    (AM-GM, equality at ci = co), so MAC >= 2*N*h*w*sqrt(B/(k^2*h*w)) + B/(h*w). At N = 1 this is the
    paper's bound; for a batch the activation term scales with N and the weights are read once.
    """
    b = k2 * h * w * ci * co
    return 2 * batch * math.sqrt(h * w * b / k2) + b / (h * w)


def paper_mac(k2: float, h: int, w: int, ci: int, co: int) -> float:
    """The paper's equation (1): MAC = h*w*(ci+co) + k^2*ci*co for a stride-1, same-padded conv."""
    return h * w * (ci + co) + k2 * ci * co
