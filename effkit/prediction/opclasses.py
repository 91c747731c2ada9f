"""Op classes of the benchmark predictor: the op kinds of :mod:`effkit.analysis.op_kinds`, each with its own rates.

A GPU (or CPU) runs a dense convolution, a depthwise one, an attention product and an elementwise add at
very different fractions of its peaks, so the predictor gives each kind its own time per FLOP and per byte.
The features table carries ``<kind>_flops``, ``<kind>_bytes`` and ``<kind>_kernels`` per (model, input
size, batch, dtype); :func:`op_classes` gives the same kinds to each op of a profile, so a prediction can be
explained op by op.
"""

from __future__ import annotations

from typing import Any


def _kinds() -> tuple[str, ...]:
    from effkit.analysis.op_kinds import KINDS

    return tuple(KINDS)


OP_CLASSES = _kinds()


def class_columns(kind: str) -> tuple[str, str, str]:
    """The features table's flops, bytes and kernels columns of an op kind."""
    return f"{kind}_flops", f"{kind}_bytes", f"{kind}_kernels"


def profile_with_kinds(model, input_shape, dtype: str):
    """An analysis of ``model`` and the op kind of each row of its ``ops`` (convolutions told apart by groups).

    Returns:
        ``(profile, kinds)``; ``kinds[i]`` is the kind of ``profile.ops`` row ``i`` (``"view"`` for ops that
        move nothing).
    """
    import warnings

    import torch

    from effkit.analysis import formulas as F
    from effkit.analysis.op_kinds import conv_kind, op_kind
    from effkit.analysis.profile import UncountedOpsWarning, profile

    aten = torch.ops.aten
    convs: list[str] = []

    def conv_recorded(inputs, outputs, args, kwargs):  # the kind of each conv, in trace order
        convs.append(conv_kind(inputs, args))
        return F.conv_cost(inputs, outputs, args, kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncountedOpsWarning)
        prof = profile(model, tuple(input_shape), dtype, warn=False,
                       formulas={aten.convolution: conv_recorded, aten._convolution: conv_recorded})
    kinds: list[str] = []
    it = iter(convs)
    for name in prof.ops["op"]:
        kinds.append(next(it, "conv") if name in ("convolution", "_convolution") else op_kind(str(name)))
    return prof, kinds


def timm_features(model: str, input_size: int, batch_size: int, dtype: str) -> dict[str, Any]:
    """A features-table row of ``timm:MODEL`` analysed here (the shipped table's columns)."""
    from effkit.analysis.op_kinds import setup_features
    from effkit.models.external import create_external

    return setup_features(create_external(f"timm:{model}"), int(input_size), int(batch_size), dtype)
