"""Agreement of a metric with human ratings.

* Pearson r, Spearman rho, Kendall tau-b (scipy.stats);
* pairwise accuracy: the share of image pairs the metric orders like the humans, over pairs the
  humans do not tie (a metric tie on such a pair counts as half right);
* per method, Fisher-z averaged over methods (tanh of the mean of artanh r, as NearID does), and
  over all images pooled;
* Krippendorff's alpha (interval) between rater groups (the ``krippendorff`` package).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _stats():
    """scipy.stats, imported when a correlation is first computed (not when a results folder is read)."""
    from scipy import stats

    return stats


def pairwise_accuracy(metric: np.ndarray, human: np.ndarray) -> float:
    """Share of pairs (i, j) with h_i != h_j that the metric orders the same way (metric tie = 0.5)."""
    m = np.asarray(metric, float)
    h = np.asarray(human, float)
    dm = np.sign(m[:, None] - m[None, :])
    dh = np.sign(h[:, None] - h[None, :])
    iu = np.triu_indices(len(m), k=1)
    dm, dh = dm[iu], dh[iu]
    keep = dh != 0
    if not keep.any():
        return float("nan")
    score = np.where(dm[keep] == 0, 0.5, (dm[keep] == dh[keep]).astype(float))
    return float(score.mean())


def fisher_z_mean(rs) -> float:
    """tanh(mean(artanh r)) over finite r (clipped away from +-1)."""
    r = np.asarray([x for x in rs if np.isfinite(x)], float)
    if r.size == 0:
        return float("nan")
    return float(np.tanh(np.mean(np.arctanh(np.clip(r, -0.999999, 0.999999)))))


@dataclass
class Agreement:
    """A metric's agreement with the mean human score (None / NaN: undefined, see ``why``)."""

    pearson: float | None
    spearman: float | None
    kendall_tau_b: float | None
    pairwise_accuracy: float | None
    n: int
    why: str = ""  # why the correlations are missing, when they are


def agreement(metric, human) -> Agreement:
    """Correlations over the images where both are finite; missing (NaN) with ``why`` when they are
    undefined: fewer than 3 images, or a constant metric or constant ratings."""
    m = np.asarray(metric, float)
    h = np.asarray(human, float)
    ok = np.isfinite(m) & np.isfinite(h)
    m, h = m[ok], h[ok]
    nan = float("nan")
    if len(m) < 3:
        return Agreement(nan, nan, nan, nan, int(len(m)), f"{len(m)} rated image(s): correlations need at least 3")
    if np.ptp(h) == 0:
        return Agreement(nan, nan, nan, nan, int(len(m)), "every human rating is the same: correlations are undefined")
    if np.ptp(m) == 0:
        return Agreement(nan, nan, nan, pairwise_accuracy(m, h), int(len(m)),
                         "the metric is constant over the rated images: correlations are undefined")
    stats = _stats()
    return Agreement(float(stats.pearsonr(m, h)[0]), float(stats.spearmanr(m, h)[0]),
                     float(stats.kendalltau(m, h, variant="b")[0]), pairwise_accuracy(m, h), int(len(m)))


def agreement_by_method(metric, human, methods) -> dict:
    """Per method, Fisher-z mean over methods, and pooled."""
    metric, human, methods = (np.asarray(x) for x in (metric, human, methods))
    per = {str(k): agreement(metric[methods == k], human[methods == k]).__dict__ for k in sorted(set(methods.tolist()))}
    fz = {k: fisher_z_mean([p[k] for p in per.values()]) for k in ("pearson", "spearman", "kendall_tau_b")}
    return {"per_method": per, "fisher_z_mean": fz, "pooled": agreement(metric, human).__dict__}


def krippendorff_alpha_interval(ratings: np.ndarray) -> tuple[float, str]:
    """Krippendorff's alpha, interval level, and why it is missing (NaN) when it is undefined.
    ``ratings`` is (raters or groups) x items, NaN = missing. Alpha needs at least one item rated
    by two raters and more than one distinct rating value."""
    import krippendorff

    r = np.asarray(ratings, float)
    pairable = (np.isfinite(r).sum(axis=0) >= 2).sum() if r.ndim == 2 else 0
    if r.ndim != 2 or r.shape[0] < 2 or pairable == 0:
        return float("nan"), "no image is rated by two raters"
    vals = np.unique(r[np.isfinite(r)])
    if len(vals) < 2:
        return float("nan"), "every rating has the same value"
    return float(krippendorff.alpha(reliability_data=r, level_of_measurement="interval")), ""


# ----------------------------------------------------------------------------- is one metric better?


def williams_t(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' t for two dependent correlations that share variable 1 (the human score):
    ``r12`` and ``r13`` are the two metrics' correlations with it, ``r23`` theirs with each other
    (Williams 1959, as given by Steiger 1980, eq. 10); two-sided p on n - 3 degrees of freedom.

    .. math::
        t = (r_{12} - r_{13}) \\sqrt{\\frac{(n-1)(1+r_{23})}{2\\frac{n-1}{n-3}|R| + \\bar r^2 (1-r_{23})^3}},
        \\quad |R| = 1 - r_{12}^2 - r_{13}^2 - r_{23}^2 + 2 r_{12} r_{13} r_{23},\\ \\bar r = (r_{12}+r_{13})/2

    >>> t, p = williams_t(0.6, 0.6, 0.5, 50); (round(t, 6), round(p, 6))
    (0.0, 1.0)
    """
    if n <= 3:
        return float("nan"), float("nan")
    det = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
    rbar = (r12 + r13) / 2
    denom = 2 * (n - 1) / (n - 3) * det + rbar ** 2 * (1 - r23) ** 3
    if denom <= 0:
        return float("nan"), float("nan")
    t = (r12 - r13) * np.sqrt((n - 1) * (1 + r23) / denom)
    return float(t), float(2 * _stats().t.sf(abs(t), n - 3))


def _corr(kind: str, x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    if kind == "pearson":
        return float(np.corrcoef(x, y)[0, 1])
    if kind == "spearman":
        return float(_stats().spearmanr(x, y)[0])
    return float(_stats().kendalltau(x, y, variant="b")[0])


def compare_agreements(scores: dict[str, np.ndarray], human: np.ndarray, units: np.ndarray, *,
                       n_resamples: int = 1000, seed: int = 0, alpha: float = 0.05,
                       kinds: tuple[str, ...] = ("pearson", "kendall_tau_b")) -> list[dict]:
    """For every pair of metrics: the difference of their correlations with the human scores, a
    bootstrap interval over the rated ``units`` (images, prompts or subjects: all items of a drawn
    unit enter together), a two-sided bootstrap p-value (the share of centred resampled differences
    at least as large as the observed one), Holm-corrected over the pairs for each statistic; for
    Pearson also Williams' test for dependent correlations. Items where either metric or the human
    score is missing are left out of that pair."""
    from itertools import combinations

    from idbench.stats.compare import holm

    human = np.asarray(human, float)
    units = np.asarray(units)
    rng = np.random.default_rng(seed)
    out = []
    for a, b in combinations(list(scores), 2):
        x, y = np.asarray(scores[a], float), np.asarray(scores[b], float)
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(human)
        x, y, h, u = x[ok], y[ok], human[ok], units[ok]
        labels, codes = np.unique(u, return_inverse=True)
        members = [np.flatnonzero(codes == k) for k in range(len(labels))]
        row = {"a": a, "b": b, "n": int(ok.sum()), "n_units": len(labels)}
        draws = [np.concatenate([members[k] for k in rng.integers(0, len(labels), len(labels))])
                 for _ in range(n_resamples)] if len(labels) >= 3 else []
        for kind in kinds:
            d = _corr(kind, x, h) - _corr(kind, y, h)
            boot = np.array([_corr(kind, x[i], h[i]) - _corr(kind, y[i], h[i]) for i in draws], float)
            boot = boot[np.isfinite(boot)]
            if not np.isfinite(d) or boot.size < 10:
                row[kind] = {"diff": d, "ci": [None, None], "p": float("nan")}
                continue
            lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
            p = float(np.mean(np.abs(boot - boot.mean()) >= abs(d)))
            row[kind] = {"diff": float(d), "ci": [float(lo), float(hi)], "p": max(p, 1.0 / (boot.size + 1))}
        r12, r13 = _corr("pearson", x, h), _corr("pearson", y, h)
        r23 = _corr("pearson", x, y)
        row["pearson"]["williams_t"], row["pearson"]["williams_p"] = williams_t(r12, r13, r23, int(ok.sum()))
        out.append(row)
    for kind in kinds:
        ps = [r[kind]["p"] for r in out]
        for r, q in zip(out, holm(ps) if ps else []):
            r[kind]["p_holm"] = q
            r[kind]["significant"] = bool(q == q and q < alpha)
    wp = [r["pearson"].get("williams_p", float("nan")) for r in out]
    for r, q in zip(out, holm(wp) if wp else []):
        r["pearson"]["williams_p_holm"] = q
    return out


def human_ceiling(ratings: dict[str, dict[str, float]]) -> dict | None:
    """How well one rater agrees with the others: per rater, the correlation of their scores with the
    mean of the other raters on the items both cover; Fisher-z mean over raters. None with < 2 raters."""
    raters = sorted({r for d in ratings.values() for r in d})
    if len(raters) < 2:
        return None
    out = {}
    for kind in ("pearson", "spearman", "kendall_tau_b"):
        rs = []
        for r in raters:
            pts = [(d[r], np.mean([v for k, v in d.items() if k != r])) for d in ratings.values()
                   if r in d and len(d) >= 2]
            if len(pts) >= 3:
                x, y = map(np.array, zip(*pts))
                rs.append(_corr(kind, x, y))
        out[kind] = fisher_z_mean(rs)
    out["n_raters"] = len(raters)
    return out
