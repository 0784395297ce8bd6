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
from scipy import stats


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
    pearson: float
    spearman: float
    kendall_tau_b: float
    pairwise_accuracy: float
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
