"""ResNet for ImageNet (He et al. 2016), in torchvision's "v1.5" layout: a Bottleneck strides on its 3x3 conv.

State-dict keys and parameter counts match torchvision's ``resnet18/34/50/101/152``. The residual add is
written in ``forward`` (``out += identity``) so effkit's tracer sees it as an op of the block.
"""

from __future__ import annotations

from typing import Sequence, Type, Union

import torch
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.common import init_weights
from effkit.models.registry import register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a residual add (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, each with BN, and a residual add (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(in_ch, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


Block = Union[Type[BasicBlock], Type[Bottleneck]]


class ResNet(nn.Module):
    """ResNet with the ImageNet stem (7x7/2 conv, 3x3/2 max-pool) and four stages ``layer1..layer4``.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks in each of the four stages.
        num_classes: classifier outputs.
        zero_init_residual: start each block's last BN at zero so every block begins as an identity.
    """

    def __init__(self, block: Block, layers: Sequence[int], num_classes: int = 1000,
                 zero_init_residual: bool = False) -> None:
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise BadInputError(f"ResNet block must be BasicBlock or Bottleneck, got {block!r}")
        if len(layers) != 4 or any(not isinstance(n, int) or n < 1 for n in layers):
            raise BadInputError(f"ResNet needs 4 positive block counts, got {list(layers)}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise BadInputError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.in_ch = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        init_weights(self, conv_fan_out=True, zero_linear_bias=False)  # as torchvision
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        out_ch = planes * block.expansion
        downsample = None
        if stride != 1 or self.in_ch != out_ch:
            downsample = nn.Sequential(_conv1x1(self.in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))
        layers = [block(self.in_ch, planes, stride, downsample)]
        self.in_ch = out_ch
        layers += [block(out_ch, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# name: (block, blocks per stage)
_CONFIGS: dict[str, tuple[Block, tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
    "resnet152": (Bottleneck, (3, 8, 36, 3)),
}


def _create(arch: str, **kwargs) -> ResNet:
    try:
        block, layers = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no ResNet config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    return ResNet(block, layers, **kwargs)


@register_model(family="resnet", params=11_689_512)
def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2), torchvision layout; 11.7M params."""
    return _create("resnet18", num_classes=num_classes, **kwargs)


@register_model(family="resnet", params=21_797_672)
def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3), torchvision layout; 21.8M params."""
    return _create("resnet34", num_classes=num_classes, **kwargs)


@register_model(family="resnet", params=25_557_032)
def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3, stride on the 3x3), torchvision layout; 25.6M params."""
    return _create("resnet50", num_classes=num_classes, **kwargs)


@register_model(family="resnet", params=44_549_160)
def resnet101(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-101 (bottlenecks 3-4-23-3, stride on the 3x3), torchvision layout; 44.5M params."""
    return _create("resnet101", num_classes=num_classes, **kwargs)


@register_model(family="resnet", params=60_192_808)
def resnet152(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-152 (bottlenecks 3-8-36-3, stride on the 3x3), torchvision layout; 60.2M params."""
    return _create("resnet152", num_classes=num_classes, **kwargs)
