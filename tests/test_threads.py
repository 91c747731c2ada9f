"""Profiles made from several threads at once: each gets the totals it gets alone, and nothing global is left changed."""

from __future__ import annotations

import gc
import sys
import threading

import torch
import torch.nn.functional as nnf
from torch import nn

from effkit import profile


class _Dense(nn.Module):
    """A DenseNet-style block: every layer reads the concatenation of all earlier maps (torch.cat each time)."""

    def __init__(self, layers: int = 6, growth: int = 2):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3 + i * growth, growth, 3, padding=1) for i in range(layers))

    def forward(self, x):
        maps = [x]
        for conv in self.convs:
            maps.append(conv(torch.cat(maps, 1)))
        return torch.cat(maps, 1)


class _Attention(nn.Module):
    """Self-attention over the pixels of a map: F.scaled_dot_product_attention between two convs."""

    def __init__(self, c: int = 4):
        super().__init__()
        self.qkv = nn.Conv2d(3, 3 * c, 1)
        self.out = nn.Conv2d(c, 3, 1)

    def forward(self, x):
        n, _, h, w = x.shape
        q, k, v = self.qkv(x).flatten(2).transpose(1, 2).chunk(3, dim=-1)
        y = nnf.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(n, -1, h, w))


def _global_state():
    return torch.cat, nnf.scaled_dot_product_attention, gc.isenabled(), gc.get_freeze_count()


def test_threads_profiling_at_once_get_their_single_thread_totals():
    models = [(_Dense(), (1, 3, 8, 8)), (_Attention(), (1, 3, 6, 6))]
    alone = [profile(m, s).totals for m, s in models]
    # Independent figures for the two models, so a wrong single-thread total cannot hide here either.
    # Dense: conv i reads 3+2i channels, 3x3, 2 outputs, 64 pixels: 64*2*9*(3+2i) multiply-adds.
    assert alone[0].mult_adds == sum(64 * 2 * 9 * (3 + 2 * i) for i in range(6))
    # Attention (36 tokens, 4 dims): qkv 36*12*3, q@k^T 36*36*4, attn@v 36*36*4, out 36*3*4.
    assert alone[1].mult_adds == 36 * 12 * 3 + 2 * 36 * 36 * 4 + 36 * 3 * 4
    before = _global_state()
    results: dict[int, list] = {}
    errors: list = []
    start = threading.Barrier(8)

    def work(i: int) -> None:
        try:
            start.wait()
            got = []
            for k in range(10):
                j = (i + k) % 2
                model, shape = models[j]
                got.append((j, profile(model, shape).totals))
            results[i] = got
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: overlap every trace
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    wrong = [(i, j) for i, got in results.items() for j, totals in got if totals != alone[j]]
    assert len(results) == 8 and wrong == []
    assert _global_state() == before


def test_the_switch_leaves_torch_and_the_collector_alone():
    from effkit.analysis import patches

    seen = []

    class Spy(_Dense):
        def forward(self, x):
            seen.append((torch.cat, gc.isenabled()))
            return super().forward(x)

    model, shape = Spy(), (1, 3, 8, 8)
    fast = profile(model, shape).totals
    was = gc.isenabled()
    gc.enable()
    patches.ENABLED = False
    try:
        plain = profile(model, shape).totals
    finally:
        patches.ENABLED = True
        gc.enable() if was else gc.disable()
    assert seen[0][0] is not torch.cat and seen[0][1] is False  # on: torch.cat replaced, no collection
    assert seen[1] == (torch.cat, True)  # off: both as they were
    assert plain == fast  # a cat through the dispatcher costs what the shortcut records
