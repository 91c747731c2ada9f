"""EfficientNet-B0 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks").

The B0 baseline is seven stages of MBConv blocks: MobileNetV2's inverted residual with SiLU activations,
3x3 or 5x5 depthwise kernels and a squeeze-and-excitation gate (global pool, two 1x1 convs, a sigmoid that
rescales every channel). The gate's broadcast multiply and the SiLUs are elementwise ops over the widest
tensors of the block: cheap in FLOPs, not in memory traffic.

State-dict keys and the parameter count match torchvision's ``efficientnet_b0`` (5,288,548).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.common import ConvNormAct, StochasticDepth, init_weights
from effkit.models.registry import register_model

__all__ = ["MBConv", "SqueezeExcitation", "EfficientNet", "StageConfig", "efficientnet_b0"]


class SqueezeExcitation(nn.Module):
    """Channel gate: global average pool, 1x1 conv to ``squeeze_ch``, SiLU, 1x1 conv back, sigmoid, multiply."""

    def __init__(self, ch: int, squeeze_ch: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(ch, squeeze_ch, 1)
        self.fc2 = nn.Conv2d(squeeze_ch, ch, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class StageConfig(NamedTuple):
    """One row of the paper's Table 1: expansion, depthwise kernel, first stride, in/out channels, blocks."""

    expand_ratio: int
    kernel: int
    stride: int
    in_ch: int
    out_ch: int
    num_layers: int


class MBConv(nn.Module):
    """1x1 expand (skipped at ratio 1), kxk depthwise, squeeze-excitation, linear 1x1 project, residual add.

    The modules form one ``block`` sequence (``block.0`` expand, ``block.1`` depthwise, ``block.2`` gate,
    ``block.3`` project at ratio 6), as torchvision's keys have it. The gate squeezes to a quarter of the
    block's *input* channels.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand_ratio: int,
                 stochastic_depth_prob: float) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise BadInputError(f"MBConv stride must be 1 or 2, got {stride!r}")
        self.use_res_connect = stride == 1 and in_ch == out_ch
        hidden = in_ch * expand_ratio
        layers: list[nn.Module] = []
        if hidden != in_ch:
            layers.append(ConvNormAct(in_ch, hidden, 1, act=nn.SiLU))
        layers += [
            ConvNormAct(hidden, hidden, kernel, stride, groups=hidden, act=nn.SiLU),
            SqueezeExcitation(hidden, max(1, in_ch // 4)),
            ConvNormAct(hidden, out_ch, 1, act=None),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out)
            out += x
        return out


class EfficientNet(nn.Module):
    """Stem 3x3/2 conv, one ``nn.Sequential`` of MBConvs per stage, 1x1 conv to 4x the last width, classifier.

    Args:
        stages: the stage rows (:class:`StageConfig`).
        num_classes: classifier outputs.
        dropout: dropout before the classifier (training only).
        stochastic_depth_prob: drop probability of the last block; block ``i`` of ``n`` gets ``p * i / n``.
    """

    def __init__(self, stages: Sequence[StageConfig], num_classes: int = 1000, *, dropout: float = 0.2,
                 stochastic_depth_prob: float = 0.2) -> None:
        super().__init__()
        if not stages:
            raise BadInputError("EfficientNet needs at least one stage")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise BadInputError(f"num_classes must be a positive integer, got {num_classes!r}")
        layers: list[nn.Module] = [ConvNormAct(3, stages[0].in_ch, 3, 2, act=nn.SiLU)]
        total, index = sum(s.num_layers for s in stages), 0
        for s in stages:
            blocks = []
            for i in range(s.num_layers):
                p = stochastic_depth_prob * index / total
                blocks.append(MBConv(s.in_ch if i == 0 else s.out_ch, s.out_ch, s.kernel,
                                     s.stride if i == 0 else 1, s.expand_ratio, p))
                index += 1
            layers.append(nn.Sequential(*blocks))
        last = 4 * stages[-1].out_ch
        layers.append(ConvNormAct(stages[-1].out_ch, last, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), nn.Linear(last, num_classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


def _init(model: nn.Module) -> None:
    # torchvision's recipe: fan-out Kaiming convs, zero conv biases, U(+-1/sqrt(out)) classifier weights.
    init_weights(model, conv_fan_out=True)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not m.weight.is_meta:
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            if isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)


# name: stage rows (expansion, kernel, stride, in, out, blocks), the paper's Table 1
_CONFIGS: dict[str, tuple[StageConfig, ...]] = {
    "efficientnet_b0": tuple(StageConfig(*row) for row in (
        (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
    )),
}


def _create(arch: str, **kwargs) -> EfficientNet:
    try:
        stages = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no EfficientNet config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    return EfficientNet(stages, **kwargs)


@register_model(family="efficientnet", params=5_288_548)
def efficientnet_b0(num_classes: int = 1000, **kwargs) -> EfficientNet:
    """EfficientNet-B0 (MBConv with squeeze-excitation and SiLU), torchvision layout; 5.3M params."""
    return _create("efficientnet_b0", num_classes=num_classes, **kwargs)
