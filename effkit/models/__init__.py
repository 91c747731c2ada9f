"""The model zoo: VoVNet, DenseNet, ResNet, MobileNetV2, ShuffleNetV2, EfficientNet-B0 and ConvNeXt-Tiny
(ImageNet), and the paper's CIFAR DenseNet-40."""

from effkit.models.registry import create_model, get_entry, list_models, register_model

__all__ = ["create_model", "get_entry", "list_models", "register_model"]
