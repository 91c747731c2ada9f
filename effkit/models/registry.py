"""Model registry in the style of timm: ``@register_model``, ``create_model``, ``list_models``.

Names are lower-case zoo names (``vovnet39``). Strings with a ``:`` are handed to
:mod:`effkit.models.external` (``torchvision:NAME``, ``timm:NAME``, ``pkg.mod:factory``,
``path/file.py:factory``).
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Callable

from torch import nn

from effkit.errors import UnknownModelError

#: The paper's backbones (Table 4), what ``compare`` measures by default.
DEFAULT_MODELS = ("vovnet39", "vovnet57", "densenet121", "densenet161", "densenet201", "resnet50", "resnet101")
#: ``compare(small=True)``: VoVNet-27-slim (the paper's Table 2 backbone) beside the smallest zoo ResNet and DenseNet.
SMALL_MODELS = ("vovnet27_slim", "resnet18", "densenet121")

@dataclass(frozen=True)
class ModelEntry:
    """A registered zoo model: its builder and a one-line description."""

    name: str
    fn: Callable[..., nn.Module]
    description: str
    family: str
    default_input_size: int = 224
    #: Parameter count of the default build, declared at registration so that listing the zoo
    #: builds nothing (tests/test_models.py checks each against the model); None: count on demand.
    params: int | None = None

    def param_count(self) -> int:
        """Parameters of the default build: the declared count, or one counted on the meta device."""
        if self.params is not None:
            return self.params
        import torch

        with torch.device("meta"):
            return sum(p.numel() for p in self.fn().parameters())


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    family: str | None = None,
    input_size: int = 224,
    name: str | None = None,
    params: int | None = None,
):
    """Register a model builder under its function name; a duplicate name raises ``ValueError``.

    ``params``, when given, is the parameter count of ``fn()`` (listed with the zoo).

    The first line of the builder's docstring is the description ``effkit models`` shows.
    """

    def deco(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or f.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is already registered")
        doc = (f.__doc__ or "").strip().splitlines()
        fam = family or f.__module__.rsplit(".", 1)[-1]
        _REGISTRY[key] = ModelEntry(key, f, doc[0] if doc else "", fam, input_size, params)
        return f

    return deco(fn) if fn is not None else deco


def _ensure_loaded() -> None:
    # Importing the family modules runs their @register_model decorators.
    from effkit.models import (  # noqa: F401
        cifar, convnext, densenet, efficientnet, mobilenet, resnet, shufflenet, vovnet,
    )


def list_models(pattern: str = "*") -> list[str]:
    """Sorted zoo names matching ``pattern``: a shell-style pattern (``"vovnet*"``), or a plain word found in a
    name or a family, case aside (``"vovnet"``, ``"DenseNet"``, ``"cifar"``)."""
    _ensure_loaded()
    if not any(ch in pattern for ch in "*?["):
        word = pattern.lower()
        return sorted(n for n, e in _REGISTRY.items() if word in n.lower() or word in str(e.family).lower())
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registry entry of a zoo model; unknown names raise with the closest suggestions."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name.lower(), list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Run `effkit models` for the list, or give "
            "'pkg.module:factory', 'path/file.py:factory', 'torchvision:NAME' or 'timm:NAME'."
        ) from None


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a model by zoo name or external spec (see :mod:`effkit.models.external`)."""
    if ":" in name:
        from effkit.models.external import create_external

        return create_external(name, **kwargs)
    return get_entry(name).fn(**kwargs)


def check_model_names(names) -> None:
    """Raise before any work when a name cannot resolve: unknown zoo names (with suggestions), a
    ``file.py:factory`` whose file is missing, a ``pkg.module:factory`` whose module is not importable.

    Nothing is built or executed; ``torchvision:``/``timm:`` names are checked when the model is built.
    """
    import importlib.util
    import sys
    from pathlib import Path

    from effkit.errors import BadInputError
    from effkit.models.resolve import BACKENDS, is_file_target, split_spec

    for name in names:
        if not isinstance(name, str):
            continue
        if ":" not in name:
            get_entry(name)
            continue
        left, _ = split_spec(name)
        if left in BACKENDS:
            continue
        if is_file_target(left):
            if not Path(left).is_file():
                raise BadInputError(f"model file {left} does not exist (in {name!r})")
        else:
            from effkit.models.external import current_folder_importable

            try:
                with current_folder_importable():  # as the model will be imported: `python -m` style
                    found = left in sys.modules or importlib.util.find_spec(left) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise UnknownModelError(f"module {left!r} of {name!r} is not importable from the current folder "
                                        "or the installed packages; check the name, run from the folder that "
                                        "holds the package, or install it")
