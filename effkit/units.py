"""Human units and the parsing of shapes, dtypes and batch-size lists: leaf helpers any part of effkit may use.

Tables for people use human units (K/M/G for counts, KiB/MiB/GiB for bytes, µs/ms/s for durations:
:func:`human`, :func:`human_bytes`, :func:`human_ms`, :func:`sig`); the parsers turn what a user wrote (``"1,3,224,224"``, ``"fp16"``,
``"1,8,32"``) into values, and anything else into a :class:`~effkit.errors.BadInputError` naming the setting.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import torch

from effkit.errors import BadInputError

DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float64": torch.float64, "fp64": torch.float64, "double": torch.float64,
}


def human(value: Any, digits: int = 3) -> str:
    """``3525736 -> '3.53M'``; floats under 1000 keep ``digits`` significant digits; NaN/None -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, str):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= factor:
            return f"{v / factor:.{digits}g}{suffix}"
    if v == int(v) and abs(v) < 1000:
        return str(int(v))
    return f"{v:.{digits}g}"


def sig(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits in fixed-point notation: never ``1.23e+04``, never ``K``.

    The integer part is kept whole (``20400 -> '20400'``), so no digit before the point is lost:
    ``3.14159 -> '3.14'``, ``0.000321 -> '0.000321'``, ``250.0 -> '250'``.
    """
    v = float(value)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    text = f"{v:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


#: Byte units, each 1024 times the one before.
BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``, ``512 -> '512 B'``, ``3 * 2**30 -> '3.0 GiB'`` (one decimal from KiB on)."""
    value = float(n)
    if math.isnan(value):
        return ""
    for unit in BYTE_UNITS:
        if abs(value) < 1024 or unit == BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


#: Duration units as (name, milliseconds in one): the unit a duration is shown in is the largest it fills.
DURATION_UNITS = (("µs", 1e-3), ("ms", 1.0), ("s", 1e3), ("min", 60e3), ("h", 3600e3))


def duration_unit(ms: float) -> tuple[str, float]:
    """The unit to show ``ms`` milliseconds in: ``(name, milliseconds per unit)``.

    Below 1 ms: µs; below 1 s: ms; below 10 min: s (``600 s`` reads better than ``10 min`` only up to
    there); below 10 h: min; else h.
    """
    a = abs(float(ms))
    if a < 1:
        return DURATION_UNITS[0]
    if a < 1e3:
        return DURATION_UNITS[1]
    if a < 600e3:
        return DURATION_UNITS[2]
    if a < 36000e3:
        return DURATION_UNITS[3]
    return DURATION_UNITS[4]


def human_ms(ms: float, digits: int = 3) -> str:
    """A duration given in milliseconds in the unit that reads best: ``20400 -> '20.4 s'``,
    ``3.214 -> '3.21 ms'``, ``0.0123 -> '12.3 µs'``; NaN/None -> ''."""
    if ms is None or math.isnan(float(ms)):
        return ""
    unit, size = duration_unit(ms)
    return f"{sig(float(ms) / size, digits)} {unit}"


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float16"`` / ``"fp16"`` / ``torch.float16`` -> ``torch.float16``; anything else is bad input."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype).lower().removeprefix("torch.")]
    except KeyError:
        raise BadInputError(
            f"unknown dtype {dtype!r}; use one of float32, float16, bfloat16, float64"
        ) from None


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float16`` -> ``"float16"``."""
    return str(dtype).removeprefix("torch.")


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"1,3,224,224"`` / ``"1x3x224x224"`` / a sequence -> a tuple of positive ints."""
    if isinstance(text, str):
        if not re.fullmatch(r"\s*\d+(\s*[,xX]\s*\d+)*\s*", text):
            raise BadInputError(f"malformed shape {text!r}; write it as N,C,H,W, e.g. 1,3,224,224")
        dims = tuple(int(p) for p in re.split(r"\s*[,xX]\s*", text.strip()))
    else:
        dims = tuple(int(d) for d in text)
    if not dims or any(d <= 0 for d in dims):
        raise BadInputError(f"malformed shape {text!r}: every dimension must be a positive integer")
    if math.prod(dims) > _MAX_ELEMENTS:  # torch would overflow its 64-bit element count
        raise BadInputError(f"shape {text!r} has {math.prod(dims):.3g} elements, more than a tensor can hold "
                            f"({_MAX_ELEMENTS:.3g})")
    return dims


#: The most elements a torch tensor can have (its sizes and strides are signed 64-bit).
_MAX_ELEMENTS = 2**63 - 1


def parse_batch_sizes(text: str) -> list[int]:
    """``"1,8,32"`` -> ``[1, 8, 32]``; anything not a positive integer is bad input."""
    out = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        try:
            b = int(part)
        except ValueError:
            raise BadInputError(f"malformed batch size {part!r} in {text!r}; write e.g. 1,8,32") from None
        if b <= 0:
            raise BadInputError(f"batch size must be a positive integer, got {b}")
        out.append(b)
    if not out:
        raise BadInputError(f"no batch size in {text!r}; write e.g. 1,8,32")
    return out


