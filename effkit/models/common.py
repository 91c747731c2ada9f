"""Weight initialisation shared by the zoo's families."""

from __future__ import annotations

from torch import nn


def init_weights(model: nn.Module, *, conv_fan_out: bool = False, zero_linear_bias: bool = True) -> None:
    """Kaiming-normal convs, BN weight 1 / bias 0, zero linear bias (the reference implementations').

    Skipped for tensors on the meta device, where initialising means nothing and ``normal_`` would
    import torch._dynamo (about a second in a cold process).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
            if conv_fan_out:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and zero_linear_bias and m.bias is not None:
            nn.init.zeros_(m.bias)
