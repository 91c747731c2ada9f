"""Option groups shared by several commands, declared once: :func:`with_options` adds a group's options to a
command's signature (typer reads options from the signature, so a group cannot be a plain function argument)."""

from __future__ import annotations

import inspect
import typing
from typing import Any, Sequence


def with_options(options: Sequence[tuple[str, Any, Any]]):
    """A decorator: ``func(positional..., *, keyword_only..., **options)`` as typer sees it — its positional
    parameters, then every ``(name, annotation, typer.Option)`` of ``options`` (passed in ``**options``), then its
    keyword-only ones."""
    def add(func):
        sig = inspect.signature(func)
        hints = typing.get_type_hints(func)
        own = [p for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        last = [p for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
        added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=o, annotation=t) for n, t, o in options]
        params = [p.replace(annotation=hints[p.name]) for p in own] + added + [
            p.replace(annotation=hints[p.name]) for p in last]
        func.__signature__ = sig.replace(parameters=params, return_annotation=None)
        func.__annotations__ = {**{p.name: p.annotation for p in params}, "return": None}
        return func

    return add
