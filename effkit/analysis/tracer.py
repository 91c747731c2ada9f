"""Run a model once on the meta device and record every aten op with the module that issued it.

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every op that reaches the dispatcher,
so functional calls (``torch.cat``, ``out += identity``, ``F.relu``) are recorded as well as modules.
Two global forward hooks (pre and post, for the length of the trace) keep a stack of module calls;
each op is attributed to the innermost module of the model active when it ran. Module paths are
tuples, joined only for display, so names containing ``/`` or ``.`` cannot break attribution.

Leaf modules effkit knows (:mod:`effkit.analysis.leaves`) skip the dispatcher: their records are
written directly, the same records the dispatcher would have produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.utils._python_dispatch import TorchDispatchMode

from effkit.analysis import leaves
from effkit.analysis.records import OpRecord, arg_ids, arg_infos, flow, out_ids, out_infos, shapes
from effkit.analysis.shapes import SHORTCUTS

_Tensor = torch.Tensor


@dataclass(slots=True)
class ModuleCall:
    """One call of one module: where it sits, what it was given and which ops ran directly inside it."""

    path: tuple[str, ...]
    type: str
    call: int  # 0 for the first call of this module, 1 for the second, ...
    own_params: int  # counted on the first call only
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    ops: list[OpRecord] = field(default_factory=list)


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


class _Recorder(TorchDispatchMode):
    def __init__(self, stack: "_ModuleStack"):
        super().__init__()
        self.calls = stack.stack  # the live stack of module calls

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # By default TorchDispatchMode wraps __torch_dispatch__ in torch._disable_dynamo, whose first
        # call imports torch._dynamo (and sympy): about a second in a cold process. Nothing here is
        # compiled, so there is nothing for Dynamo to skip.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = NotImplemented
        shortcut = SHORTCUTS.get(func)
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
        seen: set[int] = set()
        self.params = 0
        for name, mod in model.named_modules(remove_duplicate=False):
            # add_module rejects '.' in child names, so the dots of a qualified name are separators.
            path = tuple(name.split(".")) if name else ()
            kind = type(mod).__name__
            self.types.setdefault(path, kind)
            if id(mod) in self.modules:
                continue
            own = {id(p): p for p in mod._parameters.values() if p is not None}
            self.params += sum(p.numel() for k, p in own.items() if k not in seen)
            seen.update(own)
            self.modules[id(mod)] = (path, kind, sum(p.numel() for p in own.values()), mod)

    def pre(self, mod, args) -> None:
        entry = self.modules.get(id(mod))
        if entry is None:
            return  # a module outside the model (built inside a forward): its ops go to the caller
        n = self.counts.get(id(mod), 0)
        self.counts[id(mod)] = n + 1
        call = ModuleCall(entry[0], entry[1], n, entry[2] if n == 0 else 0, shapes(args))
        self.calls.append(call)
        self.stack.append(call)

    def post(self, mod, args, *rest) -> None:
        # (kwargs, output) normally; (output,) when the forward raised (torch's always_call path).
        if id(mod) not in self.modules or not self.stack:
            return
        kwargs, output = rest if len(rest) == 2 else (None, rest[0])
        call = self.stack.pop()
        if kwargs:
            call.input_shapes += shapes(kwargs)
        call.output_shapes = shapes(output)

    def uncalled(self) -> list[tuple[str, ...]]:
        return [path for key, (path, _, own, _) in self.modules.items() if own and key not in self.counts]


def trace(model: nn.Module, inputs: Iterable[torch.Tensor], *, shortcuts: bool = True) -> Trace:
    """Run ``model`` (already on meta) once on ``inputs`` and return every module call with its ops.

    ``shortcuts=False`` sends every op of every module through the dispatcher (the reference path
    the leaf shortcuts are tested against).
    """
    stack = _ModuleStack(model)
    handles = []
    installed = []
    try:
        handles.append(register_module_forward_pre_hook(stack.pre))
        handles.append(register_module_forward_hook(stack.post, with_kwargs=True, always_call=True))
        if shortcuts:
            installed = leaves.install((entry[3] for entry in stack.modules.values()), stack.stack)
        with torch.no_grad(), _Recorder(stack):
            model(*inputs)
    finally:
        leaves.uninstall(installed)
        for h in handles:
            h.remove()
    return Trace(calls=stack.calls, module_types=stack.types, uncalled=stack.uncalled(), params=stack.params)
