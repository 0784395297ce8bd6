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
from dataclasses import dataclass, field

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


def min_attainable_p(n_subjects: int) -> float:
    """The smallest two-sided p-value the exact paired sign-flip test can give with ``n_subjects``:
    2 / 2^n (only the all-plus and all-minus patterns reach the observed |mean|).

    >>> min_attainable_p(5)
    0.0625
    """
    return 1.0 if n_subjects <= 0 else min(1.0, 2.0 / 2.0 ** n_subjects)


def separable(n_subjects: int, n_pairs: int, alpha: float = 0.05) -> bool:
    """Whether any pair can reach significance after Holm over ``n_pairs`` pairs: the smallest
    Holm-adjusted p is n_pairs * min_attainable_p(n_subjects)."""
    return n_pairs >= 1 and n_pairs * min_attainable_p(n_subjects) < alpha


@dataclass
class Ranking:
    """Ranks of methods for one metric. ``ranks[m]`` = 1 + the number of methods significantly
    better than ``m`` (Holm-adjusted paired test); methods no test separates share a rank.
    ``ranked`` is False when no pair could reach significance at all (too few subjects), and
    ``why`` then says so; ``best`` is the method significantly better than every other, if any."""

    ranks: dict[str, int]
    ranked: bool
    best: str | None
    why: str = ""
    flagged: dict[str, str] = field(default_factory=dict)  # methods left out of the ranking, with the reason


def rank_methods(means: dict[str, float], comparisons: list[Comparison], *, higher_is_better: bool = True,
                 alpha: float = 0.05, flagged: dict[str, str] | None = None) -> Ranking:
    """Rank methods only as far as the corrected tests separate them.

    ``flagged`` (``{method: reason}``, e.g. methods whose images copy the references) are left out
    of the ranking: never ranked, never best.

    >>> c = [Comparison("m", "a", "b", 0.3, 0.1, 0.5, 0.01, 0.01, 1.0, 12)]
    >>> rank_methods({"a": 0.8, "b": 0.5}, c).ranks
    {'a': 1, 'b': 2}
    >>> r = rank_methods({"a": 0.8, "b": 0.5}, c, flagged={"a": "copies"})
    >>> r.ranks, r.best, r.flagged
    ({'b': 1}, None, {'a': 'copies'})
    """
    flagged = dict(flagged or {})
    methods = [m for m in means if m not in flagged]
    comparisons = [c for c in comparisons if c.a not in flagged and c.b not in flagged]
    if len(methods) < 2:
        return Ranking({m: 1 for m in methods}, False, None,
                       "one method: nothing to rank" + (" (the others are flagged)" if flagged else ""), flagged)
    n_subj = max((c.n_subjects for c in comparisons), default=0)
    n_pairs = len(comparisons)
    if not separable(n_subj, n_pairs, alpha):
        return Ranking({m: 1 for m in methods}, False, None,
                       f"not ranked: with {n_subj} shared subject(s) and {n_pairs} pair(s) the smallest attainable "
                       f"Holm-adjusted p is {min(1.0, n_pairs * min_attainable_p(n_subj)):.3g} >= alpha {alpha}", flagged)
    sign = 1 if higher_is_better else -1
    beats: dict[str, set[str]] = {m: set() for m in methods}
    for c in comparisons:
        if c.p_holm == c.p_holm and c.p_holm < alpha and c.a in beats and c.b in beats:
            winner, loser = (c.a, c.b) if sign * c.diff > 0 else (c.b, c.a)
            beats[winner].add(loser)
    ranks = {m: 1 + sum(m in beats[o] for o in methods) for m in methods}
    best = next((m for m in methods if beats[m] >= set(methods) - {m}), None)
    return Ranking(ranks, True, best, "" if best else "no method is significantly better than every other", flagged)


def rank_with_ties(means: dict[str, float], comparisons: list[Comparison], *, higher_is_better: bool = True,
                   alpha: float = 0.05) -> list[tuple[int, str]]:
    """``[(rank, method)]`` ordered by mean, ranks from :func:`rank_methods`."""
    r = rank_methods(means, comparisons, higher_is_better=higher_is_better, alpha=alpha)
    sign = -1 if higher_is_better else 1
    return [(r.ranks[m], m) for m in sorted(means, key=lambda m: (r.ranks[m], sign * means[m]))]
