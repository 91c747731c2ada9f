"""CIFAR-10 networks (32x32 input) from the papers' small-scale comparisons.

``densenet40_cifar`` is the DenseNet (L=40, k=12) of Huang et al. 2017 that the VoVNet paper uses to
illustrate memory access cost: a 3x3 stem conv to 16 channels, three dense blocks of 12 plain layers
(BN-ReLU-3x3 conv, no bottleneck), transitions without compression, then BN-ReLU, global average pool and a
linear classifier.

:class:`CifarNet` holds the skeleton (stem conv, stages joined by DenseNet's ``make_transition``, BN-ReLU head)
so another kind of stage, e.g. OSA blocks, only has to supply its stage modules and their output channels.

``osa40_cifar_12`` and ``osa40_cifar_5x43`` are the paper's OSA versions of DenseNet-40 (section 3.2): every
dense block is replaced by one :class:`CifarOSAModule`. The paper does not give their whole layout, so effkit
makes each OSA module a drop-in replacement of the dense block it stands for:

* same input and output widths as that dense block (160, 304 and 448 channels), so the stem, the two
  transitions (BN-ReLU-1x1 conv without compression, 2x2 average pool) and the head stay exactly DenseNet-40's;
* pre-activation layers (BN-ReLU-conv) like DenseNet-40's, so the head's final BN-ReLU still follows a conv;
* an OSA module chains ``num_layers`` BN-ReLU-3x3 convs of ``layer_ch`` channels, concatenates its input and
  every layer's output once, and aggregates them with a BN-ReLU-1x1 conv to the dense block's output width.

With this layout ``osa40_cifar_12`` (3 modules of 12 layers x 12 channels) has about half DenseNet-40's
params and FLOPs (0.54M params) and a paper MAC of 2.03M; ``osa40_cifar_5x43`` (3 modules of 5 layers x 43
channels) has 0.90M params, 95 % of the FLOPs and a paper MAC of 2.63M, against the paper's 3.7M -> 2.5M.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from effkit.errors import BadInputError, UnknownModelError
from effkit.models.common import init_weights
from effkit.models.densenet import make_transition
from effkit.models.registry import register_model

__all__ = [
    "CifarNet", "CifarOSAModule", "PlainConvLayer", "PlainDenseLayer", "PlainDenseBlock", "densenet40_cifar",
    "osa40_cifar_12", "osa40_cifar_5x43",
]


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


class PlainConvLayer(nn.Sequential):
    """BN-ReLU-3x3 conv from ``in_ch`` to ``out_ch`` channels (a dense layer without the concatenation)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(in_ch)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False)),
        ]))


class CifarOSAModule(nn.Module):
    """One-shot aggregation in DenseNet-40's pre-activation style: chained 3x3 layers, one concat, one 1x1 conv.

    Unlike a dense layer, each 3x3 layer sees only the layer before it, so every layer after the first has
    ``layer_ch`` inputs and outputs: the ci = co shape at which a conv's MAC meets its lower bound. The input
    and all layer outputs are concatenated once, at the end (``in_ch + num_layers * layer_ch`` channels),
    and a BN-ReLU-1x1 conv aggregates them to ``out_ch``.

    Args:
        in_ch: channels of the module input.
        layer_ch: output channels of each 3x3 layer.
        num_layers: number of 3x3 layers.
        out_ch: output channels of the 1x1 aggregation conv (the module output).
    """

    def __init__(self, in_ch: int, layer_ch: int, num_layers: int, out_ch: int) -> None:
        super().__init__()
        for label, v in (("in_ch", in_ch), ("layer_ch", layer_ch), ("num_layers", num_layers), ("out_ch", out_ch)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise BadInputError(f"CifarOSAModule {label} must be a positive integer, got {v!r}")
        self.layers = nn.ModuleList(
            PlainConvLayer(in_ch if i == 0 else layer_ch, layer_ch) for i in range(num_layers)
        )
        self.concat = nn.Sequential(OrderedDict([
            ("norm", nn.BatchNorm2d(in_ch + num_layers * layer_ch)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(in_ch + num_layers * layer_ch, out_ch, kernel_size=1, bias=False)),
        ]))
        self.out_ch = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return self.concat(torch.cat(feats, 1))


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
                layers.append((f"transition{i + 1}", make_transition(ch, ch)))  # no compression
        layers += [("norm_final", nn.BatchNorm2d(stage_out_ch[-1])), ("relu_final", nn.ReLU(inplace=True))]
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(stage_out_ch[-1], num_classes)

        init_weights(self)

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


def _osa_stages(stem_ch: int, layers_per_module: int, layer_ch: int, out_chs: Sequence[int]):
    stages, ch = [], stem_ch
    for out in out_chs:
        stages.append(CifarOSAModule(ch, layer_ch, layers_per_module, out))
        ch = out
    return stages, list(out_chs)


# name: (stem_ch, dense blocks, layers per block, growth rate)
_CONFIGS: dict[str, tuple[int, int, int, int]] = {
    "densenet40_cifar": (16, 3, 12, 12),
}

# name: (stem_ch, layers per OSA module, channels per layer, module output widths). The output widths are
# DenseNet-40's dense-block outputs (16 + 12*12 = 160, 160 + 144 = 304, 304 + 144 = 448), so each module
# is a drop-in replacement of the block it stands for.
_OSA_CONFIGS: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "osa40_cifar_12": (16, 12, 12, (160, 304, 448)),
    "osa40_cifar_5x43": (16, 5, 43, (160, 304, 448)),
}


def _create(arch: str, num_classes: int = 10) -> CifarNet:
    if arch in _OSA_CONFIGS:
        stem_ch, layers, layer_ch, widths = _OSA_CONFIGS[arch]
        stages, out_chs = _osa_stages(stem_ch, layers, layer_ch, widths)
        return CifarNet(stages, out_chs, stem_ch=stem_ch, num_classes=num_classes)
    try:
        stem_ch, blocks, layers, growth = _CONFIGS[arch]
    except KeyError:
        known = ", ".join([*_CONFIGS, *_OSA_CONFIGS])
        raise UnknownModelError(f"no CIFAR config named {arch!r}; known: {known}") from None
    stages, out_chs = _dense_stages(blocks, layers, growth, stem_ch)
    return CifarNet(stages, out_chs, stem_ch=stem_ch, num_classes=num_classes)


@register_model(family="densenet", input_size=32, params=1_019_722)
def densenet40_cifar(num_classes: int = 10) -> CifarNet:
    """DenseNet-40 (k=12) for CIFAR-10 at 32x32, the paper's MAC example; 1.0M params (exactly 1,019,722)."""
    return _create("densenet40_cifar", num_classes=num_classes)


@register_model(family="vovnet", input_size=32, params=541_666)
def osa40_cifar_12(num_classes: int = 10) -> CifarNet:
    """OSA version of DenseNet-40 (paper sec. 3.2): 3 OSA modules of 12 layers x 12 ch; 0.54M params.

    Each dense block of :func:`densenet40_cifar` becomes a :class:`CifarOSAModule` of 12 BN-ReLU-3x3 conv
    layers of 12 channels whose 1x1 aggregation conv outputs the dense block's width (160, 304, 448);
    stem, transitions and head are DenseNet-40's. Layout chosen by effkit (the paper does not give it).
    With 12 channels in and out, its 3x3 layers are far smaller than DenseNet-40's dense layers (which read
    up to 436 channels), so the model has about half DenseNet-40's params and FLOPs. Paper MAC (conv +
    linear, 32x32) 2.03M against DenseNet-40's 3.68M.
    """
    return _create("osa40_cifar_12", num_classes=num_classes)


@register_model(family="vovnet", input_size=32, params=897_928)
def osa40_cifar_5x43(num_classes: int = 10) -> CifarNet:
    """OSA version of DenseNet-40 (paper sec. 3.2): 3 OSA modules of 5 layers x 43 ch; 0.90M params.

    The paper's second variant (5.44 % CIFAR-10 error, "MAC from 3.7M to 2.5M"), in the same layout as
    :func:`osa40_cifar_12`: 1x1 aggregation to 160, 304 and 448 channels, DenseNet-40's stem, transitions
    and head. Paper MAC (conv + linear, 32x32) 2.63M, 0.13M above the paper's 2.5M: the two uncompressed
    transition convs kept from DenseNet-40 alone move 0.60M, so the paper's (unstated) layout was probably
    a little narrower there.
    """
    return _create("osa40_cifar_5x43", num_classes=num_classes)
