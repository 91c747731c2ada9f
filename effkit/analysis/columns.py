"""The names of the analysis's columns and rows: what a Profile's DataFrames hold and how its rows are named.

A leaf of the analysis package: the profile builds its rows with these names and the layer table renders them.
"""

from __future__ import annotations

from typing import Sequence

#: Numeric per-layer columns; totals are their sums.
NUMERIC_COLUMNS = ["params", "mult_adds", "flops", "mac", "mac_bytes", "paper_mac", "activations",
                   "mac_fused", "mac_fused_bytes"]
#: All per-layer columns, in display order.
LAYER_COLUMNS = [
    "name", "type", "call", "repeat", "depth", "ops", "input_shape", "output_shape",
    *NUMERIC_COLUMNS, "mac_min", "mac_ratio",
]

#: Per-op columns.
OP_COLUMNS = ["layer", "call", "op", "flops", "mult_adds", "mac", "mac_bytes", "counted", "mac_fused", "mac_fused_bytes"]

MAC_DEFINITION = (
    "MAC = elements each op reads (inputs and weights, once each) plus elements it writes; "
    "for a stride-1 same-padded conv this is the paper's hw(ci+co) + k^2*ci*co. "
    "paper MAC sums conv and linear layers; MAC sums every op (cat, add, BN, ReLU, pooling). "
    "fused MAC is what a fusing engine moves: BN, activations and residual adds run inside the "
    "preceding conv/linear, producers write straight into a concatenation's buffer."
)


def display_name(path: Sequence[str]) -> str:
    """Join a module path for display; the model itself is ``(model)``."""
    return ".".join(path) if path else "(model)"


#: After the name of a module that has submodules, in a row holding only the ops its own ``forward`` runs
#: (a ``torch.cat``, a residual add): the module's whole cost is its row in :meth:`Profile.by_depth`/``tree``.
OWN_OPS = " (own ops)"


def own_ops_name(path: Sequence[str]) -> str:
    """The name of the row of a module's own ops: ``stage2.OSA2_1 (own ops)``, ``(model) (own ops)``."""
    return display_name(path) + OWN_OPS
