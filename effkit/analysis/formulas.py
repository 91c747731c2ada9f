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
    elems = nbytes = 0
    for group in (inputs, outputs):  # one pass, each size worked out once: this runs for most ops of a trace
        for shape, itemsize in group:
            n = math.prod(shape)
            elems += n
            nbytes += n * itemsize
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
    "eq", "ne", "lt", "le", "gt", "ge", "logical_not", "bitwise_not", "masked_fill", "masked_fill_",
    "logical_and", "logical_or", "bitwise_and", "bitwise_or",
    # sine and cosine (the rotary position embeddings of ViTs), one evaluation per element as exp and log
    "sin", "cos",
]


def elementwise_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Elementwise op: one flop per output element."""
    return OpCost(flops=_out_numel(outputs))


register_formula(*[getattr(aten, n) for n in _ELEMENTWISE if hasattr(aten, n)])(elementwise_cost)


# --- normalisation --------------------------------------------------------------------------


def _bn_cost(inputs, outputs, training: bool) -> OpCost:
    # Reads every input once and writes the output; the saved mean / inverse std (and the reserve)
    # are per-channel bookkeeping, not features.
    elems, nbytes = default_mac(inputs, outputs[:1])
    return OpCost(flops=(5 if training else 2) * inputs[0].numel, mac=elems, mac_bytes=nbytes)


@register_formula(aten._native_batch_norm_legit_no_training, aten._batch_norm_no_update)
def batch_norm_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Inference batch norm: a multiply and an add per element (scale and shift folded from the stats)."""
    return _bn_cost(inputs, outputs, training=False)


@register_formula(aten._batch_norm_with_update, aten._native_batch_norm_legit_functional)
def batch_norm_training_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Training-mode batch norm (batch statistics, as weight standardisation uses it): mean, variance,
    normalise, scale, shift: five flops per element, as layer norm."""
    return _bn_cost(inputs, outputs, training=True)


@register_formula(aten.native_batch_norm, aten._native_batch_norm_legit)
def batch_norm_either_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Batch norm whose ``training`` argument picks the inference or the training-mode formula."""
    # (x, w, b, running_mean, running_var, training, ...); the .no_stats overload drops the running
    # statistics: (x, w, b, training, ...).
    pos = 3 if len(args) > 3 and isinstance(args[3], bool) else 5
    training = bool(args[pos]) if len(args) > pos else False
    return _bn_cost(inputs, outputs, training)


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
                  aten.amax, aten.amin, aten.var_mean, aten.var, aten.max, aten.min, aten.all, aten.any)
def reduction_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Reductions (mean, sum, max, all/any, adaptive average pool): one flop per input element.

    ``max.dim`` writes its values and its indices, both real outputs: MAC by the default rule.
    """
    return OpCost(flops=inputs[0].numel if inputs else 0)


def _adaptive_windows(n_in: int, n_out: int) -> int:
    """Summed length of the ``n_out`` windows adaptive pooling lays over ``n_in`` positions.

    Window i spans [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)), PyTorch's rule: n_in when n_out
    divides it, more when windows overlap (3 windows over 5 positions: [0,2) [1,4) [3,5), 2+3+2 = 7).
    """
    return sum(-(-((i + 1) * n_in) // n_out) - (i * n_in) // n_out for i in range(n_out))


@register_formula(aten.adaptive_max_pool2d)
def adaptive_max_pool2d_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Adaptive max pooling: one compare per element of each window, the windows' lengths summed per axis.

    Derivation: output (h', w') of an input (..., h, w) takes the max over a window of len_h x len_w;
    summed over the outputs that is N*C * sum(len_h) * sum(len_w) compares (:func:`_adaptive_windows`).
    MAC counts the pooled values only, as :func:`pool2d_cost`: the int64 indices are not inference traffic.
    """
    x, out = inputs[0], outputs[0]
    *lead, h, w = x.shape
    oh, ow = out.shape[-2:]
    flops = math.prod(lead) * _adaptive_windows(h, oh) * _adaptive_windows(w, ow)
    elems, nbytes = default_mac(inputs, outputs[:1])
    return OpCost(flops=flops, mac=elems, mac_bytes=nbytes)


@register_formula(aten.cumsum, aten.cumprod)
def scan_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Running sum (product) along a dim: one add (multiply) per element; MAC by the default rule.

    Derivation: out[i] = out[i-1] + x[i], one op per element after the first of each line; the first
    is a copy, counted alike for simplicity (an n-element line is n flops, not n - 1).
    """
    return OpCost(flops=inputs[0].numel if inputs else 0)


@register_formula(aten._local_scalar_dense)
def scalar_read_cost(inputs, outputs, args, kwargs) -> OpCost:
    """A one-element tensor read into Python (``.item()``, ``bool(t)``): one element read, nothing written.

    Derivation: the value goes to the host, not into a new tensor, so the only device traffic is the
    element itself; there is no arithmetic.
    """
    return OpCost(flops=0, mac=1 if inputs else 0, mac_bytes=inputs[0].itemsize if inputs else 0)


@register_formula(aten.linalg_vector_norm)
def vector_norm_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Vector norm: a power (multiply for the 2-norm) and an add per input element; the root is per output."""
    return OpCost(flops=2 * inputs[0].numel + _out_numel(outputs))


@register_formula(aten._softmax, aten._log_softmax, aten.softmax, aten.log_softmax, aten._safe_softmax)
def softmax_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Softmax: subtract max, exp, sum, divide: four flops per element (``_safe_softmax`` also zeroes
    fully masked rows, which is free)."""
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


@register_formula(aten.upsample_linear1d)
def upsample_linear_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Linear upsampling along one axis: two multiplies and one add per output element (x0*(1-t) + x1*t)."""
    return OpCost(flops=3 * _out_numel(outputs))


@register_formula(aten.upsample_bicubic2d, aten._upsample_bicubic2d_aa)
def upsample_bicubic_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Bicubic upsampling: a 4x4 window, 16 multiplies and 15 adds per output element."""
    return OpCost(flops=31 * _out_numel(outputs))


# --- data movement --------------------------------------------------------------------------


@register_formula(aten.cat, aten.stack, aten.clone, aten._to_copy, aten.constant_pad_nd,
                  aten.zeros, aten.ones, aten.full, aten.index_select, aten.repeat,
                  aten.flip, aten.roll, aten.tril, aten.triu, aten.arange, aten.scalar_tensor, aten.im2col)
def copy_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Pure data movement (concatenation, copies, padding, masking a triangle, unfolding patches,
    making a range): no flops, MAC by the default rule."""
    return OpCost(flops=0)


# Mirror and edge padding copy the input and its borders into a bigger tensor: data movement as
# constant padding (reads the input once, writes the padded output once).
register_formula(aten.reflection_pad1d, aten.reflection_pad2d, aten.reflection_pad3d,
                 aten.replication_pad1d, aten.replication_pad2d, aten.replication_pad3d)(copy_cost)


@register_formula(aten.col2im)
def col2im_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Folding patches back: each column element is added into its output place, one flop each."""
    return OpCost(flops=inputs[0].numel)


def _bytes(ts: Sequence[TensorInfo]) -> int:
    return sum(t.numel * t.itemsize for t in ts)


@register_formula(aten.zeros_like, aten.ones_like, aten.full_like, aten.fill_, aten.zero_,
                  aten.new_zeros, aten.new_ones, aten.new_full)
def write_only_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Fills: write every output element and read nothing (the tensor given only lends its shape)."""
    return OpCost(flops=0, mac=sum(t.numel for t in outputs), mac_bytes=_bytes(outputs))


# An identity matrix (``torch.eye``) is a fill: every element written, nothing read.
register_formula(aten.eye)(write_only_cost)


@register_formula(aten.copy_)
def copy_into_cost(inputs, outputs, args, kwargs) -> OpCost:
    """``dst.copy_(src)``: read ``src`` once and write ``dst``; the old contents of ``dst`` are not read."""
    src = inputs[1:2]
    return OpCost(flops=0, mac=sum(t.numel for t in src) + _out_numel(outputs),
                  mac_bytes=_bytes(src) + _bytes(outputs[:1]))


@register_formula(aten.embedding)
def embedding_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Embedding lookup: read the indices and only the rows they select (indices x dim), write those."""
    idx, out = inputs[1:2], outputs[:1]
    return OpCost(flops=0, mac=sum(t.numel for t in idx) + 2 * _out_numel(out),
                  mac_bytes=_bytes(idx) + 2 * _bytes(out))


@register_formula(aten.gather, aten.index)
def gather_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Indexed reads (``gather``, advanced ``index``): read the index tensors and one source element per
    output element, write the output; the rest of the source is never touched."""
    idx, out = inputs[1:], outputs[:1]
    return OpCost(flops=0, mac=sum(t.numel for t in idx) + 2 * _out_numel(out),
                  mac_bytes=_bytes(idx) + 2 * _bytes(out))


# --- attention --------------------------------------------------------------------------------


def _attention_dims(inputs) -> tuple[int, int, int]:
    """(B*H*L*S scores, E, Ev) of an attention call on q (..., L, E), k (..., S, E), v (..., S, Ev)."""
    q, k, v = inputs[0], inputs[1], inputs[2]
    scores = math.prod(q.shape[:-1]) * k.shape[-2]  # B*H*L*S, one per query-key pair
    return scores, q.shape[-1], v.shape[-1]


def _attention_compute(inputs) -> tuple[int, int]:
    """(flops, mult_adds) of attention: Q@K^T and P@V; scale each score and softmax it (5 flops per score),
    plus one add per score for a mask."""
    scores, e, ev = _attention_dims(inputs)
    ma = scores * (e + ev)
    extra = scores if len(inputs) > 3 else 0
    return 2 * ma + 5 * scores + extra, ma


@register_formula(aten.scaled_dot_product_attention, aten._scaled_dot_product_flash_attention,
                  aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_efficient_attention,
                  aten._scaled_dot_product_cudnn_attention, aten._scaled_dot_product_fused_attention_overrideable)
def attention_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Attention as the fused (flash / memory-efficient) kernels run it, the default.

    softmax(Q K^T * scale + mask) V with Q (..., L, E), K (..., S, E), V (..., S, Ev): B*H*L*S*(E + Ev)
    multiply-adds (as PyTorch's FlopCounterMode). The fused kernel keeps the L x S scores on chip, so MAC
    reads q, k, v (and a mask, if any) once and writes the output once; the log-sum-exp and RNG state
    that some kernels also return are bookkeeping. Bytes use each tensor's own element size, so an fp16
    attention moves half the bytes of an fp32 one (not the fp32 upcast of the meta reference path).
    The unfused figure is :func:`attention_unfused_cost` (``profile(..., formulas=UNFUSED_ATTENTION)``).
    """
    flops, ma = _attention_compute(inputs)
    read, out = inputs, outputs[:1]
    return OpCost(flops=flops, mult_adds=ma, mac=sum(t.numel for t in read) + _out_numel(out),
                  mac_bytes=_bytes(read) + _bytes(out))


@register_formula(aten._scaled_dot_product_attention_math)
def attention_unfused_cost(inputs, outputs, args, kwargs) -> OpCost:
    """Attention as the unfused math path runs it: the L x S score matrix goes through memory.

    Same flops as :func:`attention_cost`. MAC: Q@K^T reads q, k and writes S (B*H*L*S); a mask is read
    with S and S written again (2 S + mask); softmax reads S and writes P (2 S); P@V reads P and v and
    writes the output. In all q + k + v + out + 4 S, plus 2 S + mask with a mask. The score matrix is in
    the element size of q.
    """
    flops, ma = _attention_compute(inputs)
    scores, _, _ = _attention_dims(inputs)
    q, mask, out = inputs[0], inputs[3:], outputs[:1]
    n_scores = 4 * scores + (2 * scores if mask else 0)
    return OpCost(flops=flops, mult_adds=ma,
                  mac=sum(t.numel for t in inputs) + _out_numel(out) + n_scores,
                  mac_bytes=_bytes(inputs) + _bytes(out) + n_scores * q.itemsize)


#: Per-call overrides that cost every attention op as the unfused math path: ``profile(m, formulas=...)``.
UNFUSED_ATTENTION = {op: attention_unfused_cost for op in (
    aten.scaled_dot_product_attention, aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_efficient_attention,
    aten._scaled_dot_product_cudnn_attention, aten._scaled_dot_product_fused_attention_overrideable)}


# --- metadata only --------------------------------------------------------------------------

_VIEW_OPS = [
    "view", "_unsafe_view", "reshape", "_reshape_alias", "t", "transpose", "permute", "expand",
    "squeeze", "unsqueeze", "slice", "select", "alias", "detach", "as_strided", "unbind", "split",
    "split_with_sizes", "chunk", "narrow", "unflatten", "flatten", "view_as", "expand_as",
    "lift_fresh", "empty", "empty_like", "empty_strided", "new_empty", "contiguous",
    "_reshape_copy", "as_strided_", "transpose_", "t_", "squeeze_", "unsqueeze_", "swapdims_",
    "unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk", "diagonal", "unfold", "view_as_real",
    "view_as_complex",
]


def _free(inputs, outputs, args, kwargs) -> OpCost:
    """Metadata-only ops (views, reshapes, allocation without writes): no flops and no memory traffic."""
    return OpCost(flops=0, mac=0, mac_bytes=0)


register_formula(*[getattr(aten, n) for n in _VIEW_OPS if hasattr(aten, n)])(_free)



# Ops that produce a new tensor aliasing their input write nothing new, so their outputs are not
# activations; in-place ops (trailing underscore) write into memory that already exists.
ALIASING_OPS = frozenset(n for n in _VIEW_OPS)


# --- the paper's lower bound ----------------------------------------------------------------


def mac_min(k2: float, h: int, w: int, ci: int, co: int, batch: int = 1) -> float:
    """The paper's lower bound of a conv's MAC at fixed FLOPs: 2*N*sqrt(h*w*B/k^2) + B/(h*w).

    Derivation: with B = k^2*h*w*ci*co fixed, MAC = N*h*w*(ci+co) + k^2*ci*co and ci+co >= 2*sqrt(ci*co)
    (AM-GM, equality at ci = co), so MAC >= 2*N*h*w*sqrt(B/(k^2*h*w)) + B/(h*w). At N = 1 this is the
    paper's bound; for a batch the activation term scales with N and the weights are read once.
    """
    b = k2 * h * w * ci * co
    return 2 * batch * math.sqrt(h * w * b / k2) + b / (h * w)


def paper_mac(k2: float, h: int, w: int, ci: int, co: int) -> float:
    """The paper's equation (1): MAC = h*w*(ci+co) + k^2*ci*co for a stride-1, same-padded conv."""
    return h * w * (ci + co) + k2 * ci * co
