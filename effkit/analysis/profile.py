"""Per-layer static analysis: the :class:`Profile` of a model and the :func:`profile` entry point."""

from __future__ import annotations

import json
import math
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence

import torch
from torch import nn

from effkit.analysis import formulas as F
from effkit.analysis import fused, patches
from effkit.analysis.tracer import Trace
from effkit.errors import BadInputError, setting
from effkit.units import dtype_name, parse_dtype, parse_shape
# the column names and row names live in .columns (table.py reads them without importing this module)
from effkit.analysis.columns import (  # noqa: F401
    LAYER_COLUMNS, MAC_DEFINITION, NUMERIC_COLUMNS, OP_COLUMNS, OWN_OPS, display_name, own_ops_name,
)

class UncountedOpsWarning(UserWarning):
    """Some ops had no formula: their cost is missing from the totals (listed in ``Profile.uncounted``)."""


@dataclass(frozen=True)
class Totals:
    """Whole-model sums. ``paper_mac`` is the paper's figure (conv + linear); ``mac`` covers every op.

    ``mac_fused`` / ``mac_fused_bytes``: the traffic under the fusion rules of :mod:`effkit.analysis.fused`.
    """

    params: int
    mult_adds: int
    flops: int
    paper_mac: int
    mac: int
    mac_bytes: int
    activations: int
    mac_fused: int = 0
    mac_fused_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """What one model costs at one input shape and dtype, layer by layer.

    Attributes:
        model_name: the zoo name, external spec or class name analysed.
        input_shape: the input tensor shape (batch first).
        dtype: the dtype analysed (``"float32"``...); ``mac_bytes`` uses its element size.
        layers: one row per module call (columns :data:`LAYER_COLUMNS`; ``path`` holds the tuple path),
            a pandas DataFrame built on first access.
        ops: one row per aten op (:data:`OP_COLUMNS`), a DataFrame built on first access.
        totals: sums over all layers (params over the whole model, called or not).
        uncounted: ``{op name: calls}`` of ops without a formula; their cost is missing, not zero.
        uncalled: modules with parameters that the forward pass never called.
    """

    model_name: str
    input_shape: tuple[int, ...]
    dtype: str
    totals: Totals
    uncounted: dict[str, int] = field(default_factory=dict)
    uncalled: list[str] = field(default_factory=list)
    _analysis: Any = field(default=None, repr=False, compare=False)  # an Analysis: its rows built on demand

    # The rows and tables are built on first use: most callers read only the totals, and pandas is a
    # 0.1 s, 33 MB import that a cold `profile(...).totals` should not pay for.
    @cached_property
    def _layer_rows(self) -> list[dict]:  # LAYER_COLUMNS + path, counted, shared_params
        return self._analysis.layer_rows() if self._analysis is not None else []

    @cached_property
    def _op_rows(self) -> list[tuple]:  # OP_COLUMNS
        return self._analysis.op_rows() if self._analysis is not None else []

    @cached_property
    def layers(self):
        """One row per module call (pandas DataFrame, columns :data:`LAYER_COLUMNS`, ``path``, ``counted``,
        ``shared_params``: parameters this row reads that an earlier row, of another module, counted)."""
        import pandas as pd

        return pd.DataFrame(self._layer_rows, columns=[*LAYER_COLUMNS, "path", "counted", "shared_params"])

    @cached_property
    def ops(self):
        """One row per aten op (pandas DataFrame, columns :data:`OP_COLUMNS`)."""
        import pandas as pd

        return pd.DataFrame(self._op_rows, columns=OP_COLUMNS)

    def rows(self, columns: Sequence[str]) -> list[tuple]:
        """The layer table's ``columns`` as plain tuples, one per row of :attr:`layers`, without pandas."""
        return [tuple(row[c] for c in columns) for row in self._layer_rows]

    @property
    def complete(self) -> bool:
        """True when every op had a formula."""
        return not self.uncounted

    def by_depth(self, depth: int):
        """Aggregate layers to module depth ``depth`` (1 = stages of VoVNet, 2 = OSA blocks, ...).

        Rows deeper than ``depth`` are summed into their ancestor at that depth; shallower rows
        (the model's own ops, say: ``(model) (own ops)``) stay as they are. ``mac_min``/``mac_ratio`` are dropped.
        """
        import pandas as pd

        if depth < 0:
            raise BadInputError(f"depth must be >= 0, got {depth}")
        df = self.layers
        if df.empty:
            return df.copy()
        key = df["path"].map(lambda p: tuple(p[:depth]))
        agg = df.assign(_key=key).groupby("_key", sort=False)
        out = agg[NUMERIC_COLUMNS].sum()
        out["layers"] = agg.size()
        out["type"] = [self._types.get(k, "") for k in out.index]
        # A group shallower than depth holds one module's own ops (its children are groups of their own).
        parents = _parents(df["path"])
        out["name"] = [own_ops_name(k) if len(k) < depth and k in parents else display_name(k) for k in out.index]
        out["path"] = list(out.index)
        out["depth"] = [len(k) for k in out.index]
        out = out.reset_index(drop=True)
        return pd.DataFrame(out[["name", "type", "depth", "layers", *NUMERIC_COLUMNS, "path"]])

    def tree(self, depth: int | None = None):
        """The module tree down to ``depth`` (all of it by default), parents before their children.

        One row per module (``name``, ``type``, ``depth``, ``layers``, the numeric columns summed over the
        module and everything under it, ``path``, ``own``). A module that has children and also runs ops of
        its own (a ``torch.cat`` in ``forward``; the model's own functional ops) gets one more row right
        under it, ``own=True``, with those ops alone, so that a module's children add up to the module.
        """
        import pandas as pd

        if depth is not None and depth < 0:
            raise BadInputError(f"depth must be >= 0, got {depth}")
        rows = self._layer_rows
        limit = max((len(r["path"]) for r in rows), default=0) if depth is None else depth
        parents = {tuple(r["path"][:k]) for r in rows for k in range(len(r["path"]))}
        nodes: dict = {}  # (path, own) -> summed row, in pre-order (dicts keep insertion order)
        for r in rows:
            path = tuple(r["path"])
            keys = [(path[:k], False) for k in range(1, min(len(path), limit) + 1)]
            if path in parents and len(path) < limit or not path:
                keys.append((path, True))  # the module's own ops, under it
            for key in keys:
                node = nodes.setdefault(key, dict.fromkeys(NUMERIC_COLUMNS, 0) | {"layers": 0})
                node["layers"] += 1
                for c in NUMERIC_COLUMNS:
                    node[c] += r[c]
        out = [{"name": own_ops_name(p) if own else display_name(p), "type": self._types.get(p, ""),
                "depth": len(p) + own, **node,
                "path": p, "own": own} for (p, own), node in nodes.items()]
        return pd.DataFrame(out, columns=["name", "type", "depth", "layers", *NUMERIC_COLUMNS, "path", "own"])

    _types: dict = field(default_factory=dict, repr=False)
    #: Each input as the model was called with it (``"1x3x224x224 float32"``, ``"input_ids=1x128 int64"``).
    inputs: list = field(default_factory=list)
    #: Where the trace ran: ``"meta"`` or ``"cpu"`` (a real forward pass).
    execute: str = "meta"
    channels_last: bool = False
    #: True when the model was called with ``inputs=`` (the title then lists each input in full).
    inputs_given: bool = False

    def table(self, columns: Sequence[str] | str | None = None, *, depth: int | None = None, tree: bool = False,
              sort: str | None = None, top: int | None = None, compact: bool = False):
        """The layer table ``effkit profile`` prints: ``print(profile("vovnet39").table())``.

        Args:
            columns: the columns to show (a list, a comma-separated string, or ``"all"``); default: every
                column, or with ``compact`` a terminal's few.
            depth: aggregate to module depth ``depth`` (:meth:`by_depth`); with ``tree``, the deepest level.
            tree: the module tree (:meth:`tree`), indented.
            sort: sort the rows by this column, largest first.
            top: keep the first ``top`` rows (after sorting); the footers then give their total and the model's.

        Returns:
            A :class:`~effkit.analysis.table.LayerTable`: ``str()`` is aligned text, ``.markdown()``,
            ``.csv()``, ``.json()`` and ``.rich(width)`` the other forms.
        """
        from effkit.analysis.table import layer_table

        return layer_table(self, columns, depth=depth, tree=tree, sort=sort, top=top, compact=compact)

    def __str__(self) -> str:
        return self.table().text()

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (raw numbers, shapes as lists) used by :meth:`to_json`."""
        rows = []
        for rec in self.layers.drop(columns=["path"]).to_dict(orient="records"):
            rows.append({k: _plain(v) for k, v in rec.items()})
        return {
            "model": self.model_name,
            "input_shape": list(self.input_shape),
            "dtype": self.dtype,
            "inputs": list(self.inputs),
            "execute": self.execute,
            "channels_last": self.channels_last,
            "totals": self.totals.as_dict(),
            "uncounted": dict(self.uncounted),
            "uncalled": list(self.uncalled),
            "mac_definition": MAC_DEFINITION,
            "layers": rows,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _plain(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
        if isinstance(v, float) and math.isnan(v):
            return None
    return v


def _parents(paths) -> set:
    """The paths that are a proper prefix of another path among ``paths``."""
    return {tuple(p[:k]) for p in paths for k in range(len(p))}


def _shape_str(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join("x".join(str(d) for d in s) for s in shapes)


def _conv_bound(rec, cost_mac) -> tuple[float, float]:
    """mac_min and mac/mac_min for a plain (groups=1, non-transposed) 2-d conv; NaN otherwise."""
    args = rec.args
    if len(args) < 9 or args[6] or args[8] != 1 or len(rec.inputs[1].shape) != 4:
        return math.nan, math.nan
    w = rec.inputs[1].shape
    out = rec.outputs[0].shape
    lo = F.mac_min(w[2] * w[3], out[2], out[3], w[1], w[0], batch=out[0])
    return lo, (cost_mac / lo if lo else math.nan)


def analyse_trace(tr: Trace, overrides: dict | None = None):
    """Turn a :class:`Trace` into (layer rows, op rows, uncounted counter)."""
    a = Analysis(tr, overrides)
    return a.layer_rows(), a.op_rows(), a.uncounted


class Analysis:
    """The costs of a :class:`Trace`: the numbers at once, the words of its rows when they are asked for.

    Most callers read only the totals; the text of each layer row (its name, ops and shapes) is about
    a third of the work of an analysis, so :meth:`layer_rows` and :meth:`op_rows` build it on demand.
    """

    def __init__(self, tr: Trace, overrides: dict | None = None) -> None:
        self.uncounted: Counter = Counter()
        self.sums = dict.fromkeys(NUMERIC_COLUMNS, 0)
        #: (call, its numeric row, each op's (name, flops, mult_adds, mac, mac_bytes, counted, fused mac, bytes))
        self.calls: list[tuple[Any, dict, list[tuple]]] = []
        self._known: dict = {}  # op overload -> (name, formula), for this analysis (and its overrides)
        saved = fused.savings(tr.calls)
        sums = self.sums
        for ci, call in enumerate(tr.calls):
            if not call.ops and not call.own_params and not call.shared_params:
                continue  # containers (Sequential, ModuleList) with nothing of their own
            costs = [self._op(rec, saved.get((ci, oi)), overrides) for oi, rec in enumerate(call.ops)]
            # In NUMERIC_COLUMNS order; an uncounted op (counted False, NaN costs) adds nothing.
            row = dict(zip(NUMERIC_COLUMNS, (call.own_params, *_column_sums(costs))))
            for c in NUMERIC_COLUMNS:
                sums[c] += row[c]
            self.calls.append((call, row, costs))

    def _op(self, rec, less, overrides) -> tuple:
        """One op's costs: its op-row numbers (:data:`OP_COLUMNS` from ``op``), then paper MAC and activations."""
        known = self._known.get(rec.op)
        if known is None:  # a few dozen distinct ops among thousands of records: look each up once
            known = self._known[rec.op] = (rec.op.overloadpacket.__name__, F.get_formula(rec.op, overrides))
        name, fn = known
        if fn is None:
            self.uncounted[name] += 1
            return (name, math.nan, math.nan, math.nan, math.nan, False, math.nan, math.nan, 0, 0)
        cost = fn(rec.inputs, rec.outputs, rec.args, rec.kwargs)
        if cost.mac is None:
            mac, mac_bytes = F.default_mac(rec.inputs, rec.outputs)
        else:
            mac = cost.mac
            mac_bytes = cost.mac_bytes if cost.mac_bytes is not None else cost.mac * (
                rec.outputs[0].itemsize if rec.outputs else 0)
        fused_mac, fused_bytes = (mac, mac_bytes) if less is None else (
            max(0, mac - less[0]), max(0, mac_bytes - less[1]))
        paper = mac if name in F.PAPER_MAC_OPS else 0
        acts = rec.outputs[0].numel if rec.outputs and mac and name not in F.ALIASING_OPS \
            and not name.endswith("_") else 0
        return (name, cost.flops, cost.mult_adds, mac, mac_bytes, True, fused_mac, fused_bytes, paper, acts)

    @cached_property
    def _names(self) -> list[str]:
        """Each call's row name: a module with submodules that has a row of its own holds its own ops alone."""
        parents = _parents(call.path for call, _, _ in self.calls)
        return [own_ops_name(call.path) if call.path in parents else display_name(call.path)
                for call, _, _ in self.calls]

    def layer_rows(self) -> list[dict]:
        """One dict per module call: :data:`LAYER_COLUMNS`, ``path``, ``counted``, ``shared_params``."""
        rows = []
        for (call, numbers, costs), name in zip(self.calls, self._names):
            # Ops that cost nothing (views, an uncounted op still shows: it is missing, not free) stay unnamed.
            names = [c[0] for c in costs if not c[5] or c[3] or c[1]]
            convs = [(rec, c[3]) for rec, c in zip(call.ops, costs) if c[5] and c[0] in ("convolution", "_convolution")]
            lo, ratio = _conv_bound(*convs[0]) if len(convs) == 1 else (math.nan, math.nan)
            ins, outs = call.input_shapes, call.output_shapes
            if name.endswith(OWN_OPS):  # the shapes of its own ops (a cat's inputs and output), not the module's
                costly = [rec for rec, c in zip(call.ops, costs) if not c[5] or c[3] or c[1]]
                if costly:
                    ins = [t.shape for t in costly[0].inputs]
                    outs = [t.shape for t in costly[-1].outputs[:1]]
            rows.append(dict(
                numbers, path=call.path, name=name, type=call.type, call=call.call,
                repeat=call.call > 0, depth=len(call.path), ops=_summarise(names),
                input_shape=_shape_str(ins), output_shape=_shape_str(outs),
                mac_min=lo, mac_ratio=ratio, counted=all(c[5] for c in costs), shared_params=call.shared_params,
            ))
        return rows

    def op_rows(self) -> list[tuple]:
        """One tuple per aten op, in the order of :data:`OP_COLUMNS`."""
        return [(name, call.call, *c[:8]) for (call, _, costs), name in zip(self.calls, self._names) for c in costs]


def _column_sums(costs: list[tuple]) -> tuple:
    """A layer's numeric columns after params (:data:`NUMERIC_COLUMNS`) from its ops' costs (:meth:`Analysis._op`)."""
    mult_adds = flops = mac = mac_bytes = paper = acts = fused = fused_bytes = 0
    for c in costs:
        if c[5]:  # counted
            flops += c[1]
            mult_adds += c[2]
            mac += c[3]
            mac_bytes += c[4]
            fused += c[6]
            fused_bytes += c[7]
            paper += c[8]
            acts += c[9]
    return mult_adds, flops, mac, mac_bytes, paper, acts, fused, fused_bytes


def _summarise(names: list[str]) -> str:
    counts = Counter(names)
    return ", ".join(f"{n}x{c}" if c > 1 else n for n, c in counts.items())


def _resolve_model(model_or_name, weights):
    """(model, display name, default input size); :func:`on_meta` puts it on meta for the trace."""
    from effkit.models.resolve import resolve

    resolved = resolve(model_or_name)
    if resolved.module is not None:
        if weights is not None:
            from effkit.models.external import load_weights

            load_weights(resolved.module, weights)
        return resolved.module, resolved.name, None
    size = resolved.default_input_size
    if weights is not None:
        # Weights need real tensors: build on the CPU and check the file against it.
        model = resolved.build()
        from effkit.models.external import load_weights

        load_weights(model, weights)
        return model, resolved.name, size
    return resolved.build(device="meta"), resolved.name, size


def profile(
    model_or_name: nn.Module | str,
    input_shape: Sequence[int] | str | None = None,
    dtype: str | torch.dtype = "float32",
    *,
    inputs: Any = None,
    channels_last: bool = False,
    execute: str = "meta",
    log: Callable[[str], None] | None = None,
    weights: str | None = None,
    formulas: dict | None = None,
    warn: bool = True,
) -> Profile:
    """Analyse a model layer by layer on the meta device (no real compute, no real memory).

    Args:
        model_or_name: an ``nn.Module`` (left as it was: its tensors are swapped for meta stand-ins
            only during the trace, see :mod:`effkit.analysis.meta`), a zoo name such as
            ``"vovnet39"``, or an external spec (``"pkg.mod:factory"``, ``"file.py:factory"``,
            ``"torchvision:resnet50"``, ``"timm:NAME"``).
        input_shape: input tensor shape, batch first, for a model called as ``model(x)``; default
            ``(1, 3, S, S)`` with the zoo model's input size (224 for ImageNet models, 32 for CIFAR ones).
        dtype: dtype analysed; sets the element size behind ``mac_bytes``.
        inputs: instead of ``input_shape``, what the model is called with: a shape, a ``(shape, dtype)``
            pair, an example tensor or a callable building one; a list of those (positional inputs) or
            a dict (keyword inputs, ``{"input_ids": ((1, 128), "int64"), ...}``). See
            :mod:`effkit.analysis.inputs`.
        channels_last: analyse with channels-last 4-d inputs (a ``.view`` that fails on a real
            channels-last tensor fails here too, and the copies ``reshape`` makes are counted).
        execute: ``"meta"`` (no data) or ``"cpu"``: a real forward on the CPU at the same shape, for
            models whose code reads tensor values; refused when it would not fit in memory.
        log: called with one line stating the memory a ``"cpu"`` run takes, before it starts.
        weights: optional local state_dict file, checked against the model (not needed for counting).
        formulas: per-call formula overrides ``{aten op: fn or None}``; ``None`` marks an op as free.
        warn: emit an :class:`UncountedOpsWarning` when some ops had no formula.

    Returns:
        A :class:`Profile` with per-layer rows, per-op rows, totals and the uncounted ops.
    """
    from effkit.analysis import execute as run
    from effkit.analysis import inputs as I

    tdtype = parse_dtype(dtype)
    model, name, size = _resolve_model(model_or_name, weights)
    if inputs is not None and input_shape is not None:
        raise BadInputError(f"give {setting('input_shape')} or {setting('inputs')}, not both", field="inputs")
    inputs_given = inputs is not None
    if inputs is None:
        inputs = [parse_shape(input_shape if input_shape is not None else (1, 3, size or 224, size or 224))]
    specs = I.split(inputs)
    # One analysis at a time in the process, the collector paused: see effkit.analysis.patches.
    with patches.exclusive():
        tr, shown, first = run.run(model, name, specs, tdtype, execute=execute, channels_last=channels_last, log=log)
        analysis = Analysis(tr, formulas)
    uncounted = analysis.uncounted
    totals = Totals(**{**{c: int(v) for c, v in analysis.sums.items()}, "params": tr.params})
    if uncounted and warn:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(uncounted.items()))
        warnings.warn(
            f"{name}: ops without a formula, missing from the totals: {listed}",
            UncountedOpsWarning, stacklevel=2,
        )
    return Profile(
        model_name=name, input_shape=first, dtype=dtype_name(tdtype), totals=totals,
        uncounted=dict(uncounted), uncalled=[display_name(p) for p in tr.uncalled],
        _types=tr.module_types, _analysis=analysis,
        inputs=list(shown), execute=execute, channels_last=channels_last, inputs_given=inputs_given,
    )
