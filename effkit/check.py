"""Regression checks on MAC, FLOPs and params: baselines in a JSON file and a gate for CI.

A *baseline* is a JSON file that records, per model, the input shape and dtype it was analysed at, the
whole-model totals and the per-layer counts (``params``, ``mult_adds``, ``flops``, ``mac``,
``mac_bytes``, ``paper_mac``, ``activations``). It is written so that it can live in a repository: keys
in a fixed order and one layer per line, so a change to a model shows as a readable ``git diff``.

:func:`check` analyses the model again at the baseline's input shape and dtype and compares. The
verdict comes from the **totals**: a total that grew by more than the tolerance is a regression, one
that shrank by more than the tolerance is an improvement (a failure only with ``strict=True``). The
per-layer table explains the verdict: which layers changed, which were added and which were removed
(layers are matched by qualified name and call index, so a renamed layer shows as removed + added).
Counting is static (meta device), so checks are exact and deterministic: no GPU, no timing noise.
"""

from __future__ import annotations

import json
import math
import sys
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from torch import nn

from effkit.errors import BadInputError

#: Version of the baseline file layout; bumped when the layout changes incompatibly.
FORMAT_VERSION = 1
#: Metrics a check can compare (every one counts something where more is worse).
METRICS = ("mac", "mac_bytes", "flops", "mult_adds", "params", "activations", "paper_mac")
#: Per-layer numbers stored in a baseline, in file order.
LAYER_METRICS = ("params", "mult_adds", "flops", "mac", "mac_bytes", "paper_mac", "activations")
#: Totals stored in a baseline, in file order (the fields of :class:`effkit.analysis.profile.Totals`).
TOTAL_METRICS = ("params", "mult_adds", "flops", "paper_mac", "mac", "mac_bytes", "activations")

TOTALS_COLUMNS = ["metric", "baseline", "current", "delta", "delta_pct", "status"]
LAYERS_COLUMNS = ["layer", "metric", "baseline", "current", "delta", "delta_pct", "change"]
CHECK_FORMATS = ("table", "json", "markdown")


# --------------------------------------------------------------------------------------------------
# tolerance and metrics


@dataclass(frozen=True)
class Tolerance:
    """How far a total may move before it counts: relative (``"0.5%"``) or absolute (``"1000"``)."""

    value: float
    relative: bool

    def exceeded(self, baseline: float, delta: float) -> bool:
        """True when ``|delta|`` is beyond the tolerance around ``baseline``."""
        limit = self.value * abs(baseline) if self.relative else self.value
        return abs(delta) > limit

    def __str__(self) -> str:
        if self.relative:
            return f"{self.value * 100:g}%"
        return f"{self.value:g}"


def parse_tolerance(tolerance: str | int | float | Tolerance) -> Tolerance:
    """``"0.5%"`` -> relative 0.005; ``"1000"`` or ``1000`` -> absolute 1000 (counted in the metric's unit).

    Raises:
        BadInputError: for anything else (negative, NaN, empty, stray characters).
    """
    if isinstance(tolerance, Tolerance):
        return tolerance
    hint = "write it as a percentage such as 0.5% or as an absolute count such as 1000"
    if isinstance(tolerance, bool):
        raise BadInputError(f"bad tolerance {tolerance!r}; {hint}")
    if isinstance(tolerance, (int, float)):
        text, relative, number = str(tolerance), False, float(tolerance)
    else:
        text = str(tolerance).strip()
        relative = text.endswith("%")
        try:
            number = float(text[:-1].strip() if relative else text)
        except ValueError:
            raise BadInputError(f"bad tolerance {tolerance!r}; {hint}") from None
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise BadInputError(f"bad tolerance {text!r}: it must be a finite number >= 0; {hint}")
    return Tolerance(number / 100 if relative else number, relative)


def parse_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """``"mac,flops"`` or ``["mac", "flops"]`` -> ``("mac", "flops")``; unknown names are bad input."""
    items = metrics.split(",") if isinstance(metrics, str) else [
        part for m in metrics for part in str(m).split(",")]
    names = [m.strip() for m in items if m.strip()]
    if not names:
        raise BadInputError(f"no metric given; choose from {', '.join(METRICS)}")
    for m in names:
        if m not in METRICS:
            raise BadInputError(f"unknown metric {m!r}; choose from {', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))  # keeps order, drops repeats


# --------------------------------------------------------------------------------------------------
# baseline files


def _layer_key(name: str, call: int) -> str:
    # The first call of a module is keyed by its qualified name; a module called again (a shared
    # ReLU, say) gets "#<call index>" so that every call keeps its own line.
    return name if call == 0 else f"{name}#{call}"


def _entry_from_profile(prof, spec: str | None) -> dict[str, Any]:
    layers: dict[str, dict[str, Any]] = {}
    for rec in prof.layers[["name", "call", "type", *LAYER_METRICS]].itertuples(index=False):
        row = {"type": rec.type}
        row.update({m: int(getattr(rec, m)) for m in LAYER_METRICS})
        layers[_layer_key(rec.name, int(rec.call))] = row
    totals = prof.totals.as_dict()
    return {
        "spec": spec,
        "input_shape": [int(d) for d in prof.input_shape],
        "dtype": prof.dtype,
        "totals": {m: int(totals[m]) for m in TOTAL_METRICS},
        "uncounted": {k: int(v) for k, v in sorted(prof.uncounted.items())},
        "layers": layers,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def baseline_text(data: Mapping[str, Any]) -> str:
    """Serialise a baseline: fixed key order, one model field and one layer per line."""
    out = ["{"]
    head = [k for k in data if k != "models"]
    for k in head:
        out.append(f"  {_dumps(k)}: {_dumps(data[k])},")
    out.append('  "models": {')
    models = list(data["models"].items())
    for i, (name, entry) in enumerate(models):
        out.append(f"    {_dumps(name)}: {{")
        for k in ("spec", "input_shape", "dtype", "totals", "uncounted"):
            out.append(f"      {_dumps(k)}: {_dumps(entry[k])},")
        out.append('      "layers": {')
        layers = list(entry["layers"].items())
        for j, (lname, row) in enumerate(layers):
            comma = "," if j < len(layers) - 1 else ""
            out.append(f"        {_dumps(lname)}: {_dumps(row)}{comma}")
        out.append("      }")
        out.append("    }" + ("," if i < len(models) - 1 else ""))
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def _versions() -> dict[str, str]:
    import torch

    from effkit._version import __version__

    return {"effkit_version": __version__, "torch_version": torch.__version__.split("+")[0]}


def _named_models(models) -> list[tuple[str, str | nn.Module]]:
    if isinstance(models, (str, nn.Module)):
        models = [models]
    if isinstance(models, Mapping):
        pairs = [(str(k), v) for k, v in models.items()]
    else:
        pairs = [(m if isinstance(m, str) else type(m).__name__, m) for m in models]
    if not pairs:
        raise BadInputError("no model given; name at least one model to put in the baseline")
    seen: set[str] = set()
    for name, m in pairs:
        if not isinstance(m, (str, nn.Module)):
            raise BadInputError(f"expected a model name or an nn.Module, got {type(m).__name__}")
        if name in seen:
            raise BadInputError(
                f"model {name!r} is given twice; pass a dict {{name: model}} to name models of the same class apart")
        seen.add(name)
    return pairs


def _profile_entry(name, model, input_shape, input_size, batch_size, dtype, warn=True):
    from effkit.analysis.profile import profile
    from effkit.units import resolve_input_shape

    shape = resolve_input_shape(model, input_size, input_shape, batch_size)
    prof = profile(model, shape, dtype, warn=warn)
    return _entry_from_profile(prof, model if isinstance(model, str) else None)


def build_baseline(
    models,
    *,
    input_shape: str | Sequence[int] | None = None,
    input_size: int | None = None,
    batch_size: int | None = None,
    dtype: str = "float32",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The baseline of ``models`` as a dict (what :func:`save_baseline` writes), without writing it.

    Args: as :func:`save_baseline`; ``progress`` is called with each model's name before it is analysed.
    """
    data: dict[str, Any] = {"effkit_baseline": FORMAT_VERSION, **_versions(), "models": {}}
    for name, model in _named_models(models):
        if progress is not None:
            progress(name)
        data["models"][name] = _profile_entry(name, model, input_shape, input_size, batch_size, dtype)
    return data


def save_baseline(
    models,
    path: str | Path,
    *,
    input_shape: str | Sequence[int] | None = None,
    input_size: int | None = None,
    batch_size: int | None = None,
    dtype: str = "float32",
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Analyse models and write their baseline (totals and per-layer counts) to a JSON file.

    Args:
        models: zoo names, external specs (``"pkg.mod:factory"``, ``"file.py:factory"``, stored as
            given so that ``effkit check`` can rebuild them) or ``nn.Module`` objects (stored under
            their class name); a dict ``{name: model}`` chooses the names.
        path: the JSON file to write.
        input_shape: full input shape ``N,C,H,W`` for every model (wins over ``input_size``).
        input_size: square input side; default each zoo model's own (224, or 32 for CIFAR models).
        batch_size: batch size (default 1).
        dtype: dtype analysed; sets ``mac_bytes``.
        force: overwrite ``path`` if it exists.
        progress: called with each model's name before it is analysed (for progress bars).

    Returns:
        The baseline as written (a dict).

    Raises:
        BadInputError: ``path`` exists and ``force`` is false, or bad models / shapes / dtype.
    """
    from effkit.report.tables import check_writable, write_text

    p = check_writable(path)  # a directory or a missing folder is refused before --force is suggested
    if p.exists() and not force:
        raise BadInputError(
            f"baseline {p} already exists; use `effkit baseline update` or --force (force=True in Python) to replace it")
    data = build_baseline(models, input_shape=input_shape, input_size=input_size, batch_size=batch_size,
                          dtype=dtype, progress=progress)
    write_text(p, baseline_text(data))
    return data


def update_baseline(
    path: str | Path,
    models=None,
    *,
    input_shape: str | Sequence[int] | None = None,
    input_size: int | None = None,
    batch_size: int | None = None,
    dtype: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Accept the current state of models deliberately: re-analyse them and rewrite their entries.

    Entries of other models in the file are kept. With ``models=None`` every model in the file is
    re-analysed from its stored spec. Unless shape options or ``dtype`` are given, each model keeps the
    input shape and dtype it already has in the file; a file that does not exist yet is created.

    Args:
        path: the baseline file.
        models: names, specs or modules as for :func:`save_baseline`; default: all in the file.
        input_shape, input_size, batch_size, dtype: as for :func:`save_baseline`.
        progress: called with each model's name before it is analysed.

    Returns:
        The baseline as written.

    Raises:
        BadInputError: a corrupt file, or an entry saved from a Python object with no spec to rebuild it.
    """
    from effkit.report.tables import check_writable, write_text

    p = check_writable(path)
    old = load_baseline(p) if p.exists() else None
    if models is None:
        if old is None:
            raise BadInputError(
                f"baseline {p} does not exist; name the models to put in it (effkit baseline save MODEL...)")
        pairs = []
        for name, entry in old["models"].items():
            if entry.get("spec") is None:
                raise BadInputError(
                    f"model {name!r} in {p} was saved from a Python object, so it cannot be rebuilt by name; "
                    "update it from Python with effkit.check.update_baseline(path, {name: model})")
            pairs.append((name, entry["spec"]))
    else:
        pairs = _named_models(models)
    custom_shape = input_shape is not None or input_size is not None or batch_size is not None
    data: dict[str, Any] = {"effkit_baseline": FORMAT_VERSION, **_versions(),
                            "models": dict(old["models"]) if old else {}}
    for name, model in pairs:
        if progress is not None:
            progress(name)
        prev = data["models"].get(name)
        shape = input_shape
        if not custom_shape and prev is not None:
            shape = prev["input_shape"]
        dt = dtype or (prev["dtype"] if prev is not None else "float32")
        data["models"][name] = _profile_entry(name, model, shape, input_size, batch_size, dt)
    write_text(p, baseline_text(data))
    return data


def load_baseline(baseline: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read and validate a baseline file (or validate an already loaded dict).

    Raises:
        BadInputError: missing or unreadable file, corrupt JSON, or JSON that is not an effkit baseline.
    """
    if isinstance(baseline, Mapping):
        data, where = dict(baseline), "the baseline given"
    else:
        p = Path(baseline)
        where = str(p)
        if not p.exists():
            raise BadInputError(
                f"baseline file {p} does not exist; create it with `effkit baseline save MODEL... --output {p}`")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BadInputError(f"cannot read baseline {p}: {getattr(e, 'strerror', None) or e}") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise BadInputError(
                f"baseline {p} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                "regenerate it with `effkit baseline save MODEL... --output FILE --force`") from None
    _validate(data, where)
    return data


def _validate(data: Any, where: str) -> None:
    hint = "; make one with `effkit baseline save MODEL... --output FILE`"
    if not isinstance(data, dict) or "effkit_baseline" not in data:
        raise BadInputError(f"{where} is not an effkit baseline (no 'effkit_baseline' key){hint}")
    version = data["effkit_baseline"]
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION or version < 1:
        raise BadInputError(
            f"{where} has baseline format {version!r}, which this effkit (format {FORMAT_VERSION}) cannot read; "
            "upgrade effkit or regenerate the baseline")
    models = data.get("models")
    if not isinstance(models, dict):
        raise BadInputError(f"{where} is not an effkit baseline ('models' is missing or not an object){hint}")
    for name, entry in models.items():
        problem = _entry_problem(entry)
        if problem:
            raise BadInputError(f"{where} is not a valid effkit baseline: model {name!r} {problem}{hint}")


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "is not an object"
    shape = entry.get("input_shape")
    if not isinstance(shape, list) or not shape or not all(_is_count(d) and d > 0 for d in shape):
        return "has no valid 'input_shape'"
    if not isinstance(entry.get("dtype"), str):
        return "has no 'dtype'"
    totals = entry.get("totals")
    if not isinstance(totals, dict) or not all(_is_count(totals.get(m)) for m in TOTAL_METRICS):
        return f"has no valid 'totals' (needs integer {', '.join(TOTAL_METRICS)})"
    layers = entry.get("layers")
    if not isinstance(layers, dict):
        return "has no 'layers' object"
    for lname, row in layers.items():
        if not isinstance(row, dict) or not all(_is_count(row.get(m)) for m in LAYER_METRICS):
            return f"has a malformed layer {lname!r}"
    if entry.get("spec") is not None and not isinstance(entry["spec"], str):
        return "has a 'spec' that is not a string"
    return None


def baseline_models(baseline: str | Path | Mapping[str, Any]) -> list[str]:
    """Names of the models a baseline holds, in file order."""
    return list(load_baseline(baseline)["models"])


# --------------------------------------------------------------------------------------------------
# the check


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking one model against its baseline.

    Attributes:
        model: the model's name in the baseline.
        passed: False when a total regressed beyond the tolerance (or improved, with ``strict``).
        regressions: one line per total that grew beyond the tolerance.
        improvements: one line per total that shrank beyond the tolerance.
        totals: DataFrame ``metric, baseline, current, delta, delta_pct, status``; ``status`` is
            ``unchanged``, ``within tolerance``, ``regression`` or ``improvement``.
        layers: DataFrame ``layer, metric, baseline, current, delta, delta_pct, change``, one row per
            layer and metric that differs; ``change`` is ``changed``, ``added`` or ``removed``
            (empty when ``per_layer`` was false).
        input_shape: the input shape both sides were analysed at.
        dtype: the dtype both sides were analysed at.
        tolerance: the tolerance applied, as text (``"0.5%"``).
        strict: whether improvements beyond the tolerance fail.
        per_layer: whether the per-layer table was built.
        notes: other things worth knowing (uncounted ops that differ, other effkit version...).
    """

    model: str
    passed: bool
    regressions: tuple[str, ...]
    improvements: tuple[str, ...]
    totals: Any  # pandas.DataFrame
    layers: Any  # pandas.DataFrame
    input_shape: tuple[int, ...] = ()
    dtype: str = "float32"
    tolerance: str = "0.5%"
    strict: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    per_layer: bool = True

    def __bool__(self) -> bool:
        return self.passed

    @property
    def verdict(self) -> str:
        """``"passed"`` or ``"FAILED"``."""
        return "passed" if self.passed else "FAILED"

    @property
    def title(self) -> str:
        """One line: model, verdict, input spec and tolerance."""
        return (f"{self.model}: {self.verdict} (input {'x'.join(map(str, self.input_shape))} {self.dtype}, "
                f"tolerance {self.tolerance}{', strict' if self.strict else ''})")

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (raw numbers; NaN and infinity become ``None``)."""
        return {
            "model": self.model, "passed": self.passed, "input_shape": list(self.input_shape),
            "dtype": self.dtype, "tolerance": self.tolerance, "strict": self.strict,
            "regressions": list(self.regressions), "improvements": list(self.improvements),
            "notes": list(self.notes),
            "totals": _records(self.totals), "layers": _records(self.layers),
        }

    def format(self, fmt: str = "table") -> str:
        """The result as text: ``"table"`` (plain-text tables), ``"json"`` or ``"markdown"``."""
        if fmt not in CHECK_FORMATS:
            raise BadInputError(f"unknown format {fmt!r}; use one of {', '.join(CHECK_FORMATS)}")
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=2)
        if fmt == "markdown":
            return self._markdown()
        from effkit.report.tables import render_text

        return "".join(render_text(r) for r in self.renderables())

    def renderables(self) -> list:
        """Rich renderables (title, totals table, per-layer table, notes) for a terminal."""
        from rich.text import Text

        from effkit.report.tables import rich_table

        out: list = [Text(self.title, style="bold green" if self.passed else "bold red")]
        for line in (*self.regressions, *self.improvements):
            out.append(Text(f"  {line}"))
        out.append(rich_table(_display(self.totals), title=f"{self.model}: totals"))
        if len(self.layers):
            out.append(rich_table(_display(self.layers),
                                  title=f"{self.model}: layers that changed, were added or were removed"))
        elif self.per_layer:
            out.append(Text("no layer changed"))
        for n in self.notes:
            out.append(Text(f"note: {n}"))
        return out

    def _markdown(self) -> str:
        from effkit.report.tables import markdown_table

        parts = [f"**{self.title}**\n"]
        parts += [f"- {line}" for line in (*self.regressions, *self.improvements)]
        if self.regressions or self.improvements:
            parts.append("")
        parts.append(markdown_table(_display(self.totals)))
        if len(self.layers):
            parts.append(markdown_table(_display(self.layers)))
        elif self.per_layer:
            parts.append("No layer changed.\n")
        parts += [f"- note: {n}" for n in self.notes]
        return "\n".join(parts).rstrip("\n") + "\n"


def _records(df) -> list[dict[str, Any]]:
    rows = []
    for rec in df.to_dict(orient="records"):
        row = {}
        for k, v in rec.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float):
                if math.isnan(v) or math.isinf(v):
                    v = None
                elif v == int(v) and k not in ("delta_pct",):
                    v = int(v)
            row[k] = v
        rows.append(row)
    return rows


def _display(df):
    """A copy for people: signed deltas with human units, percentages with a sign."""
    from effkit.units import human

    out = df.copy()

    def signed(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        return ("+" if v > 0 else "") + human(v)

    def pct(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if math.isinf(v):
            return "new"
        return f"{v:+.3g}%"

    if len(out):
        pairs = [_pair_text(b, c) for b, c in zip(df["baseline"], df["current"])]
        out["baseline"] = [p[0] for p in pairs]
        out["current"] = [p[1] for p in pairs]
        out["delta"] = out["delta"].map(signed)
        out["delta_pct"] = out["delta_pct"].map(pct)
    return out


def _pair_text(base, cur) -> tuple[str, str]:
    """Human units for both, unless that would print two different numbers the same (76M -> 76M)."""
    from effkit.units import human

    def exact(v):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(v):,}"

    hb, hc = human(base), human(cur)
    if hb == hc and exact(base) != exact(cur):
        return exact(base), exact(cur)
    return hb, hc


def _delta_pct(baseline: float, delta: float) -> float:
    if baseline:
        return 100.0 * delta / baseline
    return 0.0 if delta == 0 else math.inf


def _describe(metric: str, base: int, cur: int) -> str:
    from effkit.units import human

    delta = cur - base
    pct = _delta_pct(base, delta)
    pct_text = "new" if math.isinf(pct) else f"{pct:+.3g}%"
    before, after = _pair_text(base, cur)
    return f"{metric} {'+' if delta > 0 else ''}{human(delta)} ({pct_text}): {before} -> {after}"


def _model_name(model_or_name, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(model_or_name, str):
        return model_or_name
    if isinstance(model_or_name, nn.Module):
        return type(model_or_name).__name__
    raise BadInputError(f"expected a model name or an nn.Module, got {type(model_or_name).__name__}")


def check(
    model_or_name: str | nn.Module,
    baseline: str | Path | Mapping[str, Any],
    *,
    metrics: str | Sequence[str] = ("mac",),
    tolerance: str | int | float = "0.5%",
    per_layer: bool = True,
    strict: bool = False,
    name: str | None = None,
    input_shape: str | Sequence[int] | None = None,
    dtype: str | None = None,
) -> CheckResult:
    """Analyse a model again and compare it with its baseline.

    Args:
        model_or_name: a zoo name or external spec (``"pkg.mod:factory"``, ``"file.py:factory"``), or
            an ``nn.Module``.
        baseline: a baseline file path or an already loaded baseline dict.
        metrics: metrics to compare, e.g. ``("mac", "flops")`` or ``"mac,flops"``; choose from
            :data:`METRICS`.
        tolerance: ``"0.5%"`` (relative to the baseline total) or an absolute count (``"1000"``).
        per_layer: also build the per-layer table (which layers changed, were added, were removed).
        strict: fail on improvements beyond the tolerance too (forces a baseline update).
        name: the model's name in the baseline; default the spec string, or the module's class name.
        input_shape: the input shape you expect the baseline to hold; a different one is bad input
            (default: use the baseline's).
        dtype: the dtype you expect the baseline to hold; a different one is bad input.

    Returns:
        A :class:`CheckResult`; ``passed`` is False on a regression.

    Raises:
        BadInputError: missing / corrupt baseline, model not in it, another input shape or dtype,
            unknown metric, bad tolerance.
    """
    import pandas as pd

    from effkit.analysis.profile import UncountedOpsWarning, profile
    from effkit.units import dtype_name, parse_dtype, parse_shape

    data = load_baseline(baseline)
    mets = parse_metrics(metrics)
    tol = parse_tolerance(tolerance)
    key = _model_name(model_or_name, name)
    where = "the baseline" if isinstance(baseline, Mapping) else f"baseline {baseline}"
    entry = data["models"].get(key)
    if entry is None:
        have = ", ".join(data["models"]) or "none"
        raise BadInputError(
            f"model {key!r} is not in {where} (it has: {have}); add it with `effkit baseline update {key}`")
    base_shape = tuple(entry["input_shape"])
    base_dtype = entry["dtype"]
    if input_shape is not None:
        shape = parse_shape(input_shape)
        if shape != base_shape:
            raise BadInputError(
                f"{where} holds {key} at input shape {'x'.join(map(str, base_shape))}, not "
                f"{'x'.join(map(str, shape))}; counts at different shapes are not comparable: drop the "
                "shape option or make a baseline for that shape")
    if dtype is not None:
        dt = dtype_name(parse_dtype(dtype))
        if dt != base_dtype:
            raise BadInputError(
                f"{where} holds {key} in {base_dtype}, not {dt}; counts in different dtypes are not "
                "comparable: drop --dtype or make a baseline for that dtype")

    with warnings.catch_warnings():
        # Uncounted ops are compared with the baseline's below and reported as notes instead.
        warnings.simplefilter("ignore", UncountedOpsWarning)
        prof = profile(model_or_name, base_shape, base_dtype, warn=False)
    current = _entry_from_profile(prof, None)

    rows, regressions, improvements = [], [], []
    for m in mets:
        base, cur = int(entry["totals"][m]), int(current["totals"][m])
        delta = cur - base
        if delta == 0:
            status = "unchanged"
        elif not tol.exceeded(base, delta):
            status = "within tolerance"
        elif delta > 0:
            status = "regression"
            regressions.append(_describe(m, base, cur))
        else:
            status = "improvement"
            improvements.append(_describe(m, base, cur))
        rows.append({"metric": m, "baseline": base, "current": cur, "delta": delta,
                     "delta_pct": _delta_pct(base, delta), "status": status})
    totals = pd.DataFrame(rows, columns=TOTALS_COLUMNS)
    layers = _layer_diff(entry["layers"], current["layers"], mets) if per_layer else \
        pd.DataFrame(columns=LAYERS_COLUMNS)

    notes = []
    if entry.get("uncounted", {}) != current["uncounted"]:
        notes.append(f"ops without a formula differ: baseline {entry.get('uncounted') or 'none'}, "
                     f"now {current['uncounted'] or 'none'}")
    versions = _versions()
    for k, label in (("effkit_version", "effkit"), ("torch_version", "torch")):
        if data.get(k) and data[k] != versions[k] and (regressions or improvements):
            notes.append(f"the baseline was made with {label} {data[k]}, this is {versions[k]}: "
                         "a changed count may come from the tool rather than the model")
    passed = not regressions and not (strict and improvements)
    return CheckResult(
        model=key, passed=passed, regressions=tuple(regressions), improvements=tuple(improvements),
        totals=totals, layers=layers, input_shape=base_shape, dtype=base_dtype, tolerance=str(tol),
        strict=strict, notes=tuple(notes), per_layer=per_layer,
    )


def _layer_diff(base_layers: Mapping[str, Mapping], cur_layers: Mapping[str, Mapping], metrics):
    import pandas as pd

    # Layers that exist on one side only are listed with every metric that is non-zero there;
    # layers on both sides with the metrics that moved. Current call order first, then removed ones.
    rows = []
    per_layer_metrics = [m for m in metrics if m in LAYER_METRICS]
    for lname, cur in cur_layers.items():
        base = base_layers.get(lname)
        for m in per_layer_metrics:
            c = int(cur[m])
            if base is None:
                if c:
                    rows.append(_layer_row(lname, m, math.nan, c, "added"))
            elif int(base[m]) != c:
                rows.append(_layer_row(lname, m, int(base[m]), c, "changed"))
        if base is None and not any(int(cur[m]) for m in per_layer_metrics):
            rows.append(_layer_row(lname, per_layer_metrics[0], math.nan, 0, "added"))
    for lname, base in base_layers.items():
        if lname in cur_layers:
            continue
        nonzero = [m for m in per_layer_metrics if int(base[m])] or per_layer_metrics[:1]
        for m in nonzero:
            rows.append(_layer_row(lname, m, int(base[m]), math.nan, "removed"))
    return pd.DataFrame(rows, columns=LAYERS_COLUMNS)


def _layer_row(layer: str, metric: str, base: float, cur: float, change: str) -> dict[str, Any]:
    b = 0 if isinstance(base, float) and math.isnan(base) else base
    c = 0 if isinstance(cur, float) and math.isnan(cur) else cur
    delta = c - b
    pct = math.nan if change != "changed" else _delta_pct(b, delta)
    return {"layer": layer, "metric": metric, "baseline": base, "current": cur, "delta": delta,
            "delta_pct": pct, "change": change}


def assert_no_regression(model: str | nn.Module, baseline: str | Path | Mapping[str, Any], **kw) -> CheckResult:
    """Check ``model`` against ``baseline`` and raise ``AssertionError`` showing the diff if it fails.

    Meant for test suites: ``effkit.assert_no_regression(MyNet(), "tests/effkit-baseline.json")``.
    Keyword arguments are those of :func:`check`.

    Returns:
        The :class:`CheckResult` when it passed.
    """
    result = check(model, baseline, **kw)
    if not result.passed:
        raise AssertionError("effkit regression check failed\n" + result.format("table"))
    return result


class _CallableModule(types.ModuleType):
    """Lets ``effkit.check(...)`` work even after ``import effkit.check`` bound the module there.

    Importing a submodule sets it as an attribute of its package, which shadows the package's lazy
    ``effkit.check`` function; making this module callable keeps both spellings working.
    """

    def __call__(self, *args, **kwargs) -> CheckResult:
        return check(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
