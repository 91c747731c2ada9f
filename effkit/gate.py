"""The regression gate: analyse a model again and compare it with its baseline entry.

:func:`check` analyses the model at the baseline's input shape and dtype and compares. The verdict
comes from the **totals**: a total that grew by more than the tolerance is a regression, one that
shrank by more than the tolerance is an improvement (a failure only with ``strict=True``). The
per-layer table explains the verdict: which layers changed, which were added and which were removed
(layers are matched by qualified name and call index, so a renamed layer shows as removed + added).
Counting is static (meta device), so checks are exact and deterministic: no GPU, no timing noise.

The gate returns data (:class:`CheckResult`); :mod:`effkit.report.check_render` renders it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from effkit.baseline import LAYER_METRICS, entry_from_profile, load_baseline, versions
from effkit.errors import BadInputError, setting

#: Metrics a check can compare (every one counts something where more is worse).
METRICS = ("mac", "mac_bytes", "flops", "mult_adds", "params", "activations", "paper_mac")

TOTALS_COLUMNS = ["metric", "baseline", "current", "delta", "delta_pct", "status"]
LAYERS_COLUMNS = ["layer", "metric", "baseline", "current", "delta", "delta_pct", "change"]


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
        """The result as text: ``"table"`` (plain-text tables), ``"json"`` or ``"markdown"``.

        A shortcut for :func:`effkit.report.check_render.check_text`; the rendering lives there.
        """
        # Imported here: the gate only returns data, and this convenience must not make importing
        # the gate load the report layer.
        from effkit.report.check_render import check_text

        return check_text(self, fmt)


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


def _delta_pct(baseline: float, delta: float) -> float:
    if baseline:
        return 100.0 * delta / baseline
    return 0.0 if delta == 0 else math.inf


def _describe(metric: str, base: int, cur: int) -> str:
    from effkit.report.check_render import pair_text
    from effkit.report.tables import human

    delta = cur - base
    pct = _delta_pct(base, delta)
    pct_text = "new" if math.isinf(pct) else f"{pct:+.3g}%"
    before, after = pair_text(base, cur)
    return f"{metric} {'+' if delta > 0 else ''}{human(delta)} ({pct_text}): {before} -> {after}"


def _model_name(model_or_name, name: str | None) -> str:
    from effkit.models.resolve import model_name

    return name if name is not None else model_name(model_or_name)


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

    data = load_baseline(baseline)
    mets = parse_metrics(metrics)
    tol = parse_tolerance(tolerance)
    key = _model_name(model_or_name, name)
    where = "the baseline" if isinstance(baseline, Mapping) else f"baseline {baseline}"
    entry = _entry_of(data, key, where)
    base_shape, base_dtype = tuple(entry["input_shape"]), entry["dtype"]
    _check_same_input(entry, key, where, input_shape, dtype)

    with warnings.catch_warnings():
        # Uncounted ops are compared with the baseline's below and reported as notes instead.
        warnings.simplefilter("ignore", UncountedOpsWarning)
        prof = profile(model_or_name, base_shape, base_dtype, warn=False)
    current = entry_from_profile(prof, None)

    totals, regressions, improvements = _compare_totals(entry["totals"], current["totals"], mets, tol)
    layers = _layer_diff(entry["layers"], current["layers"], mets) if per_layer else \
        pd.DataFrame(columns=LAYERS_COLUMNS)
    notes = _notes(data, entry, current, changed=bool(regressions or improvements))
    passed = not regressions and not (strict and improvements)
    return CheckResult(
        model=key, passed=passed, regressions=tuple(regressions), improvements=tuple(improvements),
        totals=totals, layers=layers, input_shape=base_shape, dtype=base_dtype, tolerance=str(tol),
        strict=strict, notes=tuple(notes), per_layer=per_layer,
    )


def _entry_of(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """The baseline entry of model ``key``; a model not in the baseline is bad input."""
    entry = data["models"].get(key)
    if entry is None:
        have = ", ".join(data["models"]) or "none"
        raise BadInputError(
            f"model {key!r} is not in {where} (it has: {have}); add it with {setting('update_baseline')}")
    return entry


def _check_same_input(entry, key: str, where: str, input_shape, dtype) -> None:
    """Refuse an expected input shape or dtype other than the baseline's: such counts are not comparable."""
    from effkit.units import dtype_name, parse_dtype, parse_shape

    base_shape, base_dtype = tuple(entry["input_shape"]), entry["dtype"]
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
                f"comparable: drop {setting('dtype')} or make a baseline for that dtype")


def _compare_totals(base_totals, cur_totals, metrics, tol: Tolerance):
    """(totals DataFrame, regression lines, improvement lines): the verdict of each metric's total."""
    import pandas as pd

    rows, regressions, improvements = [], [], []
    for m in metrics:
        base, cur = int(base_totals[m]), int(cur_totals[m])
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
    return pd.DataFrame(rows, columns=TOTALS_COLUMNS), regressions, improvements


def _notes(data, entry, current, *, changed: bool) -> list[str]:
    """Other things worth knowing: uncounted ops that differ, a baseline made by other tool versions."""
    notes = []
    if entry.get("uncounted", {}) != current["uncounted"]:
        notes.append(f"ops without a formula differ: baseline {entry.get('uncounted') or 'none'}, "
                     f"now {current['uncounted'] or 'none'}")
    now = versions()
    for k, label in (("effkit_version", "effkit"), ("torch_version", "torch")):
        if data.get(k) and data[k] != now[k] and changed:
            notes.append(f"the baseline was made with {label} {data[k]}, this is {now[k]}: "
                         "a changed count may come from the tool rather than the model")
    return notes


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
