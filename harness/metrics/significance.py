"""Tests at the level of the randomness, and their correction for multiplicity. No I/O.

A trained model's score varies with its training seed; a comparison of two training recipes is a
comparison of seed samples, not of one pair of models. Per seed the paired difference of the two
recipes' scores (models of one seed share their data order), then a t-test over seeds
(`seed_test`). Against a model that was not trained (the base), a one-sample t-test of the seeds'
scores against its score. Every p-value of one table is then corrected with Holm's step-down
method (`holm`), which controls the family-wise error rate without assuming independence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the order given: sorted ascending, the i-th (from 0) of m is
    multiplied by m - i, made non-decreasing, capped at 1 (statsmodels' `multipletests(method="holm")`)."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def seed_test(a: Sequence[float], b: Sequence[float] | float, *, margin: float = 0.0, alternative: str = "two-sided") -> dict:
    """t-test over seeds of mean(a - b) against `margin`: `a` and `b` paired by seed, or `b` one
    number (a model trained once, or not at all). `alternative` as scipy's ("greater": a - b > margin).
    Returns n, the mean difference, its standard deviation over seeds, the 95% interval and p."""
    from scipy import stats

    a = np.asarray(a, dtype=float)
    d = a - (np.asarray(b, dtype=float) if not np.isscalar(b) else float(b))
    n = len(d)
    out = {"n_seeds": n, "diff": float(d.mean()) if n else math.nan, "sd": float(d.std(ddof=1)) if n > 1 else math.nan}
    if n < 2 or not np.isfinite(d).all() or np.ptp(d) == 0:  # no spread over seeds: t is undefined
        return {**out, "low": math.nan, "high": math.nan, "p": math.nan}
    result = stats.ttest_1samp(d, margin, alternative=alternative)
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
    return {**out, "low": float(d.mean() - half), "high": float(d.mean() + half), "p": float(result.pvalue)}
