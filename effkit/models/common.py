"""Pieces shared by the zoo's families: weight initialisation, conv-norm-activation, stochastic depth."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from effkit.errors import BadInputError


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


class ConvNormAct(nn.Sequential):
    """A conv at index 0, a norm at 1 and an activation at 2, each optional past the conv.

    The indices are torchvision's ``Conv2dNormActivation`` layout, so keys read ``features.0.0.weight``,
    ``features.0.1.running_mean``. Padding defaults to "same" for odd kernels; the conv has a bias only
    when no norm follows it (a norm's shift would cancel it), unless ``bias`` says otherwise.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, *, groups: int = 1,
                 norm: Callable[[int], nn.Module] | None = nn.BatchNorm2d,
                 act: Callable[..., nn.Module] | None = nn.ReLU,
                 padding: int | None = None, bias: bool | None = None) -> None:
        padding = (kernel_size - 1) // 2 if padding is None else padding
        bias = norm is None if bias is None else bias
        layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, groups=groups, bias=bias)]
        if norm is not None:
            layers.append(norm(out_ch))
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class StochasticDepth(nn.Module):
    """Drop a residual branch per sample with probability ``p`` while training; the identity in eval.

    Survivors are scaled by ``1 / (1 - p)`` so the branch's expected value is unchanged. In eval (the
    only mode effkit analyses or times) it runs no op at all, so it costs nothing in a profile.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise BadInputError(f"stochastic depth probability must be in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask.div_(keep) if keep > 0 else x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
