"""VoVNet (Lee et al. 2019, "An Energy and GPU-Computation Efficient Backbone Network", arXiv 1904.09730).

A VoVNet is a stem of three 3x3 conv-BN-ReLU layers followed by four stages of one-shot aggregation (OSA)
blocks. An OSA block runs ``layer_per_block`` 3x3 convs in sequence and concatenates all their outputs
(and its input) *once*, at the end, before a 1x1 conv; a DenseNet block instead concatenates before every
layer, which is what makes its memory access cost (MAC) grow with depth.

Module names, including the ``/`` inside them (``stem.stem_1/conv``, ``stage2.OSA2_1.concat.OSA2_1_concat/conv``),
follow the reference implementation (stigma0617/VoVNet.pytorch) so its checkpoints load unchanged.
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

__all__ = [
    "OSAModule", "OSAStage", "VoVNet", "conv_bn_relu", "vovnet27_slim", "vovnet27_slim_bottleneck", "vovnet39",
    "vovnet57",
]


def conv_bn_relu(
    in_ch: int, out_ch: int, module_name: str, postfix: str | int, *, kernel_size: int = 3, stride: int = 1
) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` pairs of a bias-free conv, BN and ReLU named ``{module_name}_{postfix}/conv|norm|relu``.

    Returned as pairs rather than a module so callers can splice several into one ``nn.Sequential``,
    which keeps the reference implementation's flat state_dict keys (``stem.stem_2/conv.weight``).
    """
    prefix = f"{module_name}_{postfix}"
    return [
        (f"{prefix}/conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding=kernel_size // 2, bias=False)),
        (f"{prefix}/norm", nn.BatchNorm2d(out_ch)),
        (f"{prefix}/relu", nn.ReLU(inplace=True)),
    ]


class OSAModule(nn.Module):
    """One-shot aggregation block: ``layer_per_block`` chained 3x3 convs, one concat, one 1x1 conv.

    Args:
        in_ch: channels of the block input.
        stage_ch: output channels of each 3x3 conv.
        concat_ch: output channels of the 1x1 aggregation conv (the block output).
        layer_per_block: number of 3x3 conv layers.
        module_name: name prefix of the block's modules, e.g. ``"OSA2_1"``.
        identity: add the block input to its output (needs ``in_ch == concat_ch``).
        bottleneck: put a 1x1 conv-BN-ReLU with half the input channels in front of every 3x3 conv
            (the paper's Table 3 ablation). The reference code has no such option, so its keys are
            effkit's own: ``layers.0.OSA2_1_0_bottleneck/conv.weight``.
    """

    def __init__(
        self,
        in_ch: int,
        stage_ch: int,
        concat_ch: int,
        layer_per_block: int,
        module_name: str,
        identity: bool = False,
        bottleneck: bool = False,
    ) -> None:
        super().__init__()
        if identity and in_ch != concat_ch:
            raise BadInputError(
                f"{module_name}: an identity add needs in_ch == concat_ch, got {in_ch} and {concat_ch}"
            )
        self.identity = identity
        self.layers = nn.ModuleList()
        ch = in_ch
        for i in range(layer_per_block):
            parts: list[tuple[str, nn.Module]] = []
            if bottleneck:
                if ch < 2:
                    raise BadInputError(f"{module_name}: a bottleneck needs at least 2 input channels, got {ch}")
                parts += conv_bn_relu(ch, ch // 2, module_name, f"{i}_bottleneck", kernel_size=1)
                parts += conv_bn_relu(ch // 2, stage_ch, module_name, i)
            else:
                parts += conv_bn_relu(ch, stage_ch, module_name, i)
            self.layers.append(nn.Sequential(OrderedDict(parts)))
            ch = stage_ch
        self.concat = nn.Sequential(
            OrderedDict(conv_bn_relu(in_ch + layer_per_block * stage_ch, concat_ch, module_name, "concat",
                                     kernel_size=1))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        out = self.concat(torch.cat(feats, dim=1))
        if self.identity:
            out = out + feats[0]
        return out


class OSAStage(nn.Sequential):
    """``block_per_stage`` OSA blocks named ``OSA{stage_num}_{k}``; a 3x3/2 max-pool (``Pooling``) first unless stage 2.

    Every block after the first adds its input to its output (identity mapping).
    """

    def __init__(
        self,
        in_ch: int,
        stage_ch: int,
        concat_ch: int,
        block_per_stage: int,
        layer_per_block: int,
        stage_num: int,
        bottleneck: bool = False,
    ) -> None:
        super().__init__()
        if stage_num != 2:
            self.add_module("Pooling", nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
        for k in range(block_per_stage):
            name = f"OSA{stage_num}_{k + 1}"
            self.add_module(
                name,
                OSAModule(in_ch if k == 0 else concat_ch, stage_ch, concat_ch, layer_per_block, name,
                          identity=k > 0, bottleneck=bottleneck),
            )


def _check_config(stage_ch, concat_ch, block_per_stage, layer_per_block, num_classes) -> None:
    for label, seq in (("stage_ch", stage_ch), ("concat_ch", concat_ch), ("block_per_stage", block_per_stage)):
        if len(seq) != 4:
            raise BadInputError(f"VoVNet needs 4 values of {label} (one per stage), got {len(seq)}: {list(seq)}")
        if any(not isinstance(v, int) or v < 1 for v in seq):
            raise BadInputError(f"VoVNet {label} must be positive integers, got {list(seq)}")
    if not isinstance(layer_per_block, int) or layer_per_block < 1:
        raise BadInputError(f"VoVNet layer_per_block must be a positive integer, got {layer_per_block!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise BadInputError(f"num_classes must be a positive integer, got {num_classes!r}")


class VoVNet(nn.Module):
    """VoVNet backbone and ImageNet classifier.

    Args:
        stage_ch: channels of the 3x3 convs in stages 2-5.
        concat_ch: output channels of stages 2-5 (the 1x1 aggregation convs).
        block_per_stage: OSA blocks in stages 2-5.
        layer_per_block: 3x3 convs per OSA block (5 in every published VoVNet).
        num_classes: classifier outputs.
        bottleneck: 1x1 reduction in front of every 3x3 conv (see :class:`OSAModule`).
    """

    def __init__(
        self,
        stage_ch: Sequence[int],
        concat_ch: Sequence[int],
        block_per_stage: Sequence[int],
        layer_per_block: int = 5,
        num_classes: int = 1000,
        bottleneck: bool = False,
    ) -> None:
        super().__init__()
        _check_config(stage_ch, concat_ch, block_per_stage, layer_per_block, num_classes)
        stem = conv_bn_relu(3, 64, "stem", "1", stride=2)
        stem += conv_bn_relu(64, 64, "stem", "2")
        stem += conv_bn_relu(64, 128, "stem", "3", stride=2)
        self.stem = nn.Sequential(OrderedDict(stem))

        in_chs = [128, *concat_ch[:-1]]
        self.stage_names: list[str] = []
        for i in range(4):
            name = f"stage{i + 2}"
            self.stage_names.append(name)
            self.add_module(name, OSAStage(in_chs[i], stage_ch[i], concat_ch[i], block_per_stage[i],
                                           layer_per_block, i + 2, bottleneck=bottleneck))
        self.classifier = nn.Linear(concat_ch[-1], num_classes)

        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        # Same op sequence as the reference (adaptive pool, then view) so both profile identically.
        x = F.adaptive_avg_pool2d(x, (1, 1)).view(x.size(0), -1)
        return self.classifier(x)


# name: (stage_ch, concat_ch, block_per_stage, layer_per_block)
_CONFIGS: dict[str, tuple[list[int], list[int], list[int], int]] = {
    "vovnet27_slim": ([64, 80, 96, 112], [128, 256, 384, 512], [1, 1, 1, 1], 5),
    "vovnet39": ([128, 160, 192, 224], [256, 512, 768, 1024], [1, 1, 2, 2], 5),
    "vovnet57": ([128, 160, 192, 224], [256, 512, 768, 1024], [1, 1, 4, 3], 5),
}


def _create(arch: str, **kwargs) -> VoVNet:
    try:
        stage_ch, concat_ch, blocks, layers = _CONFIGS[arch]
    except KeyError:
        raise UnknownModelError(f"no VoVNet config named {arch!r}; known: {', '.join(_CONFIGS)}") from None
    return VoVNet(stage_ch, concat_ch, blocks, layers, **kwargs)


@register_model(family="vovnet", params=3_525_736)
def vovnet27_slim(num_classes: int = 1000, **kwargs) -> VoVNet:
    """VoVNet-27-slim: OSA stages of 64-112 channels, one block each; 3.5M params."""
    return _create("vovnet27_slim", num_classes=num_classes, **kwargs)


@register_model(family="vovnet", params=2_747_752)
def vovnet27_slim_bottleneck(num_classes: int = 1000, **kwargs) -> VoVNet:
    """VoVNet-27-slim with a 1x1 bottleneck before every 3x3 conv (paper Table 3 ablation); 2.7M params.

    Each 3x3 conv of the OSA blocks gets a 1x1 conv-BN-ReLU in front that halves its input channels
    (128 -> 64 -> 64 in the first layer of stage 2, 64 -> 32 -> 64 in the others), so the 3x3 convs do about
    half the work; stem, 1x1 aggregation convs and classifier are VoVNet-27-slim's. The paper reports the
    detector (DSOD300) going from 5.9M to 4.8M params and 5.6 to 4.6 GFLOPs, yet 14 to 18 ms slower.
    Bottleneck keys are effkit's own (``layers.0.OSA2_1_0_bottleneck/conv.weight``): no official checkpoint.
    """
    return _create("vovnet27_slim", num_classes=num_classes, bottleneck=True, **kwargs)


@register_model(family="vovnet", params=22_600_296)
def vovnet39(num_classes: int = 1000, **kwargs) -> VoVNet:
    """VoVNet-39: OSA blocks [1, 1, 2, 2], 5 layers each; 22.6M params."""
    return _create("vovnet39", num_classes=num_classes, **kwargs)


@register_model(family="vovnet", params=36_640_296)
def vovnet57(num_classes: int = 1000, **kwargs) -> VoVNet:
    """VoVNet-57: OSA blocks [1, 1, 4, 3], 5 layers each; 36.6M params."""
    return _create("vovnet57", num_classes=num_classes, **kwargs)
