"""Parameters are counted once, in the row that first reads them, whatever module holds them."""

import torch
from torch import nn

from effkit import profile


class Tied(nn.Module):
    """Two 16->16 linears sharing one weight (256), each with its own bias (16)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 16)
        self.b = nn.Linear(16, 16)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


def _row(p, name):
    rows = p.layers[p.layers["name"] == name]
    assert len(rows) == 1
    return rows.iloc[0]


def test_tied_weight_counted_once():
    p = profile(Tied(), (2, 16))
    # total: 256 + 16 + 16 = 288; first use (a) counts weight and bias, b only its bias
    assert p.totals.params == 288
    assert (_row(p, "a")["params"], _row(p, "a")["shared_params"]) == (272, 0)
    assert (_row(p, "b")["params"], _row(p, "b")["shared_params"]) == (16, 256)
    assert p.layers["params"].sum() == 288


def test_repeat_call_is_not_sharing():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))

    p = profile(Twice(), (1, 4))
    assert list(p.layers["params"]) == [20, 0]
    assert list(p.layers["shared_params"]) == [0, 0]


def test_weight_used_without_calling_its_module_lands_in_a_row():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    p = profile(Attn(), (1, 5, 8))
    # in_proj 3*8*8 + 24, out_proj 64 + 8: all read inside mha's own call (out_proj is never called)
    assert p.totals.params == 192 + 24 + 64 + 8
    assert _row(p, "mha")["params"] == 288
    assert p.uncalled == []


def test_parameter_read_by_the_parent_counts_in_the_parent_row():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4, bias=False)

        def forward(self, x):
            return x @ self.fc.weight  # fc itself is never called

    p = profile(Scaled(), (1, 4))
    assert _row(p, "(model)")["params"] == 16  # fc is never called: the model row is the whole model
    assert p.uncalled == []


def test_unread_parameter_stays_with_its_module():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.extra = nn.Parameter(torch.zeros(3))

        def forward(self, x):
            return self.fc(x)

    p = profile(Unused(), (1, 4))
    assert _row(p, "(model) (own ops)")["params"] == 3
    assert _row(p, "fc")["params"] == 20
