"""MobileNetV2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks").

An inverted residual expands the channels ``t`` times with a 1x1 conv, filters them with a 3x3 depthwise
conv and projects back with a linear (activation-free) 1x1 conv; blocks that keep shape add their input.
Depthwise convs make FLOPs small but leave the memory traffic of the wide expanded tensors, the case the
VoVNet paper makes against FLOPs as a speed proxy.

State-dict keys and the parameter count match torchvision's ``mobilenet_v2`` (3,504,872).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.common import ConvNormAct, init_weights
from effkit.models.registry import register_model

__all__ = ["InvertedResidual", "MobileNetV2", "mobilenet_v2"]


class InvertedResidual(nn.Module):
    """1x1 expand (skipped at ``t = 1``), 3x3 depthwise, linear 1x1 project; a residual add when shape allows.

    Modules sit in one ``conv`` sequence (``conv.0.0`` expand, ``conv.1.0`` depthwise, ``conv.2`` project,
    ``conv.3`` its BN), as torchvision's keys have it.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise BadInputError(f"InvertedResidual stride must be 1 or 2, got {stride!r}")
        hidden = int(round(in_ch * expand_ratio))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(in_ch, hidden, 1, act=nn.ReLU6))
        layers += [
            ConvNormAct(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """Stem 3x3/2 conv to 32 channels, 17 inverted residuals, 1x1 conv to 1280, global pool, classifier.

    Args:
        setting: rows ``(t, c, n, s)``: expansion, output channels, repeats, stride of the first repeat.
        num_classes: classifier outputs.
        stem_ch: channels of the stem conv.
        last_ch: channels of the last 1x1 conv.
        dropout: dropout before the classifier (training only).
    """

    def __init__(self, setting: Sequence[tuple[int, int, int, int]], num_classes: int = 1000, *,
                 stem_ch: int = 32, last_ch: int = 1280, dropout: float = 0.2) -> None:
        super().__init__()
        if not setting or any(len(row) != 4 for row in setting):
            raise BadInputError(f"MobileNetV2 setting needs rows of (t, c, n, s), got {list(setting)!r}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise BadInputError(f"num_classes must be a positive integer, got {num_classes!r}")
        features: list[nn.Module] = [ConvNormAct(3, stem_ch, 3, 2, act=nn.ReLU6)]
        ch = stem_ch
        for t, c, n, s in setting:
            for i in range(n):
                features.append(InvertedResidual(ch, c, s if i == 0 else 1, t))
                ch = c
        features.append(ConvNormAct(ch, last_ch, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_ch, num_classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def _init(model: nn.Module) -> None:
    # torchvision's recipe: fan-out Kaiming convs with zero bias, N(0, 0.01) classifier weights.
    init_weights(model, conv_fan_out=True)
    for m in model.modules():
        if isinstance(m, nn.Linear) and not m.weight.is_meta:
            nn.init.normal_(m.weight, 0, 0.01)


# name: rows of (expansion t, output channels c, repeats n, first stride s), the paper's Table 2
_CONFIGS: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "mobilenet_v2": ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                     (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)),
}


def _create(arch: str, **kwargs) -> MobileNetV2:
    try:
        setting = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no MobileNet config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    return MobileNetV2(setting, **kwargs)


@register_model(family="mobilenet", params=3_504_872)
def mobilenet_v2(num_classes: int = 1000, **kwargs) -> MobileNetV2:
    """MobileNetV2 (inverted residuals, depthwise 3x3, width 1.0), torchvision layout; 3.5M params."""
    return _create("mobilenet_v2", num_classes=num_classes, **kwargs)
