"""Rank and linear correlation of a proxy with what was measured (a leaf: NumPy and SciPy only)."""

from __future__ import annotations

import math
from typing import Sequence


def correlations(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """(Spearman, Pearson, n) over the pairs where both are numbers; NaN with fewer than 2 or a constant side.

    Spearman's rho (:func:`scipy.stats.spearmanr`: ties share their mean rank) and Pearson's r
    (:func:`scipy.stats.pearsonr`).
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, n
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic), float(stats.pearsonr(x, y).statistic), n
