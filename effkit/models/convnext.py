"""ConvNeXt-Tiny (Liu et al. 2022, "A ConvNet for the 2020s").

A ResNet modernised towards a vision transformer: a 4x4/4 "patchify" stem, blocks of a 7x7 depthwise conv,
a LayerNorm over channels, an MLP of two linear layers (4x expansion, GELU) applied per pixel in
channels-last layout, a learned per-channel scale and a residual add; LayerNorm plus a 2x2/2 conv between
stages. The permutes to and from channels-last are views (free); the linear layers on 4-D tensors are
matrix multiplies over every pixel.

State-dict keys and the parameter count match torchvision's ``convnext_tiny`` (28,589,128).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.common import ConvNormAct, StochasticDepth
from effkit.models.registry import register_model

__all__ = ["LayerNorm2d", "Permute", "CNBlock", "ConvNeXt", "StageConfig", "convnext_tiny"]

_EPS = 1e-6


class Permute(nn.Module):
    """``x.permute(*dims)`` as a module, so a ``nn.Sequential`` can switch layouts (a view: no copy)."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor: permute to NHWC, normalise the last dim, permute back."""

    def __init__(self, ch: int, eps: float = _EPS) -> None:
        super().__init__(ch, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """7x7 depthwise conv, channels-last LayerNorm, linear 4x expand, GELU, linear project, scale, residual.

    ``block`` indices are torchvision's (``block.0`` the depthwise conv, ``block.2`` the norm, ``block.3`` and
    ``block.5`` the linears); ``layer_scale`` is a (dim, 1, 1) parameter multiplied into the branch.
    """

    def __init__(self, dim: int, layer_scale: float, stochastic_depth_prob: float) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=_EPS),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), float(layer_scale)))
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stochastic_depth(self.layer_scale * self.block(x))
        out += x
        return out


class StageConfig(NamedTuple):
    """One stage: its width, the width the downsampling layer after it leads to (``None``: last), blocks."""

    ch: int
    out_ch: int | None
    num_layers: int


class ConvNeXt(nn.Module):
    """Patchify stem, stages of :class:`CNBlock` with LayerNorm + 2x2/2 conv between, pool, norm, classifier.

    ``features`` alternates stages and downsampling layers (``features.0`` stem, ``features.1`` stage 1,
    ``features.2`` its downsampling, ...), as torchvision's keys have it.

    Args:
        stages: the stage rows (:class:`StageConfig`).
        num_classes: classifier outputs.
        stochastic_depth_prob: drop probability of the last block, linear in depth from 0 at the first.
        layer_scale: initial value of every block's per-channel scale.
    """

    def __init__(self, stages: Sequence[StageConfig], num_classes: int = 1000, *,
                 stochastic_depth_prob: float = 0.1, layer_scale: float = 1e-6) -> None:
        super().__init__()
        if not stages:
            raise BadInputError("ConvNeXt needs at least one stage")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise BadInputError(f"num_classes must be a positive integer, got {num_classes!r}")
        layers: list[nn.Module] = [ConvNormAct(3, stages[0].ch, 4, 4, padding=0, norm=LayerNorm2d, act=None,
                                               bias=True)]
        total, index = sum(s.num_layers for s in stages), 0
        for s in stages:
            blocks = []
            for _ in range(s.num_layers):
                p = stochastic_depth_prob * index / max(total - 1, 1)
                blocks.append(CNBlock(s.ch, layer_scale, p))
                index += 1
            layers.append(nn.Sequential(*blocks))
            if s.out_ch is not None:
                layers.append(nn.Sequential(LayerNorm2d(s.ch), nn.Conv2d(s.ch, s.out_ch, kernel_size=2, stride=2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = stages[-1].out_ch or stages[-1].ch
        self.classifier = nn.Sequential(LayerNorm2d(last), nn.Flatten(1), nn.Linear(last, num_classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def _init(model: nn.Module) -> None:
    # torchvision's recipe: truncated-normal (std 0.02) conv and linear weights, zero biases; LayerNorms
    # keep PyTorch's ones/zeros. Nothing to initialise on the meta device.
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not m.weight.is_meta:
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# name: stage rows (width, width after downsampling, blocks), the paper's section 3 at "T" size
_CONFIGS: dict[str, tuple[StageConfig, ...]] = {
    "convnext_tiny": (StageConfig(96, 192, 3), StageConfig(192, 384, 3), StageConfig(384, 768, 9),
                      StageConfig(768, None, 3)),
}


def _create(arch: str, **kwargs) -> ConvNeXt:
    try:
        stages = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no ConvNeXt config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    return ConvNeXt(stages, **kwargs)


@register_model(family="convnext", params=28_589_128)
def convnext_tiny(num_classes: int = 1000, **kwargs) -> ConvNeXt:
    """ConvNeXt-Tiny (7x7 depthwise, LayerNorm, GELU MLP, blocks 3-3-9-3), torchvision layout; 28.6M params."""
    return _create("convnext_tiny", num_classes=num_classes, **kwargs)
