"""Running the model for a trace: on the meta device (the default) or, for code that reads tensor
values, on real CPU tensors at the same shape.

The meta device has shapes but no data, so ``if x.sum() > 0``, ``.item()``, ``.tolist()`` or a
library's ``mask.all()`` check cannot run on it. A watch below the recorder sees the op that asks for
a value and names it with the user's source line (the innermost frame outside torch and effkit), and
the user is offered ``execute="cpu"``: the same records, made by a real forward pass. Its memory cost
is worked out first from a meta pass in which value reads return zeros (the records keep every
activation alive, so the cost is the weights to make plus every op's output), and a shape that would
not fit in the memory available is refused before anything is allocated.

A forward that fails on meta is run again with the meta device as the default device, so tensors
it makes without ``device=`` (``torch.zeros(n)``, ``torch.arange(n)``) land beside the activations.
"""

from __future__ import annotations

import os
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from effkit.analysis import inputs as I
from effkit.analysis.meta import on_device
from effkit.analysis.patches import QuietMode
from effkit.analysis.tracer import Trace, trace
from effkit.units import human_bytes
from effkit.errors import BadInputError, EffkitError, setting

aten = torch.ops.aten

#: Ops that need a tensor's values (or make a shape from them): impossible on the meta device.
VALUE_OPS = frozenset({
    aten._local_scalar_dense.default, aten.item.default, aten.is_nonzero.default, aten.equal.default,
    aten.nonzero.default, aten.masked_select.default, aten._unique2.default, aten.unique_dim.default,
    aten.unique_consecutive.default,
})

# The trailing separator keeps torchvision, torchaudio (often where the user's model lives) outside.
_SKIP = (os.path.dirname(torch.__file__) + os.sep, os.path.dirname(os.path.dirname(__file__)) + os.sep)


def user_line() -> str:
    """``file:line: code`` of the innermost frame outside torch and effkit ("" when there is none)."""
    for frame in reversed(traceback.extract_stack()):
        if not frame.filename.startswith(_SKIP) and not frame.filename.startswith("<"):
            code = f": {frame.line.strip()}" if frame.line else ""
            return f"{frame.filename}:{frame.lineno}{code}"
    return ""


def _reads_values(func, args, kwargs) -> bool:
    if func in VALUE_OPS:
        return any(isinstance(a, torch.Tensor) and a.is_meta for a in args)
    if func is aten._to_copy.default and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
        device = kwargs.get("device")
        return device is not None and torch.device(device).type != "meta"  # .tolist(), .cpu(), .numpy()
    return False


class ValueRead(Exception):
    """Raised inside the forward when it asks a meta tensor for its values."""

    def __init__(self, op: str, where: str):
        super().__init__(op)
        self.op, self.where = op, where


def _channels_last(t) -> bool:
    # PyTorch's suggest_memory_format: a 4-d tensor laid out NHWC that is not also plain contiguous.
    return (isinstance(t, torch.Tensor) and t.dim() == 4 and not t.is_contiguous()
            and t.is_contiguous(memory_format=torch.channels_last))


class _Watch(QuietMode):
    """Below the recorder: a value read raises :class:`ValueRead`, or, ``lenient``, returns zeros.

    ``channels_last``: the meta kernels of conv, batch norm and the like make contiguous outputs
    where the CPU kernels keep a channels-last input's layout; here a new (non-view) 4-d output of
    an op given a channels-last input is laid out channels-last too, as on the CPU, so a later
    ``.view`` fails and a ``reshape`` copies as they would on a real tensor.
    """

    def __init__(self, lenient: bool = False, channels_last: bool = False):
        super().__init__()
        self.lenient = lenient
        self.channels_last = channels_last

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _reads_values(func, args, kwargs):
            if not self.lenient:
                raise ValueRead(func.overloadpacket.__name__, user_line())
            x = args[0]
            if func is aten._to_copy.default:
                return torch.zeros(x.shape, dtype=kwargs.get("dtype") or x.dtype, device=kwargs["device"])
            if func is aten.nonzero.default:
                return torch.empty((0, x.dim()), dtype=torch.int64, device="meta")
            if func in (aten._local_scalar_dense.default, aten.item.default):
                return False if x.dtype == torch.bool else 0
            if func in (aten.is_nonzero.default, aten.equal.default):
                return False
            return torch.empty((0,), dtype=x.dtype, device="meta")
        out = func(*args, **kwargs)
        if (self.channels_last and isinstance(out, torch.Tensor) and out.is_meta and out.dim() == 4
                and out.is_contiguous() and not func.is_view and "memory_format" not in kwargs
                and all(out is not a for a in args) and any(_channels_last(a) for a in args)):
            out = torch.empty(out.shape, dtype=out.dtype, device="meta", memory_format=torch.channels_last)
        return out


@dataclass(frozen=True)
class MemoryEstimate:
    """What a real CPU forward of the trace holds at its peak, in bytes."""

    weights: int  # parameter and buffer storage that has to be made (meta weights, dtype changes)
    activations: int  # the inputs and every op's output (the records keep them all)
    complete: bool  # False when the estimating pass stopped early: a lower bound

    @property
    def total(self) -> int:
        return self.weights + self.activations

    def __str__(self) -> str:
        about = "about" if self.complete else "at least"
        return (f"{about} {human_bytes(self.total)} (weights {human_bytes(self.weights)}, activations "
                f"{human_bytes(self.activations)})")


def available_memory() -> int:
    """Bytes of memory available now (psutil, else /proc/meminfo's MemAvailable)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    raise BadInputError("cannot tell how much memory is available here (no psutil, no /proc/meminfo)")


def _weight_bytes(model: nn.Module, dtype: torch.dtype) -> int:
    seen: set[int] = set()
    total = 0
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) in seen:
            continue
        seen.add(id(t))
        target = dtype if t.is_floating_point() else t.dtype
        if t.is_meta or t.device.type != "cpu" or t.dtype != target:
            total += t.numel() * target.itemsize
    return total


def estimate_cpu_memory(model: nn.Module, specs, dtype: torch.dtype, channels_last: bool) -> MemoryEstimate:
    """The memory a real CPU trace needs, from a meta pass in which value reads return zeros."""
    args, kwargs = I.materialise(*specs, dtype, "meta", channels_last)
    given = sum(t.numel() * t.itemsize for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor))
    complete = True
    outputs = 0
    try:
        tr = _traced(model, args, kwargs, dtype, "meta", _Watch(True, channels_last), channels_last)
        outputs = sum(o.numel * o.itemsize for call in tr.calls for rec in call.ops for o in rec.outputs)
    except Exception:  # noqa: BLE001 - zeros sent it down a path that fails: what was seen is a floor
        complete = False
    return MemoryEstimate(_weight_bytes(model, dtype), given + outputs, complete)


def _traced(model, args, kwargs, dtype, device, watch, channels_last) -> Trace:
    """One trace; with a ``watch``, under it and with ``device`` as the default device."""
    # The default-device context is a TorchFunctionMode: a Python call on every torch function,
    # which doubles the time of a trace. It goes on only for the runs that need it (see run()).
    with on_device(model, dtype, device), (torch.device(device) if watch else nullcontext()), \
            (watch or nullcontext()):
        # Channels-last needs PyTorch's own kernels, which carry the memory format to each output.
        return trace(model, args, kwargs=kwargs, shortcuts=not channels_last,
                     shape_shortcuts=not channels_last)


def run(model: nn.Module, name: str, specs, dtype: torch.dtype, *, execute: str = "meta",
        channels_last: bool = False, log: Callable[[str], None] | None = None) -> tuple[Trace, list[str], tuple[int, ...]]:
    """Trace ``model`` on the inputs ``specs`` (positional, keyword); returns the trace, the inputs' text and the first one's shape."""
    if execute not in ("meta", "cpu"):
        raise BadInputError(f"unknown {setting('execute')} {execute!r}; use meta or cpu", field="execute")
    args, kwargs = I.materialise(*specs, dtype, "meta", channels_last)
    I.check_signature(model, name, args, kwargs)
    shown = I.describe(args, kwargs)
    if execute == "cpu":
        need = estimate_cpu_memory(model, specs, dtype, channels_last)
        have = available_memory()
        if need.total > have:
            raise BadInputError(
                f"{setting('execute')}=cpu on {name} at inputs {', '.join(shown)} needs {need}, but only "
                f"{human_bytes(have)} is available; use smaller inputs (a smaller batch or size)",
                field="execute")
        if log is not None:
            log(f"running {name} on the CPU at {', '.join(shown)}: {need} of memory")
        args, kwargs = I.materialise(*specs, dtype, "cpu", channels_last)
    # A plain trace first, the fast one. Only when it fails (a forward that reads a value, or makes
    # tensors without device= that clash with meta ones) does a careful one run: the meta device as
    # the default device, and a watch that names the op and the line reading a value.
    careful = channels_last and execute == "meta"  # the layout is carried by the watch
    if not careful:
        try:
            tr = _traced(model, args, kwargs, dtype, execute, None, channels_last)
            return tr, shown, I.first_shape(args, kwargs)
        except EffkitError:
            raise
        except Exception:  # noqa: BLE001 - diagnosed (or mended) by the careful run below
            pass
    try:
        tr = _traced(model, args, kwargs, dtype, execute, _Watch(False, channels_last), channels_last)
        return tr, shown, I.first_shape(args, kwargs)
    except EffkitError:
        raise
    except ValueRead as e:
        where = f" at {e.where}" if e.where else ""
        raise BadInputError(
            f"{name} reads tensor values ({e.op}){where}, which the meta device cannot do (it has shapes, "
            f"no data); profile it with {setting('execute')}=cpu (a real run at this shape)",
            field="execute") from None
    except Exception as e:
        raise BadInputError(_failure(name, e, args, kwargs, shown, execute)) from e


def _failure(name: str, e: Exception, args, kwargs, shown: list[str], execute: str) -> str:
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    what = f"{type(e).__name__}: {first}"
    where = user_line_of(e)
    at = f" at {where}" if where else ""
    tensors = [t for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor)]
    if len(tensors) == 1 and not kwargs and tensors[0].dim() == 4:
        return (f"{name} failed on an input of shape {tuple(tensors[0].shape)} ({what}){at}; check the "
                "input shape (batch, channels, height, width) the model expects")
    if any(w in first for w in ("scalar type", "dtype", "Long", "Int", "Float")):
        return (f"{name} failed on inputs {', '.join(shown)} ({what}){at}; check the dtype of each input "
                "(token ids and indices are int64: NAME=SHAPE:int64)")
    if "meta" in first and execute == "meta":
        return (f"{name} failed on the meta device ({what}){at}; try {setting('execute')}=cpu "
                "(a real run at this shape)")
    return f"{name} failed on inputs {', '.join(shown)} ({what}){at}; check the inputs' shapes and dtypes"


def user_line_of(e: BaseException) -> str:
    """``file:line: code`` of the innermost traceback frame of ``e`` outside torch and effkit."""
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        if not frame.filename.startswith(_SKIP) and not frame.filename.startswith("<"):
            code = f": {frame.line.strip()}" if frame.line else ""
            return f"{frame.filename}:{frame.lineno}{code}"
    return ""
