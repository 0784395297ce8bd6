"""Distribution metrics on any encoder's features: FID and KID.

* FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})   (Frechet distance of Gaussian fits)
* KID = unbiased MMD^2 with the kernel k(x, y) = (x . y / d + 1)^3, averaged over random subsets
  of size ``min(subset_size, n_gen, n_real)`` -- never larger than either sample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg


def frechet_distance(X: np.ndarray, Y: np.ndarray, eps: float = 1e-6) -> float:
    """FID between the Gaussian fits of the rows of ``X`` and ``Y``.

    Warns when a sample has fewer rows than the feature dimension (the covariance is then
    singular and FID is strongly biased upwards; compare only at equal sample sizes, or use KID).
    """
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(f"expected (n, d) and (m, d) features, got {X.shape} and {Y.shape}")
    if min(len(X), len(Y)) < 2:
        raise ValueError("FID needs at least 2 samples on each side")
    if min(len(X), len(Y)) < X.shape[1]:
        warnings.warn(f"FID on {min(len(X), len(Y))} samples of {X.shape[1]}-d features: the covariance is singular "
                      "and FID is biased; compare methods only at equal sample sizes, or use KID", stacklevel=2)
    mu1, mu2 = X.mean(0), Y.mean(0)
    s1, s2 = np.cov(X, rowvar=False), np.cov(Y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = np.eye(len(s1)) * eps
        covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def polynomial_mmd2_unbiased(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(x, y) = (x . y / d + 1)^3."""
    d = X.shape[1]
    kxx = (X @ X.T / d + 1) ** 3
    kyy = (Y @ Y.T / d + 1) ** 3
    kxy = (X @ Y.T / d + 1) ** 3
    m, n = len(X), len(Y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


@dataclass
class KIDResult:
    mean: float
    std: float
    subset_size: int
    n_subsets: int


def kernel_inception_distance(X: np.ndarray, Y: np.ndarray, *, subset_size: int = 1000, n_subsets: int = 100,
                              seed: int = 0) -> KIDResult:
    """KID: mean and std of the unbiased polynomial MMD^2 over random subsets (without replacement)."""
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    if min(len(X), len(Y)) < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    size = int(min(subset_size, len(X), len(Y)))
    rng = np.random.default_rng(seed)
    vals = [polynomial_mmd2_unbiased(X[rng.choice(len(X), size, replace=False)], Y[rng.choice(len(Y), size, replace=False)])
            for _ in range(n_subsets)]
    return KIDResult(float(np.mean(vals)), float(np.std(vals)), size, n_subsets)
