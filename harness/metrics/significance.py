"""Tests at the level of the randomness, and their correction for multiplicity. No I/O.

A trained model's score varies with its training seed; a comparison of two training recipes is a
comparison of seed samples, not of one pair of models. Per seed the paired difference of the two
recipes' scores (models of one seed share their data order), then a t-test over seeds
(`seed_test`). Against a model that was not trained (the base), a one-sample t-test of the seeds'
scores against its score. Every p-value of one table is then corrected with Holm's step-down
method (`holm`), which controls the family-wise error rate without assuming independence.

Across queries (the leaderboard's significance view, the experiment's second line): a two-sided
paired randomization (sign-flip) test of the mean difference, on per-query values that `seed_mean`
averages over seeds where a recipe was trained more than once.

Under the null hypothesis the two models are exchangeable on every query, so each per-query
difference is equally likely to carry either sign. The p-value is the share of sign assignments
whose |mean difference| is at least the observed one: exact (all 2^n assignments) when
2^n <= N_PERMUTATIONS, else N_PERMUTATIONS random assignments drawn with a fixed SEED and
counted as (hits + 1) / (N_PERMUTATIONS + 1), so a build is reproducible to the byte.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

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



N_PERMUTATIONS = 10_000
SEED = 0
ALPHA = 0.05
_CHUNK = 2_000


def randomization_test(a: Sequence[float], b: Sequence[float], *, n_permutations: int = N_PERMUTATIONS, seed: int = SEED) -> float:
    """Two-sided p-value for mean(a - b) != 0, a and b paired by position (one value per query)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(randomization_tests(d[None, :], n_permutations=n_permutations, seed=seed)[0])


def randomization_tests(d: np.ndarray, *, n_permutations: int = N_PERMUTATIONS, seed: int = SEED) -> np.ndarray:
    """The test for many comparisons on the same queries at once: one row of per-query differences
    per comparison, one p-value each. Every row sees the same sign assignments, so each p-value equals
    the one `randomization_test` gives for that row alone."""
    d = np.atleast_2d(np.asarray(d, dtype=float))
    p, n = d.shape
    if n == 0:
        return np.ones(p)
    observed = np.abs(d.mean(axis=1))
    # Relative tolerance so that sign patterns equal to the observed one up to rounding count as hits.
    threshold = observed - 1e-9 * np.maximum(observed, np.abs(d).max(axis=1) / n)
    if n < 63 and 2**n <= n_permutations:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2.0 - 1.0
        return np.mean(np.abs(signs @ d.T) / n >= threshold, axis=0)
    rng = np.random.default_rng(seed)
    hits, left = np.zeros(p, dtype=np.int64), n_permutations
    while left:
        size = min(_CHUNK, left)
        signs = rng.integers(0, 2, size=(size, n)) * 2.0 - 1.0
        hits += np.count_nonzero(np.abs(signs @ d.T) / n >= threshold, axis=0)
        left -= size
    return (hits + 1) / (n_permutations + 1)


def compare(a: Mapping[str, float], b: Mapping[str, float], **options) -> dict | None:
    """Paired comparison of two models' per-query values on the queries both scored (None if none)."""
    qids = sorted(set(a) & set(b))
    if not qids:
        return None
    va = np.array([a[q] for q in qids], dtype=float)
    vb = np.array([b[q] for q in qids], dtype=float)
    return {
        "n": len(qids),
        "mean_a": float(va.mean()),
        "mean_b": float(vb.mean()),
        "diff": float((va - vb).mean()),
        "p": randomization_test(va, vb, **options),
    }


def compare_all(values: Sequence[Mapping[str, float]], pairs: Sequence[tuple[int, int]], **options) -> dict[tuple[int, int], dict]:
    """`compare` for many (i, j) pairs of per-query value maps, batched by shared query set: the
    same numbers as calling `compare(values[i], values[j])` for each pair, in far less time."""
    batches: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for i, j in pairs:
        qids = tuple(sorted(set(values[i]) & set(values[j])))
        if qids:
            batches.setdefault(qids, []).append((i, j))
    out = {}
    for qids, members in batches.items():
        va = np.array([[values[i][q] for q in qids] for i, _ in members], dtype=float)
        vb = np.array([[values[j][q] for q in qids] for _, j in members], dtype=float)
        ps = randomization_tests(va - vb, **options)
        for k, pair in enumerate(members):
            out[pair] = {"n": len(qids), "mean_a": float(va[k].mean()), "mean_b": float(vb[k].mean()),
                         "diff": float((va[k] - vb[k]).mean()), "p": float(ps[k])}
    return out


def seed_mean(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per-query values averaged over seeds, on the queries every seed scored (what the per-query
    tests compare when a recipe was trained with several seeds)."""
    qids = set.intersection(*(set(p) for p in per_query))
    return {q: statistics.fmean(p[q] for p in per_query) for q in qids}
