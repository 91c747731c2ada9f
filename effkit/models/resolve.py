"""The one place that turns "a model, a zoo name or an external spec" into a module, with one rule for file specs.

A string with a ``:`` is an external spec (:mod:`effkit.models.external`): ``torchvision:NAME``, ``timm:NAME``,
``pkg.module:factory`` or ``path/file.py:factory``; anything else is a zoo name. The part before the last ``:``
names a file when it ends in ``.py`` or holds a path separator (:func:`is_file_target`), a module otherwise.
"""

from __future__ import annotations

import contextlib
import copy as _copy
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
from torch import nn

from effkit.errors import BadInputError, setting

#: External specs whose part before the ``:`` is a model library, not a module or a file.
BACKENDS = ("torchvision", "timm")


def is_spec(name: object) -> bool:
    """An external spec (``"x:y"``) rather than a zoo name."""
    return isinstance(name, str) and ":" in name


def split_spec(spec: str) -> tuple[str, str]:
    """``"path/file.py:build"`` -> ``("path/file.py", "build")``; the last ``:`` splits (a drive letter stays)."""
    target, _, attr = spec.rpartition(":")
    return target, attr


def is_file_target(target: str) -> bool:
    """The part before a spec's ``:`` names a file: it ends in ``.py`` or holds a path separator."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return target.endswith(".py") or any(s in target for s in seps)


def is_file_spec(spec: object) -> bool:
    """``spec`` is ``path/file.py:factory`` (a file effkit would execute)."""
    if not is_spec(spec):
        return False
    target, _ = split_spec(spec)
    return target not in BACKENDS and is_file_target(target)


@dataclass(frozen=True)
class Resolved:
    """What "a model, a zoo name or an external spec" names, read once by :func:`resolve`.

    Attributes:
        name: what rows and tables call it: the class name of a module, the name or spec itself otherwise.
        module: the caller's module, or ``None`` when a name or spec was given.
        spec: the zoo name or external spec, or ``None`` when a module was given.
    """

    name: str
    module: Optional[nn.Module] = None
    spec: Optional[str] = None

    @property
    def default_input_size(self) -> Optional[int]:
        """A zoo model's own input side (224, or 32 for CIFAR models); ``None`` for modules and external specs."""
        if self.spec is None or is_spec(self.spec):
            return None
        from effkit.models.registry import get_entry

        return get_entry(self.spec).default_input_size

    def build(self, *, copy: bool = True, device: Any = None) -> nn.Module:
        """The module to run: the caller's module (a deep copy unless ``copy=False``), or the zoo/external model
        built by name. ``device`` (``"meta"``, say) puts it there: a name is built under that device, a
        module's copy moved to it (the caller's module is never moved)."""
        if self.module is not None:
            if device is not None and not copy:
                raise ValueError("a module is moved to another device only as a copy")
            model = _copy.deepcopy(self.module) if copy else self.module
            return model.to(device) if device is not None else model
        from effkit.models import create_model  # looked up on the package, as analysis does

        with torch.device(device) if device is not None else contextlib.nullcontext():
            return create_model(self.spec)


def resolve(model_or_name: object) -> Resolved:
    """The one reading of "a model or its name": an ``nn.Module`` stays the caller's, a string is a zoo name or
    an external spec (nothing is built yet; :meth:`Resolved.build` builds).

    Raises:
        BadInputError: anything but a module or a string.
    """
    if isinstance(model_or_name, nn.Module):
        return Resolved(type(model_or_name).__name__, module=model_or_name)
    if isinstance(model_or_name, str):
        return Resolved(model_or_name, spec=model_or_name)
    raise BadInputError(f"expected a model name or an nn.Module, got {type(model_or_name).__name__}")


def model_name(model_or_name: object) -> str:
    """The name rows and tables use: the class name of a module, the name or spec itself otherwise."""
    return resolve(model_or_name).name


def default_input_size(model_or_name: object) -> Optional[int]:
    """A zoo model's own input side (224, or 32 for CIFAR models); ``None`` for modules and external specs."""
    if not isinstance(model_or_name, str):
        return None
    return resolve(model_or_name).default_input_size


def build_model(model_or_name: nn.Module | str, *, weights: Optional[str] = None) -> nn.Module:
    """A module to run: a deep copy of a given module (the caller's stays as it was), or a zoo/external model
    built by name; ``weights`` (a local state_dict file) is loaded into it after checking that it fits."""
    model = resolve(model_or_name).build()
    if weights is not None:
        from effkit.models.external import load_weights

        load_weights(model, weights)
    return model


def resolve_input_shape(
    model: Any,
    input_size: int | None = None,
    input_shape: str | Sequence[int] | None = None,
    batch_size: int | None = None,
    channels: int = 3,
) -> tuple[int, ...]:
    """The input shape a call means: ``input_shape`` wins, else (batch, 3, size, size).

    ``size`` defaults to the zoo model's own input size (224, or 32 for CIFAR models).
    """
    if batch_size is not None and batch_size <= 0:
        raise BadInputError(f"batch size must be a positive integer, got {batch_size}")
    if input_size is not None and input_size <= 0:
        raise BadInputError(f"input size must be a positive integer, got {input_size}")
    if input_shape is not None:
        from effkit.units import parse_shape

        shape = parse_shape(input_shape)
        if batch_size is not None and batch_size != shape[0]:
            raise BadInputError(
                f"{setting('batch_size')} {batch_size} disagrees with the batch {shape[0]} of "
                f"{setting('input_shape')} {'x'.join(map(str, shape))}; give one of them", field="batch_size")
        if len(shape) != 4 and isinstance(model, str) and ":" not in model:  # a zoo name: images only
            raise BadInputError(
                f"{model} takes an image batch N,C,H,W; got the {len(shape)}-d shape "
                f"{'x'.join(map(str, shape))} (e.g. {setting('input_shape')} 1,3,224,224)", field="input_shape")
        return shape
    if input_size is None:
        input_size = default_input_size(model) or 224
    return (batch_size or 1, channels, input_size, input_size)
