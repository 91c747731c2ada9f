"""The benchmark predictor: achieved rates per op class, fitted to published throughput, and its honest errors.

Time per image is modelled as a sum over op classes (:mod:`effkit.prediction.opclasses`)::

    t = sum_c (flops_c · s_per_flop_c + bytes_c · s_per_byte_c) + kernels / batch · s_per_kernel

per image (flops and bytes of a batch divided by its size; a kernel is started once per batch). The terms
are non-negative (a class cannot run faster than free), so the fit is non-negative least squares
(:func:`scipy.optimize.nnls`, through :func:`effkit.prediction.nnls.fit_nnls`) in relative error, each
model weighing as much as any other however many input sizes it was run at. Each op's time under the fitted
rates is the sum of its three terms and the largest says what bound it, so a prediction explains itself
layer by layer.

Errors are out of sample: leave one *model* out (all its input sizes leave together) and leave one *family*
out (every model whose name starts alike: the test for a design the fit has never seen). Two baselines are
fitted on the same rows in the same run: a FLOPs power law (``log t = a + b·log flops``) and the best
log-linear fit on FLOPs, MAC and activations.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Mapping, Sequence

from effkit.prediction.opclasses import OP_CLASSES

#: The predictor's coefficients, in design-matrix order.
COEFFICIENTS = (*(f"s_per_flop_{c}" for c in OP_CLASSES), *(f"s_per_byte_{c}" for c in OP_CLASSES), "s_per_kernel")
#: The proxies the log-linear baseline may combine, per image.
BASELINE_PROXIES = ("flops", "mac", "activations")
#: A model within this relative error counts as predicted well.
WITHIN = 0.10


def design(rows):
    """Per-image features of each row, one column per :data:`COEFFICIENTS` entry (NumPy array)."""
    import numpy as np

    batch = rows["batch_size"].to_numpy(dtype=float)
    cols = [rows[f"{c}_flops"].to_numpy(dtype=float) / batch for c in OP_CLASSES]
    cols += [rows[f"{c}_bytes"].to_numpy(dtype=float) / batch for c in OP_CLASSES]
    kernels = sum(rows[f"{c}_kernels"].to_numpy(dtype=float) for c in OP_CLASSES)
    cols.append(kernels / batch)
    return np.nan_to_num(np.column_stack(cols), nan=0.0)


def model_weights(groups: Sequence[str]):
    """Weight ``1 / rows of its model`` per row, so that each model counts once."""
    import numpy as np

    g = np.asarray(groups)
    _, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


class RatesFit:
    """The predictor as a fit/predict pair over the design matrix (:func:`design`)."""

    name = "rates per op kind"

    def fit(self, X, y, w):
        from effkit.prediction.nnls import fit_nnls

        return fit_nnls(X, y, w, reweight=6)

    @staticmethod
    def predict(coef, X):
        return X @ coef


class LogLinearFit:
    """``log t = a + sum_j b_j · log proxy_j`` by least squares (:func:`scipy.linalg.lstsq`)."""

    def __init__(self, columns: Sequence[int], names: Sequence[str]):
        self.columns = list(columns)
        words = {"flops": "FLOPs", "mac": "MAC"}
        names = [words.get(n, n) for n in names]
        self.name = "log-linear on " + " + ".join(names) if len(names) > 1 else f"{names[0]} power law"

    def _a(self, P):
        import numpy as np

        return np.column_stack([np.ones(len(P)), np.log(P[:, self.columns])])

    def fit(self, P, y, w):
        import numpy as np
        from scipy.linalg import lstsq

        sw = np.sqrt(w)
        return lstsq(self._a(P) * sw[:, None], np.log(y) * sw)[0]

    def predict(self, coef, P):
        import numpy as np

        return np.exp(self._a(P) @ coef)


def cross_validate(fitter, X, y, groups: Sequence[str], w=None):
    """Predictions of every row by a fit without its group (``groups``: model or family per row)."""
    import numpy as np

    g = np.asarray(groups)
    w = model_weights(g) if w is None else w
    pred = np.full(len(y), math.nan)
    for key in np.unique(g):
        test = g == key
        if test.all():  # one group only: nothing left to fit, no out-of-sample prediction
            continue
        coef = fitter.fit(X[~test], y[~test], w[~test])
        pred[test] = fitter.predict(coef, X[test])
    return pred


def error_summary(pred, y, models: Sequence[str]) -> dict[str, float]:
    """``median_abs_error`` and ``within_10pct`` over models (a model's error: the median |error| of its rows),
    and the same over rows."""
    import numpy as np
    import pandas as pd

    err = np.abs(np.asarray(pred) / np.asarray(y) - 1.0)
    per_model = pd.Series(err).groupby(np.asarray(models)).median().dropna()
    err = err[np.isfinite(err)]
    if len(err) == 0:
        return dict.fromkeys(("median_abs_error", "within_10pct", "rows_median_abs_error", "rows_within_10pct"),
                             math.nan)
    return {"median_abs_error": float(per_model.median()), "within_10pct": float((per_model <= WITHIN).mean()),
            "rows_median_abs_error": float(np.median(err)), "rows_within_10pct": float((err <= WITHIN).mean())}


def proxy_matrix(rows, names: Sequence[str] = BASELINE_PROXIES):
    """Per-image proxies (columns ``names``) of each row; params stay per model."""
    import numpy as np

    batch = rows["batch_size"].to_numpy(dtype=float)
    return np.column_stack([rows[n].to_numpy(dtype=float) / (1.0 if n == "params" else batch) for n in names])


def baselines(rows, y, models: Sequence[str], families: Sequence[str]) -> dict[str, Any]:
    """The FLOPs power law and the best log-linear fit on FLOPs, MAC and activations (by leave-one-model-out),
    each with its leave-one-model-out and leave-one-family-out errors and its in-sample predictions."""
    import numpy as np

    P = proxy_matrix(rows)
    ok = (P > 0).all(axis=1)
    if not ok.all():  # a proxy of 0 has no logarithm: such rows get the median prediction of their fit
        P = np.where(P > 0, P, np.nanmin(np.where(P > 0, P, np.inf), axis=0))
    out: dict[str, Any] = {}
    best = None
    for k in range(1, len(BASELINE_PROXIES) + 1):
        for cols in itertools.combinations(range(len(BASELINE_PROXIES)), k):
            fitter = LogLinearFit(cols, [BASELINE_PROXIES[c] for c in cols])
            loo = error_summary(cross_validate(fitter, P, y, models), y, models)
            if cols == (0,):
                out["flops_power_law"] = _baseline_entry(fitter, loo, P, y, models, families)
            if best is None or loo["median_abs_error"] < best[1]["median_abs_error"]:
                best = (fitter, loo)
    fitter, loo = best
    out["best_log_linear"] = _baseline_entry(fitter, loo, P, y, models, families)
    return out


def _baseline_entry(fitter, loo, P, y, models, families) -> dict[str, Any]:
    lofo = error_summary(cross_validate(fitter, P, y, families, model_weights(models)), y, models)
    return {"name": fitter.name, "loo_median_abs_error": loo["median_abs_error"],
            "loo_within_10pct": loo["within_10pct"], "lofo_median_abs_error": lofo["median_abs_error"]}


def fit_rates(X, y, models: Sequence[str]):
    """The predictor's coefficients (:data:`COEFFICIENTS`) fitted to all rows."""
    return RatesFit().fit(X, y, model_weights(models))


def rates_dict(coef) -> dict[str, float]:
    return {name: float(c) for name, c in zip(COEFFICIENTS, coef)}


def class_rates(coef) -> dict[str, dict[str, float]]:
    """``{class: {"s_per_flop", "s_per_byte"}}`` from a coefficient vector."""
    d = rates_dict(coef)
    return {c: {"s_per_flop": d[f"s_per_flop_{c}"], "s_per_byte": d[f"s_per_byte_{c}"]} for c in OP_CLASSES}


def coefficients_of(rates: Mapping[str, Mapping[str, float]], s_per_kernel: float):
    """The coefficient vector of :func:`class_rates` and a per-kernel cost."""
    import numpy as np

    return np.array([*(rates[c]["s_per_flop"] for c in OP_CLASSES), *(rates[c]["s_per_byte"] for c in OP_CLASSES),
                     s_per_kernel])


Fitter = Callable[..., Any]
