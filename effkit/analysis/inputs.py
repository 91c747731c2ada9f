"""What a model is called with: several positional inputs, keyword inputs, each its own shape and dtype.

``profile(model, inputs=...)`` accepts, for each input, a shape (``(1, 128)``, ``"1x128"``), a
``(shape, dtype)`` pair, an example tensor or a callable that builds one. Several inputs are a list
(positional) or a dict (keywords); a callable may also build the whole set (a tensor, a tuple or a
dict). The command line spells one input ``NAME=SHAPE:DTYPE`` (``input_ids=1x128:int64``), or
``SHAPE[:DTYPE]`` for a positional one.

Inputs without an explicit dtype take the dtype analysed. Where values are needed (a real run on
the CPU) floating inputs are seeded random numbers, integer inputs zeros (a valid token id, index or
box coordinate everywhere) and boolean ones ``True``: never random negatives.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from effkit.errors import BadInputError, setting

#: Integer and boolean dtypes an input may have, besides the floating ones of ``profile.DTYPES``.
INT_DTYPES = {
    "int64": torch.int64, "long": torch.int64, "int32": torch.int32, "int": torch.int32,
    "int16": torch.int16, "short": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool,
}


def parse_input_dtype(text: str | torch.dtype, label: str) -> torch.dtype:
    """An input's dtype: a float one or an integer/bool one; anything else names the input."""
    from effkit.units import DTYPES

    if isinstance(text, torch.dtype):
        if text.is_complex:
            raise BadInputError(f"input {label} has the complex dtype {text}; give it a real dtype")
        return text
    key = str(text).lower().removeprefix("torch.")
    dtype = DTYPES.get(key) or INT_DTYPES.get(key)
    if dtype is None:
        raise BadInputError(
            f"input {label}: unknown dtype {text!r}; use float32, float16, bfloat16, int64, int32, "
            "uint8 or bool"
        )
    return dtype


@dataclass(frozen=True)
class InputSpec:
    """One input: its keyword (``None`` for a positional one) and how to build it."""

    name: str | None
    shape: tuple[int, ...] | None = None
    dtype: torch.dtype | None = None  # None: the dtype analysed
    tensor: torch.Tensor | None = None
    make: Callable[[], Any] | None = None
    whole: bool = False  # ``make`` builds every input: a tensor, a tuple (positional) or a dict (keywords)

    def label(self, index: int) -> str:
        return repr(self.name) if self.name is not None else f"#{index + 1}"


def _shape(value, label: str) -> tuple[int, ...]:
    from effkit.units import parse_shape

    try:
        return parse_shape(value)
    except BadInputError as e:
        raise BadInputError(f"input {label}: {e}") from None


def _is_shape(value) -> bool:
    return isinstance(value, (tuple, list, torch.Size)) and len(value) > 0 and all(
        isinstance(d, int) and not isinstance(d, bool) for d in value)


def _is_dtype(value) -> bool:
    return isinstance(value, (str, torch.dtype))


def _spec(name: str | None, value, label: str) -> InputSpec:
    if isinstance(value, torch.Tensor):
        return InputSpec(name, tuple(value.shape), value.dtype, tensor=value)
    if callable(value):
        return InputSpec(name, make=value)
    if isinstance(value, str):
        shape, _, dtype = value.partition(":")
        return InputSpec(name, _shape(shape, label), parse_input_dtype(dtype, label) if dtype else None)
    if _is_shape(value):
        return InputSpec(name, _shape(value, label))
    if isinstance(value, (tuple, list)) and len(value) == 2 and _is_dtype(value[1]):
        return InputSpec(name, _shape(value[0], label), parse_input_dtype(value[1], label))
    raise BadInputError(
        f"input {label}: cannot make an input from {type(value).__name__} {value!r}; give a shape, "
        "a (shape, dtype) pair, an example tensor or a callable that returns one"
    )


def normalise(inputs) -> tuple[list[InputSpec], dict[str, InputSpec]]:
    """``inputs`` as (positional specs, keyword specs)."""
    if isinstance(inputs, dict):
        for k in inputs:
            if not isinstance(k, str) or not k.isidentifier():
                raise BadInputError(f"input name {k!r} is not a valid keyword; name inputs like input_ids")
        return [], {k: _spec(k, v, repr(k)) for k, v in inputs.items()}
    pair = (isinstance(inputs, tuple) and len(inputs) == 2 and _is_dtype(inputs[1])
            and (isinstance(inputs[0], str) or _is_shape(inputs[0])))
    single = isinstance(inputs, (str, torch.Tensor)) or callable(inputs) or _is_shape(inputs) or pair
    if callable(inputs) and not isinstance(inputs, torch.Tensor):
        return [InputSpec(None, make=inputs, whole=True)], {}
    if single:
        return [_spec(None, inputs, "#1")], {}
    if isinstance(inputs, (list, tuple)) and inputs:
        return [_spec(None, v, f"#{i + 1}") for i, v in enumerate(inputs)], {}
    raise BadInputError(
        f"cannot make model inputs from {type(inputs).__name__} {inputs!r}; give a shape, a list of inputs "
        "or a dict of named inputs"
    )


_CLI_INPUT = re.compile(r"(?:(?P<name>[A-Za-z_]\w*)=)?(?P<shape>[^:=]+)(?::(?P<dtype>\w+))?")


def parse_cli_inputs(texts: Sequence[str]) -> list | dict:
    """``["input_ids=1x128:int64", "attention_mask=1x128:int64"]`` -> a dict; unnamed ones -> a list.

    Named and positional inputs can be mixed: positional ones come first, in order.
    """
    positional: list = []
    named: dict[str, Any] = {}
    for text in texts:
        m = _CLI_INPUT.fullmatch(text.strip())
        if m is None:
            raise BadInputError(
                f"malformed input {text!r}; write NAME=SHAPE:DTYPE (input_ids=1x128:int64) or SHAPE "
                "(1x3x224x224)", field="inputs")
        label = repr(m["name"]) if m["name"] else f"#{len(positional) + 1}"
        value = (_shape(m["shape"], label), parse_input_dtype(m["dtype"], label)) if m["dtype"] \
            else _shape(m["shape"], label)
        if m["name"] is None:
            if named:
                raise BadInputError(f"positional input {text!r} comes after a named one; give positional "
                                    "inputs first", field="inputs")
            positional.append(value)
        elif m["name"] in named:
            raise BadInputError(f"input {m['name']!r} is given twice", field="inputs")
        else:
            named[m["name"]] = value
    if named:
        return MixedInputs(positional, named) if positional else named
    return positional


class MixedInputs(tuple):
    """Positional inputs and keyword inputs together: ``MixedInputs(args, kwargs)``."""

    def __new__(cls, args, kwargs):
        return super().__new__(cls, (list(args), dict(kwargs)))


def split(inputs) -> tuple[list[InputSpec], dict[str, InputSpec]]:
    """Specs of ``inputs``, :class:`MixedInputs` included."""
    if isinstance(inputs, MixedInputs):
        args, _ = normalise(inputs[0]) if inputs[0] else ([], {})
        _, kwargs = normalise(inputs[1])
        return args, kwargs
    return normalise(inputs)


# --- making the tensors ----------------------------------------------------------------------


def _values(shape, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    if dtype.is_floating_point:
        return torch.randn(shape, generator=gen).to(dtype)
    if dtype == torch.bool:
        return torch.ones(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)  # a valid index, token id or coordinate everywhere


def _place(t: torch.Tensor, dtype: torch.dtype, device: str, explicit: bool) -> torch.Tensor:
    target = t.dtype if (explicit or not t.is_floating_point()) else dtype
    if device == "meta":
        return t if t.is_meta and t.dtype == target else torch.empty(t.shape, dtype=target, device="meta")
    if t.is_meta:
        return _values(t.shape, target, torch.Generator().manual_seed(0))
    return t.detach().to("cpu", target)


def _built(value, dtype, device, label):
    """What a callable returned, placed: a tensor, or a tuple/list/dict of tensors."""
    if isinstance(value, torch.Tensor):
        return _place(value, dtype, device, False)
    if isinstance(value, dict):
        return {k: _built(v, dtype, device, f"{label}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_built(v, dtype, device, f"{label}[{i}]") for i, v in enumerate(value))
    if value is None or isinstance(value, (int, float, bool)):
        return value
    raise BadInputError(f"input {label}: the callable returned {type(value).__name__}, not a tensor")


def make(spec: InputSpec, dtype: torch.dtype, device: str, gen: torch.Generator, label: str):
    """The tensor for one input on ``device`` ("meta": no data; "cpu": valid values)."""
    if spec.make is not None:
        try:
            with torch.device(device):
                value = spec.make()
        except Exception as e:  # the user's own builder failed: say which input
            raise BadInputError(f"input {label}: its callable raised {type(e).__name__}: {e}") from e
        return _built(value, dtype, device, label)
    if spec.tensor is not None:
        return _place(spec.tensor, dtype, device, False)  # floating examples take the dtype analysed
    target = spec.dtype or dtype
    if device == "meta":
        return torch.empty(spec.shape, dtype=target, device="meta")
    return _values(spec.shape, target, gen)


def materialise(args: list[InputSpec], kwargs: dict[str, InputSpec], dtype: torch.dtype,
                device: str = "meta", channels_last: bool = False) -> tuple[list, dict]:
    """(positional tensors, keyword tensors) on ``device``; 4-d floating ones channels-last if asked."""
    gen = torch.Generator().manual_seed(0)
    if len(args) == 1 and args[0].whole:
        built = make(args[0], dtype, device, gen, "(all)")
        pos, kw = ([], built) if isinstance(built, dict) else (
            list(built) if isinstance(built, (list, tuple)) else [built], {})
    else:
        pos = [make(s, dtype, device, gen, s.label(i)) for i, s in enumerate(args)]
        kw = {k: make(s, dtype, device, gen, s.label(0)) for k, s in kwargs.items()}
    if channels_last:
        pos = [_channels_last(t) for t in pos]
        kw = {k: _channels_last(t) for k, t in kw.items()}
    return pos, kw


def _channels_last(t):
    if isinstance(t, torch.Tensor) and t.dim() == 4 and t.is_floating_point():
        return t.contiguous(memory_format=torch.channels_last)
    return t


def describe(args: list, kwargs: dict) -> list[str]:
    """``["1x3x224x224 float32"]`` / ``["input_ids=1x128 int64", ...]`` for titles and errors."""
    def one(t) -> str:
        if isinstance(t, torch.Tensor):
            return "x".join(map(str, t.shape)) + " " + str(t.dtype).removeprefix("torch.")
        return type(t).__name__
    return [one(t) for t in args] + [f"{k}={one(t)}" for k, t in kwargs.items()]


def first_shape(args: list, kwargs: dict) -> tuple[int, ...]:
    """The shape of the first tensor input (``Profile.input_shape``); ``()`` when there is none."""
    for t in [*args, *kwargs.values()]:
        if isinstance(t, torch.Tensor):
            return tuple(t.shape)
    return ()


# --- the model's signature --------------------------------------------------------------------


def check_signature(model: torch.nn.Module, name: str, args: list, kwargs: dict) -> None:
    """Inputs that ``model.forward`` cannot take (missing, unknown, too many) are bad input."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return  # a builtin or C forward: nothing to check against
    params = list(sig.parameters.values())
    shown = f"{name}.forward({', '.join(p.name for p in params)})"
    if any(p.kind is p.VAR_KEYWORD for p in params):
        unknown = []
    else:
        unknown = [k for k in kwargs if k not in sig.parameters
                   or sig.parameters[k].kind is inspect.Parameter.POSITIONAL_ONLY]
    if unknown:
        raise BadInputError(
            f"input {unknown[0]!r} is not an argument of {shown}; name inputs after its arguments",
            field="inputs")
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        msg = str(e)
        missing = re.search(r"missing a required argument: '(\w+)'", msg)
        if missing:
            raise BadInputError(
                f"{shown} needs input {missing.group(1)!r}; add it to {setting('inputs')} "
                f"({missing.group(1)}=SHAPE:DTYPE)", field="inputs") from None
        if "too many positional" in msg:
            n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
            raise BadInputError(
                f"{shown} takes at most {n} positional inputs, {len(args)} given; drop some or name them",
                field="inputs") from None
        multiple = re.search(r"multiple values for argument '(\w+)'", msg)
        if multiple:
            raise BadInputError(
                f"input {multiple.group(1)!r} is given both by position and by name to {shown}",
                field="inputs") from None
        raise BadInputError(f"the inputs do not fit {shown}: {msg}", field="inputs") from None
