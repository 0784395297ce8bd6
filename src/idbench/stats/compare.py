"""Paired method comparisons on shared subjects: difference, interval, permutation p-value, Holm.

For methods A and B and one metric, the unit is the subject (images of one subject are not
independent): d_s = mean_A(s) - mean_B(s) over subjects both methods have. Then

* diff = mean over subjects of d_s, with a bootstrap percentile interval over subjects;
* p = two-sided paired sign-flip permutation test of mean(d) (exact enumeration up to 2^16
  sign patterns, else Monte Carlo with the (k + 1) / (n + 1) correction);
* effect size = mean(d) / sd(d) (Cohen's d_z);
* Holm's step-down correction over all pairs of one metric.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


def sign_flip_pvalue(d: np.ndarray, *, n_resamples: int = 10000, seed: int = 0, exact_limit: int = 16) -> float:
    """Two-sided p-value of H0: the paired differences ``d`` are symmetric around 0.

    >>> sign_flip_pvalue(np.array([1.0, 2.0, 3.0]))   # exact: only the all-+ and all-- patterns reach |mean| = 2
    0.25
    """
    d = np.asarray(d, np.float64)
    d = d[~np.isnan(d)]
    n = len(d)
    if n == 0:
        return float("nan")
    obs = abs(d.mean())
    tol = 1e-12 * max(1.0, obs)
    if n <= exact_limit:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=n)))
        stats = np.abs(signs @ d / n)
        return float((stats >= obs - tol).mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice([1.0, -1.0], size=(n_resamples, n))
    stats = np.abs(signs @ d / n)
    return float(((stats >= obs - tol).sum() + 1) / (n_resamples + 1))


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN."""
    p = np.asarray(pvalues, np.float64)
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


@dataclass
class Comparison:
    metric: str
    a: str
    b: str
    diff: float
    ci_low: float
    ci_high: float
    p: float
    p_holm: float
    effect_size: float
    n_subjects: int


def compare_methods(subject_means: dict[str, dict[str, float]], metric: str, *, n_resamples: int = 10000,
                    confidence: float = 0.95, seed: int = 0) -> list[Comparison]:
    """All pairs of methods for one metric, from ``{method: {subject: mean}}``."""
    methods = sorted(subject_means)
    rows = []
    rng = np.random.default_rng(seed)
    for a, b in itertools.combinations(methods, 2):
        shared = sorted(set(subject_means[a]) & set(subject_means[b]))
        d = np.array([subject_means[a][s] - subject_means[b][s] for s in shared], np.float64)
        d = d[~np.isnan(d)]
        if len(d) == 0:
            continue
        idx = rng.integers(0, len(d), size=(n_resamples, len(d)))
        boots = d[idx].mean(axis=1)
        alpha = (1 - confidence) / 2
        lo, hi = np.quantile(boots, [alpha, 1 - alpha]) if len(d) > 1 else (d.mean(), d.mean())
        sd = d.std(ddof=1) if len(d) > 1 else float("nan")
        rows.append(Comparison(metric, a, b, float(d.mean()), float(lo), float(hi),
                               sign_flip_pvalue(d, n_resamples=n_resamples, seed=seed), float("nan"),
                               float(d.mean() / sd) if sd and sd > 0 else float("nan"), len(d)))
    for r, ph in zip(rows, holm([r.p for r in rows])):
        r.p_holm = ph
    return rows


def rank_with_ties(means: dict[str, float], comparisons: list[Comparison], *, higher_is_better: bool = True,
                   alpha: float = 0.05) -> list[tuple[int, str]]:
    """Methods ordered by mean; a method shares the rank of the one above it when their Holm-adjusted
    difference is not significant at ``alpha``."""
    sign = -1 if higher_is_better else 1
    order = sorted(means, key=lambda m: sign * means[m])
    pv = {frozenset((c.a, c.b)): c.p_holm for c in comparisons}
    out, rank = [], 1
    for i, m in enumerate(order):
        if i > 0 and not pv.get(frozenset((order[i - 1], m)), 0.0) >= alpha:
            rank = i + 1
        out.append((rank, m))
    return out
