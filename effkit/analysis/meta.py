"""The user's model, seen on the meta device for the length of a block, without copying it.

``copy.deepcopy`` of a model walks thousands of objects on every call. Instead, for the duration of
:func:`on_meta`, each parameter and buffer slot of each module holds an empty meta tensor of the same
shape (in the dtype analysed), and every module is in eval mode; on the way out every slot gets its
own tensor back and every module its own mode. No real weight is touched or duplicated.
"""

from __future__ import annotations

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


@contextmanager
def on_meta(model: nn.Module, dtype: torch.dtype | None = None) -> Iterator[nn.Module]:
    """Within the block, ``model`` holds meta tensors (``dtype`` for floating ones) and is in eval mode.

    A tensor shared by several modules (tied weights) gets one stand-in, so it stays shared.
    """
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
                        new = memo[id(t)] = _meta_as(t, dtype)
                    if new is not t:
                        swapped.append((table, key, t))
                        table[key] = new
            if mod.training:
                training.append(mod)
                mod.training = False
        yield model
    finally:
        for table, key, t in reversed(swapped):
            table[key] = t
        for mod in training:
            mod.training = True
