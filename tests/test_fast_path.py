"""The fast analysis path: same numbers as the plain dispatch path, and no trace left on the user's side."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

from effkit import profile
from effkit.errors import BadInputError


def _small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 5))


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_restored(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        profile(_small(), (1, 3, 8, 8))
        assert gc.isenabled() is enabled
        with pytest.raises(BadInputError):
            profile(_small(), (1, 5, 8, 8))  # wrong channel count: the call fails inside the trace
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_no_collection_runs_in_a_call_nor_right_after_it():
    """The young collection the call's allocations would start on the way out is not run (the objects
    are handed to the oldest generation), and objects the program froze itself stay frozen."""
    model = nn.Sequential(*[nn.Conv2d(3, 3, 1) for _ in range(200)])  # thousands of records: past gen0's 700
    profile(model, (1, 3, 8, 8))  # first call: imports, caches
    starts = []
    callback = lambda phase, info: starts.append(info["generation"]) if phase == "start" else None  # noqa: E731
    was = gc.isenabled()
    gc.enable()
    gc.callbacks.append(callback)
    try:
        gc.collect()
        starts.clear()
        profile(model, (1, 3, 8, 8))
        assert starts == []
        gc.freeze()
        frozen = gc.get_freeze_count()
        profile(model, (1, 3, 8, 8))
        assert gc.get_freeze_count() > frozen // 2  # unfreeze() would have left none (refcounting frees a few)
    finally:
        gc.callbacks.remove(callback)
        gc.unfreeze()
        gc.enable() if was else gc.disable()


class _Tied(nn.Module):
    """Train mode, a frozen layer, a tied weight, a user hook and an int buffer: all must survive."""

    def __init__(self):
        super().__init__()
        self.body = _small()
        self.body[0].weight.requires_grad_(False)
        self.head = nn.Linear(5, 5, bias=False)
        self.tail = nn.Linear(5, 5, bias=False)
        self.tail.weight = self.head.weight
        self.calls = 0
        self.body.register_forward_hook(self._count)

    def _count(self, *_):
        self.calls += 1

    def forward(self, x):
        return self.tail(self.head(self.body(x)))


def _state(model: nn.Module) -> list:
    return [(name, t, t.device, t.dtype, t.requires_grad, type(t), t.detach().clone())
            for name, t in [*model.named_parameters(remove_duplicate=False),
                            *model.named_buffers(remove_duplicate=False)]]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_user_model_is_untouched(dtype):
    model = _Tied().train()
    before = _state(model)
    hooks = {k: dict(m._forward_hooks) for k, m in model.named_modules()}
    p = profile(model, (2, 3, 8, 8), dtype)
    # conv 3*4*9+4, BN 4+4, linear 256*5+5, one shared 5x5 weight counted once.
    assert p.totals.params == 112 + 8 + 1285 + 25
    assert model.calls == 1  # the user's hook ran once, on the meta stand-ins
    after = _state(model)
    assert [a[:6] for a in after] == [b[:6] for b in before]  # the same tensor objects, device, dtype, grad flag
    assert all(torch.equal(a[6], b[6]) for a, b in zip(after, before))
    assert model.tail.weight is model.head.weight
    assert all(m.training for m in model.modules())
    assert {k: dict(m._forward_hooks) for k, m in model.named_modules()} == hooks
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert not torch.nn.modules.module._global_forward_hooks
    assert not torch.nn.modules.module._global_forward_pre_hooks


def test_user_model_is_restored_after_a_failed_trace():
    model = _Tied().train()
    before = _state(model)
    with pytest.raises(BadInputError):
        profile(model, (1, 5, 8, 8))
    assert [a[:6] for a in _state(model)] == [b[:6] for b in before]
    assert all(m.training for m in model.modules())
    assert not torch.nn.modules.module._global_forward_hooks


def _rows(model: nn.Module, shape, shortcuts: bool, dtype=torch.float32):
    from effkit.analysis.meta import on_meta
    from effkit.analysis.profile import analyse_trace
    from effkit.analysis.tracer import trace

    with on_meta(model, dtype):
        tr = trace(model, [torch.empty(shape, dtype=dtype, device="meta")], shortcuts=shortcuts)
    layers, ops, uncounted = analyse_trace(tr)
    # NaN != NaN: compare the text of each row (exact for ints, repr for floats).
    return [repr(r) for r in layers], [repr(r) for r in ops], dict(uncounted), tr.uncalled, tr.params


def _zoo_rows(name: str, shortcuts: bool):
    from effkit import create_model
    from effkit.models import get_entry

    with torch.device("meta"):
        model = create_model(name)
    size = get_entry(name).default_input_size
    return _rows(model, (2, 3, size, size), shortcuts)


def _zoo():
    from effkit import list_models

    return list_models()


@pytest.mark.parametrize("name", _zoo())
def test_leaf_shortcuts_give_the_dispatch_path_rows_on_every_zoo_model(name):
    fast, plain = _zoo_rows(name, True), _zoo_rows(name, False)
    assert fast[0] == plain[0]  # layer rows
    assert fast[1] == plain[1]  # op rows
    assert fast[2:] == plain[2:]


class _Leaves(nn.Module):
    """Leaf settings the zoo does not use: bias, out-of-place ReLU, ceil mode, padding, no linear bias."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=2, dilation=2, groups=3, bias=True)
        self.bn = nn.BatchNorm2d(6, affine=False, momentum=None)
        self.relu = nn.ReLU()
        self.max = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(6, 4, bias=False)
        self.fc2 = nn.Linear(4, 3)

    def forward(self, x):
        x = self.gap(self.avg(self.max(self.relu(self.bn(self.conv(x))))))
        return self.fc2(self.fc(x.flatten(1)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_leaf_shortcuts_match_the_dispatch_path_on_other_settings(dtype):
    assert _rows(_Leaves(), (2, 3, 17, 15), True, dtype) == _rows(_Leaves(), (2, 3, 17, 15), False, dtype)


def test_a_subclassed_leaf_runs_its_own_forward():
    class Doubled(nn.ReLU):
        def forward(self, x):
            return super().forward(x) * 2

    p = profile(nn.Sequential(Doubled()), (1, 2, 3, 3))
    assert p.layers["ops"].tolist()[-1] == "relu, mul"  # mul would be missing had the shortcut run


def test_cold_totals_import_no_pandas():
    import os
    import subprocess
    import sys

    code = ("import sys, effkit; t = effkit.profile('densenet121').totals; "
            "print('pandas' in sys.modules, t.mult_adds)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    # 2,834,161,664: torchvision's published 2.834 G multiply-adds (tests/test_zoo_analysis.py).
    assert out.stdout.split() == ["False", "2834161664"]


def test_tables_are_built_on_first_access_and_kept():
    p = profile(_small(), (1, 3, 8, 8))
    assert "layers" not in p.__dict__ and "ops" not in p.__dict__
    assert p.layers is p.layers and p.ops is p.ops
    # conv 4*64*27 = 6912 multiply-adds, linear 256*5 = 1280 (the hand counts of tests/test_analysis.py's style)
    # Rows: conv, BN, ReLU, Flatten, Linear (the Sequential itself holds nothing and has no row).
    assert p.layers["mult_adds"].tolist() == [6912, 0, 0, 0, 1280]
    assert int(p.layers["mult_adds"].sum()) == p.totals.mult_adds == 8192


# --- what a repeated analysis reuses, and what it must not ----------------------------------------


def test_a_repeated_analysis_sees_weights_changed_in_place():
    """The meta stand-ins are kept between analyses of one model; a tensor changed under them is seen."""
    model = _small()
    conv = model[0]
    assert profile(model, (1, 3, 8, 8)).totals.params == 112 + 8 + 1285  # conv 3*4*9+4, BN 4+4, linear 256*5+5
    conv.weight.data = torch.zeros(4, 3, 1, 1)  # the same Parameter object, a new shape: a 1x1 conv
    conv.kernel_size, conv.padding = (1, 1), (0, 0)
    p = profile(model, (1, 3, 8, 8))
    assert p.totals.params == 12 + 4 + 8 + 1285
    assert p.layers["mult_adds"].tolist()[0] == 4 * 64 * 3  # 64 outputs per channel, 3 inputs each
    model.half()  # same objects again, now float16; analysed as float32 the sizes stay
    assert profile(model, (1, 3, 8, 8), "float32").totals.mac_bytes == p.totals.mac_bytes
    assert profile(model, (1, 3, 8, 8), "float16").totals.mac_bytes == p.totals.mac_bytes // 2


def test_a_weight_the_model_drops_is_freed():
    import weakref

    model = _small()
    profile(model, (1, 3, 8, 8))
    old = weakref.ref(model[0].weight)
    model[0].weight = nn.Parameter(torch.randn(4, 3, 3, 3))
    profile(model, (1, 3, 8, 8))
    gc.collect()
    assert old() is None  # no cache of effkit's holds on to it


def test_the_trace_leaves_no_forward_or_cat_behind():
    """Modules get a forward of the tracer's for the trace only; one of the user's own is kept and still runs."""
    model = _Tied()
    seen = []
    own = model.head.forward
    model.head.forward = lambda x: seen.append(x.shape) or own(x)  # a library's instance-level patch
    cat = torch.cat
    p = profile(model, (2, 3, 8, 8))
    assert seen == [torch.Size([2, 5])] and model.head.__dict__["forward"] is not own
    assert [m for m in model.modules() if "forward" in m.__dict__] == [model.head]
    assert torch.cat is cat
    assert p.layers["name"].tolist() == ["body.0", "body.1", "body.2", "body.3", "body.4", "head", "tail"]
    with pytest.raises(BadInputError):
        profile(model, (1, 5, 8, 8))
    assert [m for m in model.modules() if "forward" in m.__dict__] == [model.head] and torch.cat is cat


def test_walk_is_named_modules_order_with_repeats():
    from effkit.analysis.meta import walk

    shared = nn.Linear(2, 2)
    model = nn.Sequential(nn.Sequential(shared, nn.ReLU()), shared, nn.ModuleDict({"a": shared, "b": nn.Tanh()}))
    expected = [(tuple(n.split(".")) if n else (), m) for n, m in model.named_modules(remove_duplicate=False)]
    assert [(p, id(m)) for p, m in walk(model)] == [(p, id(m)) for p, m in expected]


def test_cat_shortcut_records_what_the_dispatcher_records():
    """Every form of torch.cat a model may use, shortcut or not: the same rows (dim trimmed at 0, negative kept)."""

    class Cats(nn.Module):
        def forward(self, x):
            y = torch.cat([x, x], 1)
            y = torch.cat((y, x), dim=-3)
            y = torch.cat([y, y])  # dim 0
            y = torch.cat([y, y], dim=0)
            z = torch.cat([x.transpose(2, 3), x.transpose(2, 3)], 1)  # not contiguous: PyTorch's path
            return torch.cat([y[:1], z.contiguous()], 1), torch.cat([x.flatten(1), x.flatten(1)], -1)

    fast, plain = _rows(Cats(), (1, 2, 4, 4), True), _rows(Cats(), (1, 2, 4, 4), False)
    assert fast == plain
    assert "cat" in repr(fast[1])
