"""Cross-check effkit's multiply-add counts against fvcore, module by module.

fvcore (``fvcore.nn.FlopCountAnalysis``) traces a real forward pass with ``torch.jit`` and counts one
multiply-add as one "flop", so its numbers are directly comparable with effkit's ``mult_adds``. The
two tools see the model very differently (a JIT graph of real tensors vs aten ops on the meta
device), which is what makes agreement meaningful.

Like is compared with like: effkit's ``mult_adds`` covers only conv / linear / matmul-like ops, so
fvcore is given handles for exactly those ops and told explicitly (handle ``None``) to ignore the
ones it would otherwise count (batch norm, adaptive pooling, upsampling...).

fvcore joins module scopes with ``/`` and splits them again, so it breaks on module names that
contain ``/`` (the original VoVNet code names layers ``stem_1/conv``). It is therefore run on a
private copy of the model whose child modules are renamed, and the names are mapped back.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from effkit.errors import BackendUnavailableError, BadInputError, EffkitError

#: Table columns of :attr:`CrossCheck.table`.
COLUMNS = ["module", "effkit_mult_adds", "fvcore_mult_adds", "diff", "diff_pct", "note"]

#: Row label of the whole-model totals.
TOTAL_ROW = "(total)"

# JIT ops that fvcore counts by default although they do no multiply-adds in effkit's sense
# (batch norm is folded into the conv at inference; pooling and upsampling are elementwise work),
# plus common ops fvcore does not know that have no multiply-adds either. Ignoring them explicitly
# keeps fvcore's "unsupported" list down to ops that could hide real matrix work.
_ZERO_MULT_ADD_OPS = (
    "aten::batch_norm", "aten::group_norm", "aten::layer_norm", "aten::instance_norm",
    "aten::upsample_nearest2d", "aten::upsample_bilinear2d", "aten::adaptive_avg_pool2d",
    "aten::grid_sampler",
    "aten::max_pool2d", "aten::avg_pool2d", "aten::adaptive_max_pool2d", "aten::mean", "aten::sum",
    "aten::add", "aten::add_", "aten::sub", "aten::mul", "aten::mul_", "aten::div",
    "aten::relu6", "aten::hardtanh", "aten::hardtanh_", "aten::sigmoid", "aten::sigmoid_",
    "aten::silu", "aten::silu_", "aten::gelu", "aten::hardswish", "aten::hardswish_",
    "aten::hardsigmoid", "aten::leaky_relu", "aten::leaky_relu_", "aten::tanh",
    "aten::softmax", "aten::log_softmax", "aten::dropout", "aten::feature_dropout",
)


@dataclass(frozen=True)
class CrossCheck:
    """effkit's and fvcore's multiply-adds side by side.

    Attributes:
        table: one row per module where either tool counts multiply-adds of its own (ops run directly
            in that module, children excluded), then a ``(total)`` row. Columns: ``module``
            (qualified name as the model spells it), ``effkit_mult_adds``, ``fvcore_mult_adds``,
            ``diff`` (effkit - fvcore), ``diff_pct`` (relative to fvcore; NaN where fvcore has 0),
            ``note`` (why a row differs, where known).
        summary: one line: both totals, how many modules differ, fvcore's unsupported ops.
        effkit_mult_adds: effkit's total.
        fvcore_mult_adds: fvcore's total.
        modules_differ: modules (total row excluded) whose counts differ.
        unsupported_ops: ``{op: calls}`` fvcore met but neither counted nor was told to ignore.
    """

    table: Any  # pandas.DataFrame
    summary: str
    effkit_mult_adds: int = 0
    fvcore_mult_adds: int = 0
    modules_differ: int = 0
    unsupported_ops: dict = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        """True when the totals and every module match exactly."""
        return self.modules_differ == 0 and self.effkit_mult_adds == self.fvcore_mult_adds


def _baddbmm_handle(inputs, outputs):
    """baddbmm(bias, a, b): the bmm of a and b; the bias add is not a multiply-add."""
    from fvcore.nn.jit_handles import bmm_flop_jit

    return bmm_flop_jit(inputs[1:3], outputs)


def _conv_mode_handle(inputs, outputs):
    """``_convolution_mode`` (a conv with ``padding='same'`` / ``'valid'``; never transposed): every output
    element takes (ci/groups)*kh*kw multiply-adds. fvcore's conv handle reads the argument layout of
    ``_convolution`` and has no entry for this op, so such convs counted 0."""
    from fvcore.nn.jit_handles import get_shape

    w, out = get_shape(inputs[1]), get_shape(outputs[0])
    return math.prod(out) * math.prod(w[1:])


def _attention_handle(inputs, outputs):
    """``scaled_dot_product_attention`` on q (..., L, E), k (..., S, E), v (..., S, Ev): Q K^T and P V,
    B*H*L*S*(E + Ev) multiply-adds (effkit's ``attention_cost``, PyTorch's FlopCounterMode)."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(t) for t in inputs[:3])
    return math.prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def fvcore_handles() -> dict:
    """fvcore op handles that count exactly what effkit's ``mult_adds`` counts.

    Apply them after ``clear_op_handles()``: fvcore's ``set_op_handle(op, None)`` only ignores an op
    that has no handle yet, so its default batch norm and pooling handles would otherwise still count.

    Returns:
        ``{jit op name: handle or None}`` for ``FlopCountAnalysis.set_op_handle(**handles)``.
    """
    from fvcore.nn import jit_handles as h

    return {
        "aten::_convolution": h.conv_flop_jit,
        "aten::_convolution_mode": _conv_mode_handle,
        "aten::scaled_dot_product_attention": _attention_handle,
        "aten::addmm": h.addmm_flop_jit,
        "aten::mm": h.matmul_flop_jit,
        "aten::matmul": h.matmul_flop_jit,
        "aten::linear": h.linear_flop_jit,
        "aten::bmm": h.bmm_flop_jit,
        "aten::baddbmm": _baddbmm_handle,
        "aten::einsum": h.einsum_flop_jit,
        **dict.fromkeys(_ZERO_MULT_ADD_OPS),
    }


def _placeholder(model: nn.Module) -> str:
    """A stand-in for '/' that occurs in none of the model's module names (and has no '.')."""
    names = [n for n, _ in model.named_modules(remove_duplicate=False)]
    token = "__slash__"
    while any(token in n for n in names):
        token += "_"
    return token


def _cpu_copy(model: nn.Module) -> nn.Module:
    """A float32 CPU copy of ``model`` for a real forward pass; the user's model is left untouched.

    CPU float32 tensors are shared, not duplicated (the forward pass runs in eval mode under
    ``no_grad``, so nothing writes to them); tensors elsewhere are copied to the CPU, and meta tensors
    (no data) become zeros, which is enough to count operations.
    """
    memo: dict[int, Any] = {}

    def cpu(t: torch.Tensor) -> torch.Tensor:
        dtype = torch.float32 if t.is_floating_point() else t.dtype
        if t.device.type == "meta":
            return torch.zeros(t.shape, dtype=dtype)
        return t.detach().to("cpu", dtype)

    for p in model.parameters():
        if id(p) not in memo:
            same = p.device.type == "cpu" and p.dtype == torch.float32
            memo[id(p)] = p if same else nn.Parameter(cpu(p), requires_grad=False)
    for b in model.buffers():
        if id(b) not in memo:
            same = b.device.type == "cpu" and (b.dtype == torch.float32 or not b.is_floating_point())
            memo[id(b)] = b if same else cpu(b)
    try:
        return copy.deepcopy(model, memo).eval()
    except Exception as e:  # something uncopyable inside the user's model (locks, open files)
        raise BadInputError(
            f"could not copy the model for fvcore ({type(e).__name__}: {e}); "
            "pass a model that supports copy.deepcopy"
        ) from e


def _rename_slashes(model: nn.Module, token: str) -> None:
    """Replace '/' by ``token`` in every child name of ``model`` (a private copy), in place."""
    for mod in list(model.modules()):
        if any("/" in k for k in mod._modules):
            mod._modules = type(mod._modules)(
                (k.replace("/", token), v) for k, v in mod._modules.items()
            )


def _positional(model: nn.Module, args: list, kwargs: dict) -> tuple:
    """The inputs as one positional tuple, for ``torch.jit.trace`` (which takes no keywords)."""
    if not kwargs:
        return tuple(args)
    import inspect

    bound = inspect.signature(model.forward).bind(*args, **kwargs)
    names = list(inspect.signature(model.forward).parameters)
    last = max(names.index(k) for k in bound.arguments)
    # A keyword input after a skipped optional one leaves a None in between; the tracer says so.
    return tuple(bound.arguments.get(k) for k in names[:last + 1])


def _fvcore_own_counts(model: nn.Module, x, name: str):
    """Run fvcore on ``model`` (a private copy, renamed in place).

    Returns:
        ({path: {op: multiply-adds run directly in that module}}, fvcore's total, its unsupported ops
        ``{op: calls}``, every module path in definition order).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's import uses the deprecated torch.jit.script
            from fvcore.nn import FlopCountAnalysis
    except ImportError as e:
        raise BackendUnavailableError(
            f"fvcore is not importable ({e}); install it with `pip install fvcore` to cross-check"
        ) from e
    token = _placeholder(model)
    _rename_slashes(model, token)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings say nothing about counts
            fca = FlopCountAnalysis(model, x if isinstance(x, tuple) else (x,))
            fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            fca.clear_op_handles()
            fca.set_op_handle(**fvcore_handles())
            by_op = fca.by_module_and_operator()
            total = int(fca.total())
            unsupported = dict(fca.unsupported_ops())
    except EffkitError:
        raise
    except Exception as e:
        first = " ".join(str(e).split())  # one line, however the tracer formats its message
        first = first[:157] + "..." if len(first) > 160 else first
        raise BackendUnavailableError(
            f"fvcore could not analyse {name} ({type(e).__name__}: {first}); it needs a model that "
            "torch.jit.trace can follow, with tensor inputs and outputs"
        ) from e

    def path(qualified: str) -> tuple[str, ...]:
        return tuple(c.replace(token, "/") for c in qualified.split(".")) if qualified else ()

    # fvcore counts an op in its module and in every ancestor; subtracting the direct children
    # leaves the ops a module ran itself, which is how effkit attributes them.
    own = {k: dict(v) for k, v in by_op.items()}
    for qualified, counts in by_op.items():
        parent = qualified.rpartition(".")[0] if qualified else None
        if parent in own:
            for op, n in counts.items():
                own[parent][op] = own[parent].get(op, 0) - n
    own_ops = {path(k): {op: int(n) for op, n in v.items() if n} for k, v in own.items()}
    return own_ops, total, unsupported, [path(k) for k in by_op]


def _resolve(model_or_name) -> tuple[nn.Module, str]:
    from effkit.models.resolve import resolve

    resolved = resolve(model_or_name)
    # A freshly built model is private already; the copy only normalises device and dtype and
    # shares CPU float32 tensors, so it costs no weight memory.
    return _cpu_copy(resolved.build(copy=False)), resolved.name


def _pct(diff: int, ref: int) -> float:
    return 100.0 * diff / ref if ref else math.nan


def _breakdown(ops: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(ops.items())) or "nothing"


def _row(module: str, eff: int, fv: int, note: str = "") -> dict:
    diff = eff - fv
    return {"module": module, "effkit_mult_adds": eff, "fvcore_mult_adds": fv, "diff": diff,
            "diff_pct": _pct(diff, fv), "note": note}


def fvcore_crosscheck(
    model_or_name: nn.Module | str,
    input_shape: Sequence[int] | str | None = None,
    *,
    inputs: Any = None,
    profile=None,
) -> CrossCheck:
    """Count multiply-adds with fvcore and compare them with effkit's, module by module.

    fvcore runs a real forward pass on a CPU copy of the model (use a small input: the compute is
    real); the user's model is never modified. Module names containing ``/`` are supported.

    Args:
        model_or_name: an ``nn.Module`` or anything :func:`effkit.models.create_model` accepts.
        input_shape: input tensor shape, batch first (``(1, 3, 64, 64)`` or ``"1,3,64,64"``).
        inputs: instead of ``input_shape``, the model's inputs as :func:`effkit.profile` takes them
            (several, named, integer ones); fvcore is fed the same tensors, by position.
        profile: effkit's :class:`~effkit.analysis.profile.Profile` of the same model at the same
            shape, to avoid analysing it twice; computed here when omitted.

    Returns:
        A :class:`CrossCheck` with the per-module table and a one-line summary.

    Raises:
        BackendUnavailableError: fvcore is missing or cannot trace the model.
        BadInputError: malformed shape, a profile for another shape, or a model that fails on it.
    """
    import pandas as pd

    from effkit.analysis import inputs as I

    profile, shape = _checked_profile(model_or_name, input_shape, inputs, profile)
    if inputs is None:
        inputs = [shape]
    model, name = _resolve(model_or_name)
    args, kwargs = I.materialise(*I.split(inputs), torch.float32, "cpu")
    fv_ops, fv_total, unsupported, fv_order = _fvcore_own_counts(model, _positional(model, args, kwargs), name)
    rows = _module_rows(profile, fv_ops, fv_order)
    n_differ = sum(1 for r in rows if r["diff"])
    eff_total = int(profile.totals.mult_adds)
    rows.append(_row(TOTAL_ROW, eff_total, fv_total,
                     "" if eff_total == fv_total else f"{n_differ} modules differ (see their notes)"))
    return CrossCheck(
        table=pd.DataFrame(rows, columns=COLUMNS),
        summary=_summary(eff_total, fv_total, n_differ, len(rows) - 1, unsupported, profile.uncounted),
        effkit_mult_adds=eff_total, fvcore_mult_adds=fv_total, modules_differ=n_differ, unsupported_ops=unsupported,
    )


def _checked_profile(model_or_name, input_shape, inputs, profile):
    """effkit's profile of the model (the one given, checked to be of this shape, or a new one) and the shape."""
    from effkit.analysis.profile import profile as run_profile
    from effkit.units import parse_shape

    shape = parse_shape(input_shape) if input_shape is not None else None
    if profile is None:
        profile = run_profile(model_or_name, inputs=inputs if inputs is not None else [shape], dtype="float32",
                              warn=False)
    elif input_shape is not None and tuple(profile.input_shape) != tuple(shape):
        raise BadInputError(
            f"the profile given was computed for input {tuple(profile.input_shape)}, not {tuple(shape)}; "
            "pass a profile of the same shape or none"
        )
    return profile, shape


def _module_rows(profile, fv_ops: dict, fv_order: list) -> list[dict]:
    """One row per module either tool counts, with a note explaining each difference op by op."""
    from effkit.analysis.profile import display_name

    layers = profile.layers
    eff_own: dict[tuple[str, ...], int] = {}
    names: dict[tuple[str, ...], str] = {}  # a module's row name: "block (own ops)" for a parent's own ops
    for p, ma, name in zip(layers["path"], layers["mult_adds"], layers["name"]):
        eff_own[tuple(p)] = eff_own.get(tuple(p), 0) + int(ma)
        names[tuple(p)] = name
    # Per-op detail, only needed to explain rows that differ (profile.ops names layers for display).
    eff_ops: dict[str, dict[str, int]] = {}
    uncounted_at: dict[str, set] = {}
    for layer, op, ma, counted in zip(profile.ops["layer"], profile.ops["op"],
                                      profile.ops["mult_adds"], profile.ops["counted"]):
        if not counted:
            uncounted_at.setdefault(layer, set()).add(op)
        elif ma:
            ops = eff_ops.setdefault(layer, {})
            ops[op] = ops.get(op, 0) + int(ma)

    # effkit's call order first, then modules only fvcore reports, in definition order.
    rows = []
    for p in dict.fromkeys([*eff_own, *fv_order]):
        eff, fv = eff_own.get(p, 0), sum(fv_ops.get(p, {}).values())
        if not eff and not fv:
            continue
        label = names.get(p) or display_name(p)
        note = ""
        if eff != fv:
            note = f"effkit: {_breakdown(eff_ops.get(label, {}))}; fvcore: {_breakdown(fv_ops.get(p, {}))}"
            if label in uncounted_at:
                note += "; no effkit formula for " + ", ".join(sorted(uncounted_at[label]))
        rows.append(_row(label, eff, fv, note))
    return rows


def _summary(eff_total: int, fv_total: int, n_differ: int, n_modules: int, unsupported, uncounted) -> str:
    from effkit.units import human

    if eff_total == fv_total:
        head = f"mult_adds effkit {human(eff_total, 4)} = fvcore {human(fv_total, 4)}"
    else:
        head = (f"mult_adds effkit {human(eff_total, 4)} vs fvcore {human(fv_total, 4)} "
                f"({_pct(eff_total - fv_total, fv_total):+.2f}%)")
    parts = [head, f"{n_differ} of {n_modules} modules differ"]
    if unsupported:
        listed = sorted(unsupported)
        parts.append("fvcore unsupported ops: " + ", ".join(listed[:6])
                     + (f" +{len(listed) - 6} more" if len(listed) > 6 else ""))
    else:
        parts.append("fvcore unsupported ops: none")
    if uncounted:
        parts.append("effkit uncounted ops: " + ", ".join(sorted(uncounted)))
    return "; ".join(parts)
