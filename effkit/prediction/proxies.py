"""The proxy scoreboard: how well each cheap number predicts measured latency and energy.

Within one group of comparable measurements (one machine, batch size, dtype and input size; the latest
successful row per model), each proxy's Spearman (rank) and Pearson (linear) correlation with the measured
latency and, where measured, with J/img. A rank correlation of 1 means the proxy orders the models exactly
as the hardware does; that is what choosing between models needs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Sequence

from effkit.errors import BadInputError, EffkitError, setting
from effkit.prediction.calibrate import Calibration
from effkit.prediction.correlation import correlations  # noqa: F401 - re-exported
from effkit.trust import trusted_rows

#: Static proxies, scored when the column is present (``mac_fused`` once the analysis provides it).
STATIC_PROXIES = ("params", "mult_adds", "flops", "paper_mac", "mac", "mac_fused", "activations")
#: Predicted latencies, scored when a device's peaks / a calibration are known for the group.
PREDICTED_PROXIES = ("roofline_latency_ms", "calibrated_latency_ms")
PROXIES = (*STATIC_PROXIES, *PREDICTED_PROXIES)
#: What the proxies are scored against.
TARGETS = ("latency_ms", "energy_j_per_img")
#: What makes measurements comparable.
GROUP_KEYS = ("machine_id", "batch_size", "dtype", "input_shape")
#: Below this many models a correlation says little (with 3 points a rank correlation of 1 happens by chance
#: one time in six).
MIN_MODELS = 4
SCORE_COLUMNS = ["machine_id", "machine", "batch_size", "dtype", "input_shape", "target", "proxy", "spearman",
                 "pearson", "n_models", "models", "note"]

OpTable = Callable[[str, tuple, str], Any]


def _num(series):
    import pandas as pd

    return pd.to_numeric(series, errors="coerce")


def comparable_rows(results, *, machine: str | None = None, batch_size: int | None = None,
                    dtype: str | None = None, include_untrusted: bool = False):
    """Successful rows after the filters, the latest per (group, model), without the rows effkit does not
    trust unless ``include_untrusted`` (see :func:`effkit.trust.trusted_rows`); ``(rows, notes)``.

    Raises:
        BadInputError: no ``model`` / ``latency_ms`` column, or nothing left after filtering.
    """
    import pandas as pd

    from effkit.units import dtype_name, parse_dtype

    if not isinstance(results, pd.DataFrame) or results.empty:
        raise BadInputError("no measurements to score the proxies against")
    missing = [c for c in ("model", "latency_ms") if c not in results.columns]
    if missing:
        raise BadInputError(f"the measurements lack column(s) {', '.join(missing)}; they need model, latency_ms "
                            f"and proxy columns ({', '.join(STATIC_PROXIES[:5])} ...), as the results store has")
    if not any(p in results.columns for p in STATIC_PROXIES):
        raise BadInputError(f"the measurements have no proxy column ({', '.join(STATIC_PROXIES)})")
    df = results.copy()
    notes: list[str] = []
    for key in GROUP_KEYS:
        if key not in df.columns:
            df[key] = "?"
            notes.append(f"the measurements have no {key} column: all rows treated as one {key}")
    if "status" in df.columns:
        df = df[df["status"].astype(str).str.lower() == "ok"]
    df["dtype"] = df["dtype"].astype(str).map(_dtype_or_text)
    if machine is not None:
        df = df[df["machine_id"].astype(str).str.startswith(str(machine))]
    if batch_size is not None:
        df = df[_num(df["batch_size"]) == batch_size]
    if dtype is not None:
        df = df[df["dtype"] == dtype_name(parse_dtype(dtype))]
    df = df[_num(df["latency_ms"]) > 0]
    if df.empty:
        asked = ", ".join(f"{setting(k)} {v}" for k, v in (("machine", machine), ("batch_size", batch_size),
                                                          ("dtype", dtype)) if v is not None)
        raise BadInputError("no successful measurement with a latency" + (f" matches {asked}" if asked else ""),
                            field="machine" if machine else None)
    if "timestamp" in df.columns:
        df = df.sort_values("timestamp", kind="stable")
    if "batch_size" in results.columns:
        df["batch_size"] = _num(df["batch_size"]).astype("Int64")
    keys = [*GROUP_KEYS, "model"]
    latest = df.drop_duplicates(keys, keep="last")
    if len(latest) < len(df):
        notes.append(f"{len(df) - len(latest)} older repeat measurement(s) left out (the latest per model is used)")
    latest, doubts = trusted_rows(latest, include_untrusted=include_untrusted)
    notes += doubts
    if latest.empty:
        raise BadInputError("every measurement left is one effkit does not trust (" + "; ".join(doubts) + ")",
                            field="include_untrusted")
    return latest.reset_index(drop=True), notes


def _dtype_or_text(text: str) -> str:
    from effkit.units import dtype_name, parse_dtype

    try:
        return dtype_name(parse_dtype(text))
    except BadInputError:
        return text


def default_op_table(model: str, shape: tuple, dtype: str):
    """Per-op prediction features of a model from its static analysis."""
    from effkit.analysis.profile import UncountedOpsWarning, profile
    from effkit.prediction.roofline import op_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncountedOpsWarning)
        prof = profile(model, shape, dtype, warn=False)
    return op_features(prof.ops)[0]


def _group_peaks(group, device_spec, peak_tflops, bandwidth_gbs, launch_overhead_us):
    """The peaks to predict a group's roofline with, or ``(None, why)``."""
    from effkit.prediction.roofline import device_peaks

    dtype = str(group["dtype"].iloc[0])
    gpus = sorted({str(g) for g in group.get("gpu_name", []) if isinstance(g, str) and g.strip()})
    if device_spec is None and (peak_tflops is None or bandwidth_gbs is None):
        if len(gpus) != 1:
            return None, ("no roofline: no peaks known for a CPU; give "
                          f"{setting('device_spec')} or {setting('peak_tflops')} and {setting('bandwidth_gbs')}")
        try:
            return device_peaks(gpu_name=gpus[0], dtype=dtype, peak_tflops=peak_tflops,
                                bandwidth_gbs=bandwidth_gbs, launch_overhead_us=launch_overhead_us), ""
        except BadInputError as e:
            return None, f"no roofline: {e}"
    return device_peaks(device_spec, dtype=dtype, peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs,
                        launch_overhead_us=launch_overhead_us), ""


def _calibration_for(group, calibrations: Sequence[Calibration]) -> Calibration | None:
    mid, dtype = str(group["machine_id"].iloc[0]), str(group["dtype"].iloc[0])
    mine = [c for c in calibrations if c.machine_id == mid and c.dtype == dtype]
    return mine[-1] if mine else None


def add_predictions(group, *, peaks, calibration: Calibration | None, op_table: OpTable):
    """``group`` with ``roofline_latency_ms`` / ``calibrated_latency_ms`` per model where they can be predicted."""
    from effkit.prediction.api import calibrated_times
    from effkit.prediction.roofline import roofline_times
    from effkit.store import input_shape_of

    roof, calib, failed = [], [], []
    for rec in group.to_dict(orient="records"):
        r = c = math.nan
        if peaks is not None or calibration is not None:
            try:
                feats = op_table(str(rec["model"]), input_shape_of(rec), str(rec["dtype"]))
            except EffkitError:
                feats = None  # a model this effkit cannot build (another machine's file, say): its cells stay empty
                failed.append(str(rec["model"]))
            if feats is not None:
                if peaks is not None:
                    r = float(roofline_times(feats, peaks)["time_s"].sum() * 1e3)
                if calibration is not None:
                    c = float(calibrated_times(feats, calibration)["time_s"].sum() * 1e3)
        roof.append(r)
        calib.append(c)
    out = group.copy()
    out["roofline_latency_ms"] = roof
    out["calibrated_latency_ms"] = calib
    return out, failed


def proxy_groups(results, *, machine: str | None = None, batch_size: int | None = None, dtype: str | None = None,
                 calibrations: Calibration | Sequence[Calibration] | None = None, device_spec: str | None = None,
                 peak_tflops: float | None = None, bandwidth_gbs: float | None = None,
                 launch_overhead_us: float | None = None, op_table: OpTable | None = None,
                 include_untrusted: bool = False):
    """The comparable groups of :func:`proxies`, each with its predicted-latency columns added.

    Returns:
        ``([(label, rows), ...], notes)``: ``label`` maps :data:`GROUP_KEYS` to the group's values; groups
        with a single model are left out (and named in ``notes``).
    """
    from effkit.prediction.calibrate import cached

    rows, notes = comparable_rows(results, machine=machine, batch_size=batch_size, dtype=dtype,
                                  include_untrusted=include_untrusted)
    cals = [calibrations] if isinstance(calibrations, Calibration) else list(calibrations or [])
    machines = set(rows["machine_id"].astype(str))
    for cal in cals:
        if cal.machine_id not in machines:
            raise BadInputError(
                f"calibration {cal.machine_id} comes from another machine than the measurements "
                f"({', '.join(sorted(machines))}); calibrate from these measurements first", field="calibration")
    table = cached(op_table or default_op_table)
    launch = launch_overhead_us  # None: the device table's, else the default
    groups = []
    singles = []
    for key, group in rows.groupby(list(GROUP_KEYS), sort=False, dropna=False):
        label = dict(zip(GROUP_KEYS, key))
        if group["model"].nunique() < 2:
            singles.append(f"{group['model'].iloc[0]} ({_group_text(label)})")
            continue
        peaks, why = _group_peaks(group, device_spec, peak_tflops, bandwidth_gbs, launch)
        if why:
            notes.append(f"{_group_text(label)}: {why}")
        group, failed = add_predictions(group, peaks=peaks, calibration=_calibration_for(group, cals),
                                        op_table=table)
        if failed:
            notes.append(f"{_group_text(label)}: no prediction for {', '.join(failed)} (cannot be analysed here)")
        groups.append((label, group.reset_index(drop=True)))
    if singles:
        notes.append("left out groups with a single model: " + "; ".join(singles))
    if not groups:
        raise BadInputError(
            "every group of comparable measurements holds one model only (" + "; ".join(singles) + "); measure "
            f"at least {MIN_MODELS} models on one machine at the same batch size, dtype and input size",
            field="machine")
    return groups, notes


def proxies(results=None, *, machine: str | None = None, batch_size: int | None = None, dtype: str | None = None,
            calibrations: Calibration | Sequence[Calibration] | None = None, device_spec: str | None = None,
            peak_tflops: float | None = None, bandwidth_gbs: float | None = None,
            launch_overhead_us: float | None = None, op_table: OpTable | None = None,
            include_untrusted: bool = False, benchmark=None, features_table=None, device: str | None = None):
    """Score each proxy against the measurements: one row per (group, target, proxy).

    With ``benchmark`` (a throughput file, see :mod:`effkit.prediction.benchmark`) instead of ``results``:
    each proxy and the predictor's leave-one-model-out prediction against the file's time per image, over
    all rows and per model family (:func:`effkit.prediction.scoreboard.benchmark_proxies`; ``features_table``,
    ``dtype`` and ``device`` go with it).

    Args:
        results: measurements with the results store's columns (``model``, ``latency_ms``, proxy columns,
            ``machine_id``, ``batch_size``, ``dtype``, ``input_shape``, ``energy_j_per_img``...).
        machine, batch_size, dtype: keep only these measurements (machine: id or prefix).
        calibrations: calibrations to score the calibrated prediction with; each must belong to a machine
            in the results.
        device_spec, peak_tflops, bandwidth_gbs: peaks for the roofline prediction (default: the device
            table's entry for the GPU a group ran on; none for CPUs).
        launch_overhead_us: the roofline's cost per kernel.
        op_table: ``(model, input_shape, dtype) -> per-op features`` (default: the static analysis).
        include_untrusted: keep the rows effkit does not trust (a busy machine, noisy timing ...; see
            :mod:`effkit.trust`); by default they are left out and a note counts them.

    Returns:
        A DataFrame with :data:`SCORE_COLUMNS`; ``attrs["notes"]`` says what was left out. ``note`` flags
        groups with fewer than :data:`MIN_MODELS` models.

    Raises:
        BadInputError: missing columns, nothing left after filtering, only single-model groups, or a
            calibration from a machine not in the results.
    """
    import pandas as pd

    if benchmark is not None:
        from effkit.prediction.scoreboard import benchmark_proxies

        return benchmark_proxies(benchmark, features=features_table, dtype=dtype, device=device)
    groups, notes = proxy_groups(results, machine=machine, batch_size=batch_size, dtype=dtype,
                                 calibrations=calibrations, device_spec=device_spec, peak_tflops=peak_tflops,
                                 bandwidth_gbs=bandwidth_gbs, launch_overhead_us=launch_overhead_us,
                                 op_table=op_table, include_untrusted=include_untrusted)
    scores = [s for label, group in groups for s in score_group(group, label)]
    out = pd.DataFrame(scores, columns=SCORE_COLUMNS)
    out.attrs["notes"] = notes
    return out


def _group_text(label: dict) -> str:
    return (f"machine {label['machine_id']}, batch {label['batch_size']}, {label['dtype']}, "
            f"input {label['input_shape']}")


def _machine_name(group) -> str:
    for col in ("gpu_name", "cpu_model", "device"):
        if col in group.columns:
            vals = [v for v in group[col] if isinstance(v, str) and v.strip()]
            if vals:
                return vals[-1]
    return "?"


def score_group(group, label: dict) -> list[dict]:
    """The scores of one group's rows (see :func:`proxies`)."""
    models = list(group["model"].astype(str))
    out = []
    for target in TARGETS:
        if target not in group.columns:
            continue
        y = _num(group[target])
        if y.notna().sum() < 2:
            continue
        for proxy in PROXIES:
            if proxy not in group.columns or _num(group[proxy]).notna().sum() < 2:
                continue
            rho, r, n = correlations(_num(group[proxy]), y)
            used = [m for m, a, b in zip(models, _num(group[proxy]), y) if a == a and b == b]
            note = f"only {n} models: the correlation means little" if n < MIN_MODELS else ""
            out.append({**label, "machine": _machine_name(group), "target": target, "proxy": proxy,
                        "spearman": rho, "pearson": r, "n_models": n, "models": ", ".join(used), "note": note})
    return out
