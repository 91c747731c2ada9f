"""ShuffleNetV2 (Ma et al. 2018, "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design").

A unit splits its channels in two, runs one half through 1x1 conv, 3x3 depthwise conv and 1x1 conv (the
other half passes through untouched), concatenates and shuffles the channels so the halves mix. A
downsampling unit feeds both halves from the whole input and strides both. The paper's guidelines (equal
in/out channels, few groups, little fragmentation and few elementwise ops) are the MAC argument the VoVNet
paper builds on.

The channel shuffle is a view, a transpose and a ``contiguous`` copy: the views are free and the copy is
real data movement, so a profile charges the shuffle once per unit. State-dict keys and the parameter
count match torchvision's ``shufflenet_v2_x1_0`` (2,278,604).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.common import init_weights
from effkit.models.registry import register_model

__all__ = ["ShuffleUnit", "ShuffleNetV2", "channel_shuffle", "shufflenet_v2_x1_0"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` equal channel groups: (N, g*c, H, W) -> view (N, g, c, H, W) -> swap g, c -> flatten."""
    n, ch, h, w = x.shape
    x = x.view(n, groups, ch // groups, h, w).transpose(1, 2).contiguous()
    return x.view(n, ch, h, w)


def _depthwise(ch: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(ch, ch, 3, stride, 1, groups=ch, bias=False)


def _pointwise(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, bias=False)


class ShuffleUnit(nn.Module):
    """One ShuffleNetV2 unit: split (or, at stride 2, two strided branches), concat, channel shuffle.

    ``branch1`` (stride 2 only): 3x3 depthwise-BN, 1x1-BN-ReLU. ``branch2``: 1x1-BN-ReLU, 3x3 depthwise-BN,
    1x1-BN-ReLU; module indices as torchvision's keys (``branch2.3.weight`` is the depthwise conv).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise BadInputError(f"ShuffleNetV2 unit stride must be 1 or 2, got {stride!r}")
        half = out_ch // 2
        if stride == 1 and in_ch != 2 * half:
            raise BadInputError(f"a stride-1 ShuffleNetV2 unit needs in_ch == out_ch (even), got {in_ch}, {out_ch}")
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(in_ch, stride), nn.BatchNorm2d(in_ch),
                _pointwise(in_ch, half), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            _pointwise(in_ch if stride > 1 else half, half), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            _depthwise(half, stride), nn.BatchNorm2d(half),
            _pointwise(half, half), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """Stem 3x3/2 conv and 3x3/2 max-pool, three stages of shuffle units, 1x1 conv, global mean, classifier.

    Args:
        repeats: units in ``stage2..stage4`` (the first of each strides by 2).
        channels: five widths: the stem, the three stages and the last 1x1 conv.
        num_classes: classifier outputs.
    """

    def __init__(self, repeats: Sequence[int], channels: Sequence[int], num_classes: int = 1000) -> None:
        super().__init__()
        if len(repeats) != 3 or any(not isinstance(n, int) or n < 1 for n in repeats):
            raise BadInputError(f"ShuffleNetV2 needs 3 positive unit counts, got {list(repeats)}")
        if len(channels) != 5:
            raise BadInputError(f"ShuffleNetV2 needs 5 channel widths, got {list(channels)}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise BadInputError(f"num_classes must be a positive integer, got {num_classes!r}")
        ch = channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(3, ch, 3, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i, (n, out) in enumerate(zip(repeats, channels[1:4]), start=2):
            units = [ShuffleUnit(ch, out, 2)] + [ShuffleUnit(out, out, 1) for _ in range(n - 1)]
            setattr(self, f"stage{i}", nn.Sequential(*units))
            ch = out
        last = channels[4]
        self.conv5 = nn.Sequential(_pointwise(ch, last), nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.fc = nn.Linear(last, num_classes)
        # torchvision leaves PyTorch's default init here; the shared one is the zoo's common ground.
        init_weights(self, conv_fan_out=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean([2, 3]))  # global average pool


# name: (units per stage, widths of stem / stage2..4 / last conv), the paper's Table 5 at 1x
_CONFIGS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int, int, int]]] = {
    "shufflenet_v2_x1_0": ((4, 8, 4), (24, 116, 232, 464, 1024)),
}


def _create(arch: str, **kwargs) -> ShuffleNetV2:
    try:
        repeats, channels = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no ShuffleNetV2 config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    return ShuffleNetV2(repeats, channels, **kwargs)


@register_model(family="shufflenet", params=2_278_604)
def shufflenet_v2_x1_0(num_classes: int = 1000, **kwargs) -> ShuffleNetV2:
    """ShuffleNetV2 x1.0 (channel split and shuffle, units 4-8-4), torchvision layout; 2.3M params."""
    return _create("shufflenet_v2_x1_0", num_classes=num_classes, **kwargs)
