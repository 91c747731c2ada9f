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

from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def _meta_as(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``t`` itself when it is already a meta tensor of the right dtype, else an empty meta stand-in.

    Like ``Module.to(dtype)``, only floating-point tensors change dtype (BN's int64 counter stays).
    """
    target = dtype if dtype is not None and t.is_floating_point() else t.dtype
    if t.is_meta and t.dtype == target:
        return t
    # torch.empty, not empty_like: empty_like goes through a Python reference on meta (slow first use).
    new = torch.empty(t.shape, dtype=target, device="meta")
    return nn.Parameter(new, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else new


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


def _plain_tensors(mod: nn.Module) -> list[str]:
    # Parameters and buffers live in their own tables, not in __dict__: what is left is plain.
    return [k for k, v in mod.__dict__.items() if type(v) not in _NOT_TENSORS and isinstance(v, torch.Tensor)]


@contextmanager
def on_device(model: nn.Module, dtype: torch.dtype | None = None, device: str = "meta") -> Iterator[nn.Module]:
    """Within the block, ``model`` holds ``device`` tensors (``dtype`` for floating ones), in eval mode.

    A tensor shared by several modules (tied weights) gets one stand-in, so it stays shared. Plain
    tensor attributes keep their dtype (``Module.to`` leaves them alone too) and change device only.
    """
    make = _meta_as if device == "meta" else _cpu_as
    swapped: list[tuple[dict, str, torch.Tensor]] = []
    training: list[nn.Module] = []
    memo: dict[int, torch.Tensor] = {}
    try:
        for mod in model.modules():
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
        yield model
    finally:
        for table, key, t in reversed(swapped):
            table[key] = t
        for mod in training:
            mod.training = True


def on_meta(model: nn.Module, dtype: torch.dtype | None = None):
    """:func:`on_device` on the meta device (no data, no memory)."""
    return on_device(model, dtype, "meta")
