"""CIFAR-10 networks (32x32 input) from the papers' small-scale comparisons.

``densenet40_cifar`` is the DenseNet (L=40, k=12) of Huang et al. 2017 that the VoVNet paper uses to
illustrate memory access cost: a 3x3 stem conv to 16 channels, three dense blocks of 12 plain layers
(BN-ReLU-3x3 conv, no bottleneck), transitions without compression, then BN-ReLU, global average pool and a
linear classifier.

:class:`CifarNet` holds the skeleton (stem conv, stages joined by :func:`_make_transition`, BN-ReLU head)
so another kind of stage, e.g. OSA blocks, only has to supply its stage modules and their output channels.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.registry import register_model

__all__ = ["CifarNet", "PlainDenseLayer", "PlainDenseBlock", "densenet40_cifar"]


class PlainDenseLayer(nn.Module):
    """BN-ReLU-3x3 conv to ``growth_rate`` channels over the concat of every earlier feature map."""

    def __init__(self, in_ch: int, growth_rate: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_ch, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(self.relu(self.norm(torch.cat(features, 1))))


class PlainDenseBlock(nn.ModuleDict):
    """``num_layers`` plain dense layers; outputs ``in_ch + num_layers * growth_rate`` channels."""

    def __init__(self, num_layers: int, in_ch: int, growth_rate: int) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}", PlainDenseLayer(in_ch + i * growth_rate, growth_rate))
        self.out_ch = in_ch + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


def _make_transition(in_ch: int, out_ch: int | None = None) -> nn.Sequential:
    """BN-ReLU-1x1 conv (to ``out_ch``, default ``in_ch``: no compression) and a 2x2/2 average pool."""
    out_ch = in_ch if out_ch is None else out_ch
    return nn.Sequential(OrderedDict([
        ("norm", nn.BatchNorm2d(in_ch)),
        ("relu", nn.ReLU(inplace=True)),
        ("conv", nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False)),
        ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
    ]))


class CifarNet(nn.Module):
    """3x3 stem conv, stages joined by transitions, BN-ReLU, global average pool, linear classifier.

    Args:
        stages: stage modules in order; the first takes ``stem_ch`` channels, each later one the
            output channels of the one before (transitions keep the channel count).
        stage_out_ch: output channels of each stage.
        stem_ch: output channels of the 3x3 stem conv.
        num_classes: classifier outputs.
    """

    def __init__(self, stages: Sequence[nn.Module], stage_out_ch: Sequence[int], stem_ch: int = 16,
                 num_classes: int = 10) -> None:
        super().__init__()
        if not stages or len(stages) != len(stage_out_ch):
            raise BadInputError(
                f"CifarNet needs one output channel count per stage, got {len(stages)} stages "
                f"and {len(stage_out_ch)} counts"
            )
        if not isinstance(num_classes, int) or num_classes < 1:
            raise BadInputError(f"num_classes must be a positive integer, got {num_classes!r}")
        layers: list[tuple[str, nn.Module]] = [
            ("conv0", nn.Conv2d(3, stem_ch, kernel_size=3, padding=1, bias=False))
        ]
        for i, (stage, ch) in enumerate(zip(stages, stage_out_ch)):
            layers.append((f"block{i + 1}", stage))
            if i != len(stages) - 1:
                layers.append((f"transition{i + 1}", _make_transition(ch)))
        layers += [("norm_final", nn.BatchNorm2d(stage_out_ch[-1])), ("relu_final", nn.ReLU(inplace=True))]
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(stage_out_ch[-1], num_classes)

        for m in self.modules():
            # Skipped on meta, where it means nothing and normal_ would import torch._dynamo (slow).
            if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.classifier(x)


def _dense_stages(num_blocks: int, layers_per_block: int, growth_rate: int, stem_ch: int):
    stages, out_chs, ch = [], [], stem_ch
    for _ in range(num_blocks):
        block = PlainDenseBlock(layers_per_block, ch, growth_rate)
        stages.append(block)
        ch = block.out_ch
        out_chs.append(ch)
    return stages, out_chs


# name: (stem_ch, dense blocks, layers per block, growth rate)
_CONFIGS: dict[str, tuple[int, int, int, int]] = {
    "densenet40_cifar": (16, 3, 12, 12),
}


def _create(arch: str, num_classes: int = 10) -> CifarNet:
    try:
        stem_ch, blocks, layers, growth = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no CIFAR config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    stages, out_chs = _dense_stages(blocks, layers, growth, stem_ch)
    return CifarNet(stages, out_chs, stem_ch=stem_ch, num_classes=num_classes)


@register_model(family="densenet", input_size=32)
def densenet40_cifar(num_classes: int = 10) -> CifarNet:
    """DenseNet-40 (k=12) for CIFAR-10 at 32x32, the paper's MAC example; 1.0M params (exactly 1,019,722)."""
    return _create("densenet40_cifar", num_classes=num_classes)
