"""Run a model once on the meta device and record every aten op with the module that issued it.

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every op that reaches the dispatcher,
so functional calls (``torch.cat``, ``out += identity``, ``F.relu``) are recorded as well as modules.
For the length of the trace each module of the model gets an instance-level ``forward`` that pushes
its call on a stack, runs the module's own forward and pops it; each op is attributed to the innermost
module of the model active when it ran. (Global forward hooks would do the same, but any hook sends
every module call through torch's slow hook path, which costs more than the rest of a CNN's trace.)
Module paths are tuples, joined only for display, so names containing ``/`` or ``.`` cannot break
attribution.

Parameters are attributed by the tensors ops actually read: each one is counted in the row of the
call that first reads it (so a tied weight counts once, and a weight used without calling its
module, like ``nn.MultiheadAttention``'s ``out_proj``, still lands in a row); later reads from other
modules are marked as ``shared_params``. A parameter no op reads stays with its module's first call.

Leaf modules effkit knows (:mod:`effkit.analysis.leaves`) skip the dispatcher: their records are
written directly, the same records the dispatcher would have produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

from effkit.analysis.leaves import LEAVES
from effkit.analysis.meta import walk
from effkit.analysis.patches import QuietMode, recording
from effkit.analysis.records import OpRecord, arg_ids, arg_infos, flow, out_ids, out_infos, shapes
from effkit.analysis.shapes import SHORTCUTS

_Tensor = torch.Tensor
_NONE = object()  # a module without an instance-level forward


@dataclass(slots=True)
class ModuleCall:
    """One call of one module: where it sits, what it was given and which ops ran directly inside it."""

    path: tuple[str, ...]
    type: str
    call: int  # 0 for the first call of this module, 1 for the second, ...
    own_params: int  # parameters first read in this call (see _attribute_params)
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    ops: list[OpRecord] = field(default_factory=list)
    shared_params: int = 0  # parameters read here that an earlier row (another module) counted


@dataclass
class Trace:
    """The result of one meta-device forward pass."""

    calls: list[ModuleCall]
    module_types: dict[tuple[str, ...], str]
    uncalled: list[tuple[str, ...]]
    params: int  # parameters of the whole model, each shared tensor once


def _all_meta(args: tuple) -> bool:
    for a in args:
        if isinstance(a, _Tensor):
            if not a.is_meta:
                return False
        elif isinstance(a, (list, tuple)):
            if any(isinstance(t, _Tensor) and not t.is_meta for t in a):
                return False
    return True


class _Recorder(QuietMode):
    def __init__(self, stack: "_ModuleStack", shortcuts: dict = SHORTCUTS):
        super().__init__()
        self.calls = stack.stack  # the live stack of module calls
        self.shortcuts = shortcuts

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = NotImplemented
        shortcut = self.shortcuts.get(func)
        if shortcut is not None and _all_meta(args):
            out = shortcut(func, args, kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        if self.calls:
            self.calls[-1].ops.append(OpRecord(func, arg_infos(args, kwargs), out_infos(out), args, kwargs,
                                               flow(arg_ids(args, kwargs), out_ids(out))))
        return out


class _ModuleStack:
    """What the model holds (paths, types, own parameters), and the stack of active module calls."""

    def __init__(self, model: nn.Module):
        self.calls: list[ModuleCall] = []
        self.stack: list[ModuleCall] = []
        self.counts: dict[int, int] = {}
        self.modules: dict[int, tuple[tuple[str, ...], str, int, nn.Module]] = {}
        self.types: dict[tuple[str, ...], str] = {}
        self.params = 0
        self.param_sizes: dict[int, int] = {}  # id(parameter) -> numel, each shared tensor once
        self.owned: dict[int, list[int]] = {}  # id(module) -> ids of its own parameters
        # Plain loops, no comprehension per module: this runs for every module of the model on every trace.
        sizes, modules = self.param_sizes, self.modules
        for path, mod in walk(model):
            kind = type(mod).__name__
            self.types.setdefault(path, kind)
            key = id(mod)
            if key in modules:
                continue
            own: list[int] = []
            total = 0
            for p in mod._parameters.values():
                if p is None or id(p) in own:  # the same tensor under two names of one module: once
                    continue
                pid, n = id(p), p.numel()
                own.append(pid)
                total += n
                if pid not in sizes:  # a tensor shared with an earlier module counts once in the model
                    sizes[pid] = n
                    self.params += n
            self.owned[key] = own
            modules[key] = (path, kind, total, mod)

    def wrap(self, mod: nn.Module, shortcut) -> "Callable":
        """An instance ``forward`` for ``mod`` that records its call around its own forward.

        ``shortcut`` (a :data:`effkit.analysis.leaves.LEAVES` entry, or ``None``) writes the records of
        a known leaf directly; when it declines (``NotImplemented``) the module's own forward runs.
        """
        key = id(mod)
        path, kind, own, _ = self.modules[key]
        inner = mod.forward  # the instance's own forward if it has one, else its class's, bound
        calls, active, counts = self.calls, self.stack, self.counts

        def forward(*args, **kwargs):
            n = counts.get(key, 0)
            counts[key] = n + 1
            # Most calls take one tensor and return one: their shapes without the general walk of shapes().
            x = args[0] if len(args) == 1 else None
            call = ModuleCall(path, kind, n, own if n == 0 else 0,
                              [tuple(x.shape)] if type(x) is _Tensor else shapes(args))
            if kwargs:
                call.input_shapes += shapes(kwargs)
            calls.append(call)
            active.append(call)
            try:
                res = shortcut(mod, args[0]) if shortcut is not None and len(args) == 1 and not kwargs \
                    else NotImplemented
                if res is NotImplemented:
                    out = inner(*args, **kwargs)
                else:
                    out, records = res
                    call.ops.extend(records)
                call.output_shapes = [tuple(out.shape)] if type(out) is _Tensor else shapes(out)
                return out
            finally:
                active.pop()

        return forward

    def uncalled(self, read: set[int] = frozenset()) -> list[tuple[str, ...]]:
        """Modules with parameters that were never called and none of whose parameters any op read."""
        return [path for key, (path, _, own, _) in self.modules.items()
                if own and key not in self.counts and not read.intersection(self.owned[key])]

    def attribute_params(self) -> set[int]:
        """Set each call's ``own_params`` / ``shared_params`` from the parameters its ops read.

        Returns the ids of the parameters some op read.
        """
        sizes = self.param_sizes
        first: dict[int, tuple[str, ...]] = {}  # id(parameter) -> path of the call that counted it
        for call in self.calls:
            call.own_params = 0
            here: set[int] = set()
            for rec in call.ops:
                # The flow already names the tensors read, in argument order (records.arg_ids).
                for pid in (rec.flow.inputs if rec.flow is not None else _tensor_ids(rec.args, rec.kwargs)):
                    if pid not in sizes or pid in here:
                        continue
                    here.add(pid)
                    owner = first.get(pid)
                    if owner is None:
                        first[pid] = call.path
                        call.own_params += sizes[pid]
                    elif owner != call.path:
                        call.shared_params += sizes[pid]  # a repeat call of the same module is not sharing
        read = set(first)
        # Parameters no op read stay with the first call of the module that holds them.
        firsts = {call.path: call for call in self.calls if call.call == 0}
        for key, pids in self.owned.items():
            call = firsts.get(self.modules[key][0]) if key in self.counts else None
            for pid in pids:
                if call is not None and pid not in first:
                    first[pid] = call.path
                    call.own_params += sizes[pid]
        return read


def _tensor_ids(args: tuple, kwargs: dict):
    """ids of the tensors among an op's arguments and in the lists among them (one level)."""
    for v in (*args, *kwargs.values()) if kwargs else args:
        if isinstance(v, _Tensor):
            yield id(v)
        elif isinstance(v, (list, tuple)):
            yield from (id(t) for t in v if isinstance(t, _Tensor))


def trace(model: nn.Module, inputs: Iterable[torch.Tensor], *, kwargs: dict | None = None,
          shortcuts: bool = True, shape_shortcuts: bool = True) -> Trace:
    """Run ``model`` (already on meta) once on ``inputs`` (and keyword ``kwargs``); return every module call with its ops.

    ``shortcuts=False`` sends every op of every module through the dispatcher (the reference path
    the leaf shortcuts are tested against). ``shape_shortcuts=False`` leaves every output shape to
    PyTorch's own kernels too, which carry strides (a channels-last input) where the shortcuts make
    contiguous outputs.
    """
    stack = _ModuleStack(model)
    own_forward: list[tuple[nn.Module, object]] = []  # (module, its instance forward or _NONE), to restore
    # recording() holds the analysis lock: no other thread's trace runs (or changes this model) meanwhile.
    with recording(stack.stack, cat=shortcuts):
        try:
            for _, _, _, mod in stack.modules.values():
                had = mod.__dict__.get("forward", _NONE)
                # A known leaf with an instance forward of its own (a library's patch) keeps it: no shortcut.
                shortcut = LEAVES.get(type(mod)) if shortcuts and had is _NONE else None
                own_forward.append((mod, had))
                mod.__dict__["forward"] = stack.wrap(mod, shortcut)
            with torch.no_grad(), _Recorder(stack, SHORTCUTS if shape_shortcuts else {}):
                model(*inputs, **(kwargs or {}))
        finally:
            for mod, had in own_forward:
                if had is _NONE:
                    mod.__dict__.pop("forward", None)
                else:
                    mod.__dict__["forward"] = had
    read = stack.attribute_params()
    return Trace(calls=stack.calls, module_types=stack.types, uncalled=stack.uncalled(read), params=stack.params)
