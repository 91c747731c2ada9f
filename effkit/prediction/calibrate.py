"""Fitting a device's achieved rates to stored measurements, by non-negative least squares.

The calibrated model is additive per op: ``time = s_per_flop[kind]·flops + s_per_byte·bytes + s_per_kernel``,
one coefficient per op kind (conv, matmul, vector), one for traffic and one per kernel launched. Summed over
a model's ops it is linear in five whole-model features, so whole-model latencies (and per-layer timings,
where a ``per_layer`` run stored them) fit it with :func:`scipy.optimize.nnls`: no rate can come out
negative. Each point is divided by its measured time, so the fit minimises *relative* error and a 2 ms
model counts as much as a 200 ms one. Energy gets the same treatment:
``J per batch = idle_w·time + j_per_flop·flops + j_per_byte·bytes``.

The inverse coefficients are the achieved rates (FLOP/s per op kind, bytes/s); divided by a device's
peaks they are the achieved fractions of peak. Leave-one-model-out error says how well the fit predicts
a model it has not seen.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from effkit.errors import BadInputError, EffkitError, setting
from effkit.prediction.nnls import fit_nnls, nnls  # noqa: F401 - re-exported
from effkit.prediction.calibration import TIME_FEATURES, Calibration  # noqa: F401 - Calibration: re-exported
from effkit.prediction.roofline import OP_KINDS, layer_kind

#: The energy model's features: seconds per batch, FLOPs, bytes.
ENERGY_FEATURES = ("time_s", "flops", "bytes")
#: Fewest distinct models a calibration is fitted from, and fewest for a leave-one-model-out error.
MIN_MODELS = 2
MIN_MODELS_LOO = 3

Features = Callable[[str, tuple, str], Mapping[str, float]]


# ---------------------------------------------------------------------------------------------------- points


def profile_features(model: str, input_shape: Sequence[int], dtype: str) -> dict[str, float]:
    """Whole-model prediction features of ``model`` at ``input_shape`` and ``dtype``, from its static analysis."""
    import warnings

    from effkit.analysis.profile import UncountedOpsWarning, profile
    from effkit.prediction.roofline import kind_totals, op_features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncountedOpsWarning)
        prof = profile(model, tuple(input_shape), dtype, warn=False)
    feats, _ = op_features(prof.ops)
    return kind_totals(feats)


def cached(features: Features) -> Features:
    """``features`` (or any per-model function of the same arguments) computed once per (model, shape, dtype)."""
    memo: dict = {}

    def get(model, shape, dtype):
        key = (model, tuple(shape), dtype)
        if key not in memo:
            memo[key] = features(model, tuple(shape), dtype)
        return memo[key]

    return get


def model_points(rows, features: Features, notes: list[str] | None = None) -> list[dict]:
    """One point per whole-model measurement: its features, measured seconds and (where measured) J per batch.

    A model this effkit cannot analyse (a file from another machine, say) is left out and named in ``notes``.
    """
    from effkit.store import input_shape_of, upgrade_row

    pts = []
    for rec in map(upgrade_row, rows.to_dict(orient="records")):
        lat = _float(rec.get("latency_ms"))
        if not lat or lat <= 0:
            continue
        shape = input_shape_of(rec)
        try:
            feats = features(str(rec["model"]), shape, str(rec.get("dtype") or "float32"))
        except EffkitError as e:
            if notes is not None:
                notes.append(f"left out {rec['model']}: it cannot be analysed here ({e})")
            continue
        batch = int(rec.get("batch_size") or shape[0])
        gross = _float(rec.get("energy_j_per_img"))  # the headline J/img is gross (idle included)
        pts.append({"model": str(rec["model"]), "batch_size": batch, "time_s": lat / 1e3,
                    "energy_j": gross * batch if gross and gross > 0 else math.nan, **feats})
    return pts


def layer_points(rows) -> list[dict]:
    """One point per timed leaf layer of the per-layer measurements (``layers_json``), one kernel each."""
    import io

    import pandas as pd

    pts = []
    if "layers_json" not in rows.columns:
        return pts
    for rec in rows.to_dict(orient="records"):
        text = rec.get("layers_json")
        if not isinstance(text, str) or not text.strip():
            continue
        try:
            layers = pd.read_json(io.StringIO(text), orient="records")
        except ValueError as e:
            raise BadInputError(f"the per-layer measurements of {rec['model']} are not readable JSON: {e}") from e
        if not {"type", "flops", "mac_bytes", "latency_ms"} <= set(layers.columns):
            continue
        layers = layers[pd.to_numeric(layers["latency_ms"], errors="coerce") > 0]
        for lay in layers.to_dict(orient="records"):
            kind = layer_kind(lay["type"])
            p = {"model": str(rec["model"]), "time_s": float(lay["latency_ms"]) / 1e3, "bytes": float(lay["mac_bytes"]),
                 "kernels": 1.0, **{f"flops_{k}": 0.0 for k in OP_KINDS}}
            p[f"flops_{kind}"] = float(lay["flops"])
            pts.append(p)
    return pts


def _float(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


# ---------------------------------------------------------------------------------------------------- fitting


def _fit_time(model_pts: list[dict], lay_pts: list[dict]):
    """Time coefficients from whole-model points (weight 1 each) and per-layer points.

    A model's per-layer points together weigh as much as one whole-model point, so a model timed layer by
    layer (hundreds of points) does not drown the others; the layers pin down the per-kernel cost and the
    rates of op kinds that whole models mix.
    """
    import numpy as np

    per_model: dict[str, int] = {}
    for p in lay_pts:
        per_model[p["model"]] = per_model.get(p["model"], 0) + 1
    pts = [*model_pts, *lay_pts]
    X = np.array([[p[f] for f in TIME_FEATURES] for p in pts], dtype=float)
    y = np.array([p["time_s"] for p in pts], dtype=float)
    w = np.array([1.0] * len(model_pts) + [1.0 / per_model[p["model"]] for p in lay_pts])
    return fit_nnls(X, y, w)


def _fit_energy(model_pts: list[dict]):
    import numpy as np

    pts = [p for p in model_pts if p["energy_j"] == p["energy_j"]]
    if not pts:
        return None
    X = np.array([[p["time_s"], sum(p[f"flops_{k}"] for k in OP_KINDS), p["bytes"]] for p in pts])
    return fit_nnls(X, np.array([p["energy_j"] for p in pts]))


def _time_of(coef, p) -> float:
    return float(sum(c * p[f] for c, f in zip(coef, TIME_FEATURES)))


def leave_one_model_out(model_pts: list[dict], lay_pts: list[dict]) -> tuple[list[dict], list[float]]:
    """Refit without each model in turn and predict its whole-model rows.

    Returns:
        (time rows: model, batch_size, measured_ms, predicted_ms, error; energy errors where measured).
    """
    models = sorted({p["model"] for p in model_pts})
    rows: list[dict] = []
    energy_errors: list[float] = []
    for m in models:
        train = [p for p in model_pts if p["model"] != m]
        coef = _fit_time(train, [p for p in lay_pts if p["model"] != m])
        ecoef = _fit_energy(train)
        for p in (p for p in model_pts if p["model"] == m):
            pred = _time_of(coef, p)
            rows.append({"model": m, "batch_size": p["batch_size"], "measured_ms": p["time_s"] * 1e3,
                         "predicted_ms": pred * 1e3, "error": pred / p["time_s"] - 1.0})
            if ecoef is not None and p["energy_j"] == p["energy_j"]:
                flops = sum(p[f"flops_{k}"] for k in OP_KINDS)
                e_pred = ecoef[0] * pred + ecoef[1] * flops + ecoef[2] * p["bytes"]
                energy_errors.append(e_pred / p["energy_j"] - 1.0)
    return rows, energy_errors


def fit_calibration(model_pts: list[dict], lay_pts: list[dict], *, machine_id: str, dtype: str,
                    fingerprint: Mapping[str, Any] | None = None, notes: Sequence[str] = ()) -> Calibration:
    """A :class:`Calibration` from prediction points (see :func:`model_points`, :func:`layer_points`).

    Raises:
        BadInputError: fewer than :data:`MIN_MODELS` distinct models measured.
    """
    import numpy as np

    models = tuple(sorted({p["model"] for p in model_pts}))
    if len(models) < MIN_MODELS:
        raise BadInputError(
            f"a calibration needs whole-model measurements of at least {MIN_MODELS} models on machine "
            f"{machine_id} ({dtype}); found {len(models)} ({', '.join(models) or 'none'}): measure more models",
            field="machine")
    coef = _fit_time(model_pts, lay_pts)
    ecoef = _fit_energy(model_pts)
    notes = list(notes)
    loo: list[dict] = []
    energy_errors: list[float] = []
    if len(models) >= MIN_MODELS_LOO:
        loo, energy_errors = leave_one_model_out(model_pts, lay_pts)
    else:
        notes.append(f"no leave-one-model-out error: it needs at least {MIN_MODELS_LOO} models")
    energy = None
    energy_note = "no measurement with energy on this machine" if ecoef is None else ""
    if ecoef is not None:
        energy = {"idle_w": float(ecoef[0]), "j_per_flop": float(ecoef[1]), "j_per_byte": float(ecoef[2])}
    return Calibration(
        machine_id=machine_id, dtype=dtype, fingerprint=dict(fingerprint or {}),
        s_per_flop={k: float(c) for k, c in zip(OP_KINDS, coef)}, s_per_byte=float(coef[3]),
        s_per_kernel=float(coef[4]), energy=energy, energy_note=energy_note, models=models,
        points=len(model_pts), layer_points=len(lay_pts), loo=tuple(loo),
        loo_median_abs_error=float(np.median([abs(r["error"]) for r in loo])) if loo else math.nan,
        energy_loo_median_abs_error=float(np.median(np.abs(energy_errors))) if energy_errors else math.nan,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------------- selecting


FINGERPRINT_KEPT = ("gpu_name", "gpu_uuid", "cpu_model", "hostname", "torch_version", "device")


def pick_machine(results, machine: str | None) -> str:
    """The machine id meant: ``machine`` (whole or a unique prefix), else the only one in ``results``."""
    if "machine_id" not in results.columns:
        raise BadInputError("the measurements have no machine_id column: calibration needs to know the machine",
                            field="machine")
    ids = sorted({str(m) for m in results["machine_id"].dropna()})
    if machine is None:
        if len(ids) != 1:
            raise BadInputError(f"the measurements come from {len(ids)} machines ({', '.join(ids) or 'none'}); "
                                f"pick one with {setting('machine')}", field="machine")
        return ids[0]
    hits = [m for m in ids if m == machine] or [m for m in ids if m.startswith(machine)]
    if len(hits) != 1:
        what = "matches several" if hits else "matches none"
        raise BadInputError(f"machine {machine!r} {what} of the machines measured ({', '.join(ids) or 'none'})",
                            field="machine")
    return hits[0]


def calibrate(results=None, *, db=None, machine: str | None = None, dtype: str | None = None,
              use_layers: bool = True, save: bool = True, features: Features | None = None,
              include_untrusted: bool = False, benchmark=None, features_table=None, transfer_from=None,
              device: str | None = None) -> list[Calibration]:
    """Fit one machine's coefficients (one calibration per dtype measured) and store them.

    With ``benchmark`` (a throughput file: timm's, generic or effkit's export; see
    :mod:`effkit.prediction.benchmark`) the op-class predictor is fitted to that file instead
    (:func:`effkit.prediction.scoreboard.benchmark_calibration`): the one calibration returned carries its
    out-of-sample errors and baselines in ``scores``; ``features_table`` (default: the shipped one),
    ``transfer_from`` (another device's file, scored here through the device table's peaks), ``dtype`` and
    ``device`` (where the file does not say) go with it, and it is stored only in a ``db`` given.

    Args:
        results: measurements (a DataFrame with the results store's columns); default: read ``db``.
        db: the results database read (when ``results`` is not given) and written (``save``); without one
            the default store is read and nothing is written, as :func:`effkit.measure` stores nothing.
        machine: the machine id (or a unique prefix); needed when the results hold several machines.
        dtype: fit only this dtype.
        use_layers: also fit the per-layer timings stored by per-layer measurements.
        save: store the calibrations in ``db`` (table ``calibrations``), with the machine fingerprint; only
            when ``db`` is given.
        features: ``(model, input_shape, dtype) -> features`` (default: from the static analysis).
        include_untrusted: also fit the rows effkit does not trust (a busy machine, noisy timing ...; see
            :mod:`effkit.trust`); by default they are left out and a note on each calibration counts them.

    Raises:
        BadInputError: several machines and none picked, fewer than two models, nothing successful.
    """
    from effkit.units import dtype_name, parse_dtype

    if benchmark is not None:
        from effkit.prediction.scoreboard import benchmark_calibration

        cal, _ = benchmark_calibration(benchmark, features=features_table, dtype=dtype, device=device,
                                       transfer_from=transfer_from, db=db if save else None)
        return [cal]
    if results is None:
        from effkit.store import load_results

        results = load_results(db)  # the default store when db is None
    if results is None or results.empty:
        raise BadInputError("no measurements to calibrate from", field="db")
    mid = pick_machine(results, machine)
    rows = results[results["machine_id"].astype(str) == mid]
    if "status" in rows.columns:
        rows = rows[rows["status"].astype(str) == "ok"]
    from effkit.trust import trusted_rows

    rows, notes = trusted_rows(rows, include_untrusted=include_untrusted)
    if rows.empty and notes:
        raise BadInputError(f"no measurement of machine {mid} to calibrate from: {notes[0]}",
                            field="include_untrusted")
    if "cuda_graph" in rows.columns:
        graphed = rows["cuda_graph"].fillna(False).astype(bool)
        if graphed.any():
            notes.append(f"left out {int(graphed.sum())} CUDA-graph measurement(s): they launch no kernels one by one")
            rows = rows[~graphed]
    dts = rows["dtype"].astype(str).map(lambda d: dtype_name(parse_dtype(d))) if "dtype" in rows.columns else None
    want = dtype_name(parse_dtype(dtype)) if dtype else None
    feats = cached(features or profile_features)
    out = []
    for dt in sorted(set(dts)) if dts is not None else ["float32"]:
        if want and dt != want:
            continue
        part = rows[dts == dt] if dts is not None else rows
        fp = {k: _first(part, k) for k in FINGERPRINT_KEPT}
        dt_notes = list(notes)
        pts = model_points(part, feats, dt_notes)
        analysed = {p["model"] for p in pts}
        lay = [p for p in layer_points(part) if p["model"] in analysed] if use_layers else []
        cal = fit_calibration(pts, lay, machine_id=mid, dtype=dt, fingerprint=fp, notes=dt_notes)
        out.append(cal)
    if not out:
        raise BadInputError(f"no successful {want or ''} measurement on machine {mid} to calibrate from",
                            field="dtype" if want else "machine")
    if save and db is not None:
        from effkit.store.calibrations import save_calibration

        for cal in out:
            save_calibration(cal, db)
    return out


def _first(df, column: str):
    if column not in df.columns:
        return None
    vals = [v for v in df[column] if isinstance(v, str) and v.strip()]
    return vals[-1] if vals else None
