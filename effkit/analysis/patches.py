"""Every change the analysis makes outside the model it is given, in one place, one trace at a time.

The fast path of a trace changes state that the whole process shares. It touches these globals, and
nothing else in effkit touches them:

* ``torch.cat``: replaced for the length of a trace by a recorder that writes the record of a
  concatenation of meta tensors itself (:func:`effkit.analysis.leaves.cat`, a DenseNet concatenates at
  every layer); every other call, and every call from another thread, goes to the function found.
* ``torch.nn.functional.scaled_dot_product_attention``: replaced the same way by a recorder that writes
  attention as one op (:func:`effkit.analysis.attention.attention`) instead of its meta decomposition.
* The cyclic garbage collector: disabled for the length of :func:`exclusive` (a trace's allocations
  are all kept until it ends, so collections on the way free nothing); on the way out ``gc.freeze()``
  then ``gc.unfreeze()`` hand those objects to the oldest generation, so the young collection they
  would start right after the call does not scan them. Skipped when the program froze objects itself.
* ``TorchDispatchMode._should_skip_dynamo``, a private PyTorch hook: overridden in :class:`QuietMode`,
  the base of effkit's dispatch modes (a class of ours, not torch's; listed because it is private).

The model given is changed too, for the trace only (meta stand-ins for its tensors in
:mod:`effkit.analysis.meta`, an instance ``forward`` per module in :mod:`effkit.analysis.tracer`):
two threads profiling one model object would see each other's. So :data:`LOCK` (re-entrant: a
model's forward may itself call ``effkit.profile``) is held by :func:`exclusive` for the length of an
analysis and by :func:`recording` for the length of a trace: traces run one at a time, and each
sees only its own patches. Everything is put back on the way out, also when the forward raises.

:data:`ENABLED` is the one switch: ``False`` leaves ``torch.cat``, attention and the collector alone
(``cat`` then goes through the dispatcher, same numbers, slower; attention is counted as the math ops
the meta device decomposes it into; the lock is still held).
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as nnf
from torch.utils._python_dispatch import TorchDispatchMode

from effkit.analysis.attention import attention
from effkit.analysis.leaves import cat as cat_shortcut

#: The one switch for every global change listed above.
ENABLED = True
#: Held for the length of each analysis and trace (see the module docstring).
LOCK = threading.RLock()

_get_ident = threading.get_ident


class QuietMode(TorchDispatchMode):
    """A dispatch mode without the ``torch._dynamo`` import.

    By default ``TorchDispatchMode`` wraps ``__torch_dispatch__`` in ``torch._disable_dynamo``, whose
    first call imports ``torch._dynamo`` (and sympy): about a second in a cold process. Nothing a
    trace runs is compiled, so there is nothing for Dynamo to skip.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False


def _set(cat, sdpa) -> None:
    """The one place that assigns the two torch functions."""
    torch.cat = cat
    nnf.scaled_dot_product_attention = sdpa


def _cat_recorder(calls: list, original, owner: int):
    def cat(tensors, dim=0, *, out=None):
        if out is None and calls and _get_ident() == owner:
            res = cat_shortcut(tensors, dim)
            if res is not NotImplemented:
                made, records = res
                calls[-1].ops.extend(records)
                return made
        return original(tensors, dim, out=out)

    cat.effkit_original = original
    return cat


def _attention_recorder(calls: list, original, owner: int):
    def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                     scale=None, enable_gqa=False):
        out = attention(calls, query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa) \
            if _get_ident() == owner else NotImplemented
        if out is NotImplemented:
            return original(query, key, value, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa)
        return out

    scaled_dot_product_attention.effkit_original = original
    return scaled_dot_product_attention


@contextmanager
def recording(calls: list, *, cat: bool = True) -> Iterator[None]:
    """For the block, this thread's ``torch.cat`` (with ``cat``) and attention calls on meta tensors write
    their records on ``calls[-1]`` (the tracer's stack of module calls); under :data:`LOCK`."""
    with LOCK:
        if not ENABLED:
            yield
            return
        found = torch.cat, nnf.scaled_dot_product_attention
        # A trace inside a trace (a forward that profiles) falls back to the functions torch had.
        original_cat, original_sdpa = (getattr(f, "effkit_original", f) for f in found)
        owner = _get_ident()
        _set(_cat_recorder(calls, original_cat, owner) if cat else found[0],
             _attention_recorder(calls, original_sdpa, owner))
        try:
            yield
        finally:
            _set(*found)


@contextmanager
def exclusive() -> Iterator[None]:
    """For the block (a whole analysis): :data:`LOCK` held and, with :data:`ENABLED`, no cyclic
    collection; the collector's state comes back after (see the module docstring)."""
    with LOCK:
        if not ENABLED:
            yield
            return
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if gc.get_freeze_count() == 0:
                # The collector still counted every allocation of the block, so the first one after it
                # would start a young collection that scans all of them (the records the Profile keeps:
                # a tenth of a DenseNet-201 call) and frees nothing. freeze() + unfreeze() hands them,
                # and whatever else is tracked, to the oldest generation in O(1), with the count reset:
                # the next full collection sees them. Skipped when the program froze objects itself
                # (unfreeze would undo that).
                gc.freeze()
                gc.unfreeze()
            if was_enabled:
                gc.enable()
