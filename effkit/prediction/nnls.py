"""Non-negative least squares in ratio terms: the solver behind every calibration (a leaf: SciPy and NumPy only)."""

from __future__ import annotations

from effkit.errors import BadInputError


def fit_nnls(X, y, weights=None, *, reweight: int = 10):
    """Non-negative coefficients ``c`` with ``X @ c ≈ y``, fitted in ratio terms.

    The first pass is least squares in relative error, ``sum(w·((p - y) / y)^2)`` with ``p = X @ c``. Relative
    error punishes a prediction too high without bound but one too low by at most 1, so when points disagree
    (noisy timings) that pass leans low. The reweighted passes weight each point by ``w / (y·p)`` instead
    (``p`` from the pass before), which treats a factor too high and a factor too low alike; at their fixed
    point ``sum(w·(p/y - 1)·x_j / p) = 0`` for every coefficient in use — with one coefficient, the ratios
    ``p/y`` average to 1. Exact data is fitted exactly by either.

    Columns are scaled to a unit maximum before solving (FLOPs are ~1e9, kernels ~1e2: unscaled, the solver
    would lose the small ones), then the coefficients are scaled back.
    """
    import numpy as np

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    if len(y) == 0:
        raise BadInputError("nothing to fit: no measured points")
    if (y <= 0).any() or not np.isfinite(y).all():
        raise BadInputError("measured values to fit must be positive numbers")
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    Xs = X / scale
    row = np.sqrt(w) / y
    coef = nnls(Xs * row[:, None], y * row)
    for _ in range(reweight):
        # a point predicted at ~0 would take an unbounded weight: floor its prediction at 1/1000 of the truth
        p = np.maximum(Xs @ coef, 1e-3 * y)
        row = np.sqrt(w / (y * p))
        new = nnls(Xs * row[:, None], y * row)
        done = np.allclose(new, coef, rtol=1e-9, atol=0.0)
        coef = new
        if done:
            break
    return coef / scale


def nnls(A, b):
    """``argmin ||A x - b||`` subject to ``x >= 0`` (:func:`scipy.optimize.nnls`, Lawson and Hanson's method)."""
    from scipy.optimize import nnls as scipy_nnls

    return scipy_nnls(A, b)[0]
