"""DenseNet-BC for ImageNet (Huang et al. 2017, "Densely Connected Convolutional Networks").

Each dense layer reads the concatenation of every earlier feature map in its block: BN-ReLU-1x1 conv to
``bn_size * growth_rate`` channels, then BN-ReLU-3x3 conv to ``growth_rate``. Transitions halve the channels
(compression 0.5) with BN-ReLU-1x1 conv and a 2x2 average pool. The concatenation is a ``torch.cat`` in
``forward`` so effkit's tracer sees (and charges) the memory traffic it causes.

State-dict keys and parameter counts match torchvision's ``densenet121/161/169/201``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.common import init_weights
from effkit.models.registry import register_model

__all__ = ["DenseLayer", "DenseBlock", "DenseNet", "make_transition",
           "densenet121", "densenet161", "densenet169", "densenet201"]


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv to ``bn_size * growth_rate``, then BN-ReLU-3x3 conv to ``growth_rate``, over the concat."""

    def __init__(self, in_ch: int, growth_rate: int, bn_size: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        mid = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, mid, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # The concat is a fresh tensor, so the in-place ReLU after BN never touches an earlier layer's output.
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers named ``denselayer1..N``; returns the concat of the input and every layer output."""

    def __init__(self, num_layers: int, in_ch: int, growth_rate: int, bn_size: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(in_ch + i * growth_rate, growth_rate, bn_size, drop_rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


def make_transition(in_ch: int, out_ch: int) -> nn.Sequential:
    """BN-ReLU-1x1 conv to ``out_ch`` and a 2x2/2 average pool (keys ``norm``, ``relu``, ``conv``, ``pool``)."""
    return nn.Sequential(OrderedDict([
        ("norm", nn.BatchNorm2d(in_ch)),
        ("relu", nn.ReLU(inplace=True)),
        ("conv", nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False)),
        ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
    ]))


class DenseNet(nn.Module):
    """DenseNet-BC with an ImageNet stem (7x7/2 conv, 3x3/2 max-pool).

    Args:
        growth_rate: channels each dense layer adds (k).
        block_config: dense layers in each of the four blocks.
        num_init_features: channels of the stem conv.
        bn_size: bottleneck width as a multiple of ``growth_rate``.
        compression: channel ratio kept by each transition.
        drop_rate: dropout after each dense layer (0 in the published models).
        num_classes: classifier outputs.
    """

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        compression: float = 0.5,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        for label, v in (("growth_rate", growth_rate), ("num_init_features", num_init_features),
                         ("bn_size", bn_size), ("num_classes", num_classes)):
            if not isinstance(v, int) or v < 1:
                raise BadInputError(f"DenseNet {label} must be a positive integer, got {v!r}")
        if not block_config or any(not isinstance(n, int) or n < 1 for n in block_config):
            raise BadInputError(f"DenseNet block_config must be positive integers, got {list(block_config)}")
        if not 0 < compression <= 1:
            raise BadInputError(f"DenseNet compression must be in (0, 1], got {compression!r}")
        if not 0 <= drop_rate < 1:
            raise BadInputError(f"DenseNet drop_rate must be in [0, 1), got {drop_rate!r}")

        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        ch = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     DenseBlock(num_layers, ch, growth_rate, bn_size, drop_rate))
            ch += num_layers * growth_rate
            if i != len(block_config) - 1:
                out = int(ch * compression)
                self.features.add_module(f"transition{i + 1}", make_transition(ch, out))
                ch = out
        self.features.add_module("norm5", nn.BatchNorm2d(ch))
        self.classifier = nn.Linear(ch, num_classes)

        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.features(x), inplace=True)
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.classifier(x)


# name: (growth_rate, block_config, num_init_features)
_CONFIGS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}


def _create(arch: str, **kwargs) -> DenseNet:
    try:
        growth, blocks, init = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no DenseNet config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    return DenseNet(growth, blocks, init, **kwargs)


@register_model(family="densenet", params=7_978_856)
def densenet121(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-121 (k=32, blocks 6-12-24-16), torchvision layout; 8.0M params."""
    return _create("densenet121", num_classes=num_classes, **kwargs)


@register_model(family="densenet", params=28_681_000)
def densenet161(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-161 (k=48, blocks 6-12-36-24), torchvision layout; 28.7M params."""
    return _create("densenet161", num_classes=num_classes, **kwargs)


@register_model(family="densenet", params=14_149_480)
def densenet169(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-169 (k=32, blocks 6-12-32-32), torchvision layout; 14.1M params."""
    return _create("densenet169", num_classes=num_classes, **kwargs)


@register_model(family="densenet", params=20_013_928)
def densenet201(num_classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-201 (k=32, blocks 6-12-48-32), torchvision layout; 20.0M params."""
    return _create("densenet201", num_classes=num_classes, **kwargs)
