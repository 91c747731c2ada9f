"""The user's model, seen on the meta device (or the CPU) for the length of a block, without copying it.

``copy.deepcopy`` of a model walks thousands of objects on every call. Instead, for the duration of
:func:`on_meta`, each parameter and buffer slot of each module holds an empty meta tensor of the same
shape (in the dtype analysed), and every module is in eval mode; on the way out every slot gets its
own tensor back and every module its own mode. No real weight is touched or duplicated.

Module attributes that are plain tensors (neither parameters nor buffers, so ``Module.to`` never
moves them) get a stand-in too: left on the CPU they would clash with the meta activations.

:func:`on_device` with ``device="cpu"`` does the same with real CPU tensors, for a real forward pass:
CPU tensors of the right dtype are used as they are, meta ones become zeros (enough to count ops).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn


#: model -> {(id(tensor), dtype): (weak reference to the tensor, its meta stand-in)}, as of the model's
#: last trace on meta. Making (and later freeing) a stand-in per tensor is about an eighth of the
#: analysis of a deep model (1,700 tensors in DenseNet-201), and repeated analyses of one model are the
#: common case (sweeps, several input sizes, `effkit check`). The model is held weakly; so is each
#: tensor, so a weight the model drops is freed as usual, and the table is rebuilt on every trace with
#: the model's current tensors only.
_STAND_INS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _meta_maker(model: nn.Module) -> tuple[Callable, Callable]:
    """(make, keep): ``make(t, dtype)`` is :func:`_meta_as` reusing the model's stand-ins from its last
    trace where they still fit; ``keep()`` stores the ones this trace used for the next one."""
    old = _STAND_INS.get(model) or {}
    used: dict = {}

    def make(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
        target = dtype if dtype is not None and t.is_floating_point() else t.dtype
        if t.is_meta and t.dtype == target:
            return t
        key = (id(t), target)
        entry = old.get(key)
        # The same tensor object can change under its stand-in (``param.data = ...``, ``Module.half()``):
        # the stand-in is used again only while it is what _meta_as would make now.
        if entry is not None:
            ref, new = entry
            if not (ref() is t and new.shape == t.shape and new.requires_grad == t.requires_grad
                    and new.is_contiguous() and type(new) is (nn.Parameter if _is_parameter(t) else torch.Tensor)):
                entry = None
        if entry is None:
            entry = (weakref.ref(t), _meta_as(t, dtype))
        used[key] = entry
        return entry[1]

    def keep() -> None:
        _STAND_INS[model] = used

    return make, keep


def _is_parameter(t: torch.Tensor) -> bool:
    # isinstance(t, nn.Parameter) runs Parameter's metaclass hook in Python: ask the type first.
    return type(t) is nn.Parameter or (type(t) is not torch.Tensor and isinstance(t, nn.Parameter))


def _meta_as(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``t`` itself when it is already a meta tensor of the right dtype, else an empty meta stand-in.

    Like ``Module.to(dtype)``, only floating-point tensors change dtype (BN's int64 counter stays).
    """
    target = dtype if dtype is not None and t.is_floating_point() else t.dtype
    if t.is_meta and t.dtype == target:
        return t
    # torch.empty, not empty_like: empty_like goes through a Python reference on meta (slow first use).
    new = torch.empty(t.shape, dtype=target, device="meta")
    return nn.Parameter(new, requires_grad=t.requires_grad) if _is_parameter(t) else new


def _cpu_as(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``t`` itself when it is a CPU tensor of the right dtype, else a CPU one (zeros for a meta tensor)."""
    target = dtype if dtype is not None and t.is_floating_point() else t.dtype
    if t.device.type == "cpu" and t.dtype == target:
        return t
    if t.is_meta:
        new = torch.zeros(t.shape, dtype=target)
    else:
        new = t.detach().to("cpu", target)
    return nn.Parameter(new, requires_grad=False) if isinstance(t, nn.Parameter) else new


# Types most of a module's __dict__ holds (flags, sizes, its tables): skipped before the isinstance
# check, which is slow on torch.Tensor and would otherwise cost a deep model milliseconds per trace.
_NOT_TENSORS = frozenset({bool, int, float, str, type(None), dict, OrderedDict, tuple, list, set})


#: What ``nn.Module.__init__`` puts in every module's ``__dict__`` (hook tables, flags): never a tensor.
_MODULE_KEYS = frozenset(nn.Module().__dict__)


def _plain_tensors(mod: nn.Module) -> list[str]:
    # Parameters and buffers live in their own tables, not in __dict__: what is left is plain. Most of a
    # module's __dict__ is nn.Module's own bookkeeping, taken out in one set difference.
    d = mod.__dict__
    return [k for k in d.keys() - _MODULE_KEYS if type(d[k]) not in _NOT_TENSORS and isinstance(d[k], torch.Tensor)]


def walk(model: nn.Module) -> list[tuple[tuple[str, ...], nn.Module]]:
    """(path, module) for ``model`` and every module under it, in ``named_modules`` order, repeats included.

    ``named_modules`` builds a dotted name per module through a chain of nested generators (one resume
    per level per module) that a caller splits again; a deep model pays milliseconds for that on
    every trace. This walk builds the tuple paths directly. ``add_module`` rejects '.' in child names,
    so these are exactly the dotted names split at their dots.
    """
    out: list[tuple[tuple[str, ...], nn.Module]] = []
    todo = [((), model)]
    while todo:
        path, mod = todo.pop()
        out.append((path, mod))
        children = [(path + (name,), child) for name, child in mod._modules.items() if child is not None]
        todo.extend(reversed(children))
    return out


@contextmanager
def on_device(model: nn.Module, dtype: torch.dtype | None = None, device: str = "meta") -> Iterator[nn.Module]:
    """Within the block, ``model`` holds ``device`` tensors (``dtype`` for floating ones), in eval mode.

    A tensor shared by several modules (tied weights) gets one stand-in, so it stays shared. Plain
    tensor attributes keep their dtype (``Module.to`` leaves them alone too) and change device only.
    """
    make, keep = _meta_maker(model) if device == "meta" else (_cpu_as, None)
    swapped: list[tuple[dict, str, torch.Tensor]] = []
    training: list[nn.Module] = []
    memo: dict[int, torch.Tensor] = {}
    seen: set[int] = set()
    try:
        for _, mod in walk(model):
            if id(mod) in seen:  # a module under two names: its slots are swapped already
                continue
            seen.add(id(mod))
            for table in (mod._parameters, mod._buffers):
                for key, t in table.items():
                    if t is None:
                        continue
                    new = memo.get(id(t))
                    if new is None:
                        new = memo[id(t)] = make(t, dtype)
                    if new is not t:
                        swapped.append((table, key, t))
                        table[key] = new
            for key in _plain_tensors(mod):
                t = mod.__dict__[key]
                new = memo.get(id(t))
                if new is None:
                    new = memo[id(t)] = make(t, None)
                if new is not t:
                    swapped.append((mod.__dict__, key, t))
                    mod.__dict__[key] = new
            if mod.training:
                training.append(mod)
                mod.training = False
        if keep is not None:
            keep()
        yield model
    finally:
        for table, key, t in reversed(swapped):
            table[key] = t
        for mod in training:
            mod.training = True


def on_meta(model: nn.Module, dtype: torch.dtype | None = None):
    """:func:`on_device` on the meta device (no data, no memory)."""
    return on_device(model, dtype, "meta")
