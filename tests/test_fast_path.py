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
