"""Cluster bootstrap confidence intervals.

Images of one subject are not independent (same identity, same references), so intervals come from
resampling *subjects* with replacement and recomputing the statistic -- the pooled mean over all
images of the resampled subjects, i.e. the plain mean the papers report.

Vectorised: per-subject sums and counts are computed once; each resample is a vector of subject
multiplicities drawn as a multinomial, so ``n_resamples`` resamples cost one
``(n_resamples x n_subjects)`` matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BootstrapResult:
    mean: float
    ci_low: float
    ci_high: float
    n_resamples: int
    n_clusters: int
    n: int


def _cluster_codes(clusters) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(clusters), return_inverse=True)
    return codes.ravel(), int(codes.max()) + 1 if codes.size else 0


def cluster_bootstrap(
    values,
    clusters,
    *,
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Mean of ``values`` with a percentile interval from a bootstrap over ``clusters``.

    .. math::
        \\hat\\mu = \\frac{\\sum_i v_i}{n}, \\qquad
        \\hat\\mu^{*b} = \\frac{\\sum_c w^{*b}_c S_c}{\\sum_c w^{*b}_c n_c}

    where :math:`S_c, n_c` are the sum and count of cluster :math:`c` and :math:`w^{*b}` are the
    multiplicities of a with-replacement draw of as many clusters as there are. The interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of :math:`\\hat\\mu^{*b}`.
    NaN values are dropped first. With one cluster the interval collapses to the mean.

    Examples
    --------
    >>> r = cluster_bootstrap([1.0, 1.0, 3.0, 3.0], ["a", "a", "b", "b"], n_resamples=1000, seed=0)
    >>> r.mean, r.ci_low, r.ci_high
    (2.0, 1.0, 3.0)
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    c = np.asarray(clusters).ravel()
    if v.shape != c.shape:
        raise ValueError(f"values ({v.shape[0]}) and clusters ({c.shape[0]}) differ in length")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    ok = ~np.isnan(v)
    v, c = v[ok], c[ok]
    if v.size == 0:
        nan = float("nan")
        return BootstrapResult(nan, nan, nan, n_resamples, 0, 0)
    codes, k = _cluster_codes(c)
    sums = np.bincount(codes, weights=v, minlength=k)
    counts = np.bincount(codes, minlength=k).astype(np.float64)
    mean = float(v.mean())
    if k == 1:
        return BootstrapResult(mean, mean, mean, n_resamples, 1, int(v.size))
    rng = np.random.default_rng(seed)
    w = rng.multinomial(k, np.full(k, 1.0 / k), size=n_resamples).astype(np.float64)
    stats = (w @ sums) / (w @ counts)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return BootstrapResult(mean, float(lo), float(hi), n_resamples, k, int(v.size))


def ratio_bootstrap(
    num_values,
    num_clusters,
    den_values,
    den_clusters,
    *,
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Ratio of two pooled means that share clusters, e.g. generated mAP / real-reference mAP with
    subjects as clusters, with a percentile interval from resampling the shared clusters jointly.

    .. math::
        \\hat r = \\frac{\\bar x}{\\bar y}, \\qquad
        \\hat r^{*b} = \\frac{\\sum_c w_c S^x_c / \\sum_c w_c n^x_c}{\\sum_c w_c S^y_c / \\sum_c w_c n^y_c}

    Clusters are the union of both sides' clusters; resamples whose denominator is 0 or empty are
    dropped (``n_resamples`` in the result counts the ones kept).

    >>> r = ratio_bootstrap([0.5, 0.5], ["a", "b"], [1.0, 1.0], ["a", "b"], n_resamples=200)
    >>> r.mean, r.ci_low, r.ci_high
    (0.5, 0.5, 0.5)
    """
    x = np.asarray(num_values, np.float64).ravel()
    cx = np.asarray(num_clusters).ravel()
    y = np.asarray(den_values, np.float64).ravel()
    cy = np.asarray(den_clusters).ravel()
    if x.shape != cx.shape or y.shape != cy.shape:
        raise ValueError("values and clusters differ in length")
    okx, oky = ~np.isnan(x), ~np.isnan(y)
    x, cx, y, cy = x[okx], cx[okx], y[oky], cy[oky]
    nan = float("nan")
    if x.size == 0 or y.size == 0 or y.mean() == 0:
        return BootstrapResult(nan, nan, nan, 0, 0, int(x.size))
    mean = float(x.mean() / y.mean())
    labels, codes = np.unique(np.concatenate([cx.astype(str), cy.astype(str)]), return_inverse=True)
    codes = codes.ravel()
    k = len(labels)
    kx, ky = codes[: len(cx)], codes[len(cx):]
    sx, nx = np.bincount(kx, weights=x, minlength=k), np.bincount(kx, minlength=k).astype(np.float64)
    sy, ny = np.bincount(ky, weights=y, minlength=k), np.bincount(ky, minlength=k).astype(np.float64)
    if k == 1:
        return BootstrapResult(mean, mean, mean, n_resamples, 1, int(x.size))
    rng = np.random.default_rng(seed)
    w = rng.multinomial(k, np.full(k, 1.0 / k), size=n_resamples).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = ((w @ sx) / (w @ nx)) / ((w @ sy) / (w @ ny))
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return BootstrapResult(mean, nan, nan, 0, k, int(x.size))
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return BootstrapResult(mean, float(lo), float(hi), int(stats.size), k, int(x.size))


def rate_interval(values, boot: BootstrapResult, n_subjects: int, confidence: float = 0.95) -> dict:
    """The interval of a rate (mean of 0/1 scores, or of shares): the hull of the cluster bootstrap
    interval ``boot`` and the Wilson score interval of the pooled count, so that identical subjects
    (every subject at exactly 1/2, say) still get the width their number of images allows.

    Returns ``{"ci_low", "ci_high", "ci_method"}`` (and ``ci_note`` when the interval is Wilson's alone).

    >>> v = [1.0, 0.0] * 4
    >>> b = cluster_bootstrap(v, ["a", "a", "b", "b", "c", "c", "d", "d"], n_resamples=200)
    >>> (b.ci_low, b.ci_high)
    (0.5, 0.5)
    >>> {k: round(x, 3) if isinstance(x, float) else x for k, x in rate_interval(v, b, 4).items()}
    {'ci_low': 0.215, 'ci_high': 0.785, 'ci_method': 'hull of the cluster bootstrap and Wilson (pooled count)'}
    """
    from statistics import NormalDist

    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return {"ci_low": None, "ci_high": None, "ci_note": "no interval: no image"}
    lo, hi = wilson_interval(float(v.sum()), len(v), z=NormalDist().inv_cdf(0.5 + confidence / 2))
    if n_subjects < 2:
        return {"ci_low": lo, "ci_high": hi, "ci_method": "Wilson (pooled count)",
                "ci_note": "1 subject: Wilson interval over its images (no between-subject spread)"}
    return {"ci_low": min(lo, float(boot.ci_low)), "ci_high": max(hi, float(boot.ci_high)),
            "ci_method": "hull of the cluster bootstrap and Wilson (pooled count)"}


def mean_with_interval(values, clusters, *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
                       rate: bool = False) -> dict:
    """A figure as every view shows it: ``{"mean", "ci_low", "ci_high", "n_subjects"}`` of ``values`` (no
    NaN) grouped by ``clusters`` (subjects), by the cluster bootstrap; for a ``rate`` widened to the Wilson
    interval of the pooled count (:func:`rate_interval`); with one subject no interval; and a ``ci_note``
    saying why when an interval has zero width.

    >>> mean_with_interval([0.5, 0.5, 0.5], ["a", "b", "c"], n_resamples=100)["ci_note"]
    'zero width: all 3 values are equal'
    >>> mean_with_interval([0.2, 0.4], ["a", "a"], n_resamples=100)["ci_note"]
    'no interval: 1 subject'
    """
    v = np.asarray(values, np.float64)
    res = cluster_bootstrap(v, clusters, n_resamples=n_resamples, confidence=confidence, seed=seed)
    n_subj = int(len(set(clusters)))
    entry = {"mean": float(res.mean), "ci_low": float(res.ci_low), "ci_high": float(res.ci_high), "n_subjects": n_subj}
    if rate:
        entry.update(rate_interval(v, res, n_subj, confidence))
    elif n_subj < 2:  # a bootstrap over one subject has zero width: no interval, and say why
        entry.update(ci_low=None, ci_high=None, ci_note="no interval: 1 subject")
    elif entry["ci_low"] == entry["ci_high"]:
        entry["ci_note"] = (f"zero width: all {len(v)} values are equal" if np.ptp(v) == 0
                            else f"zero width: every one of the {n_subj} subjects has the same mean")
    return few_clusters_caution(entry)


#: below this many subjects a cluster bootstrap interval is too unstable to be read as firm
FEW_CLUSTERS = 8


def few_clusters_caution(entry: dict) -> dict:
    """Mark an interval from fewer than :data:`FEW_CLUSTERS` subjects (``few_subjects``): the views print
    it beside the interval, which is then indicative only.

    >>> few_clusters_caution({"mean": 0.48, "ci_low": 0.47, "ci_high": 0.49, "n_subjects": 4})["few_subjects"]
    4
    """
    n = entry.get("n_subjects")
    if isinstance(n, int) and 2 <= n < FEW_CLUSTERS and entry.get("ci_low") is not None:
        entry["few_subjects"] = n
    return entry


def iqr_trimmed_mean(values, k: float = 1.5) -> tuple[float, int]:
    """The mean of the values inside ``[q1 - k IQR, q3 + k IQR]`` (numpy's linear percentiles), and how
    many were removed; the median instead when more than half would be removed (MultiID-Bench's
    ``_compute_statistics``: ``_remove_outliers(method="iqr", threshold=1.5)``, then
    ``_compute_robust_statistics``).

    >>> iqr_trimmed_mean([1.0, 1.1, 0.9, 1.0, 9.0])
    (1.0, 1)
    """
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), 0
    q1, q3 = np.percentile(v, 25), np.percentile(v, 75)
    keep = (v >= q1 - k * (q3 - q1)) & (v <= q3 + k * (q3 - q1))
    if keep.sum() < v.size * 0.5:
        return float(np.median(v)), 0
    return float(v[keep].mean()), int(v.size - keep.sum())


def trimmed_mean_with_interval(values, clusters, *, n_resamples: int = 2000, confidence: float = 0.95,
                               seed: int = 0, k: float = 1.5) -> dict:
    """:func:`iqr_trimmed_mean` of ``values`` with a percentile interval from the cluster bootstrap of the
    same statistic (each resample trims anew), as :func:`mean_with_interval` reports a mean."""
    v = np.asarray(values, np.float64)
    c = np.asarray(clusters)
    ok = ~np.isnan(v)
    v, c = v[ok], c[ok]
    mean, removed = iqr_trimmed_mean(v, k)
    codes, n_clusters = _cluster_codes(c)
    entry = {"mean": mean, "ci_low": None, "ci_high": None, "n_subjects": int(n_clusters), "n_trimmed": removed,
             "aggregate": f"mean after removing values outside [q1 - {k:g} IQR, q3 + {k:g} IQR]"}
    if n_clusters < 2:
        entry["ci_note"] = "no interval: 1 subject"
        return entry
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_resamples)
    stats = np.array([iqr_trimmed_mean(np.repeat(v, wb[codes]), k)[0] for wb in w])
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(stats, [alpha, 1.0 - alpha])
    entry.update(ci_low=float(lo), ci_high=float(hi))
    if lo == hi:
        entry["ci_note"] = "zero width: every resample gives the same trimmed mean"
    return few_clusters_caution(entry)


def wilson_interval(k: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (k may be fractional: a mean of 0/1 scores).

    >>> [round(v, 3) for v in wilson_interval(4, 8)]
    [0.215, 0.785]
    """
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(max(0.0, c - h)), float(min(1.0, c + h))
