"""Distribution metrics on any encoder's features: FID and KID.

* FID = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})   (Frechet distance of Gaussian fits)
* KID = unbiased MMD^2 with the kernel k(x, y) = (x . y / d + 1)^3, averaged over random subsets
  of size ``min(subset_size, n_gen, n_real)`` -- never larger than either sample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: Below this many samples per feature dimension FID is dominated by its small-sample bias
#: (the covariance of n < d samples is singular; Chong & Forsyth 2020): idbench warns and points to KID.
FID_MIN_SAMPLES_PER_DIM = 1.0


def fid_sample_warning(n: int, d: int) -> str | None:
    """The warning idbench gives for FID on ``n`` samples of ``d``-d features, or None."""
    if n < FID_MIN_SAMPLES_PER_DIM * d:
        return (f"FID on {n} samples of {d}-d features: fewer samples than dimensions, so the covariance is singular "
                "and FID is strongly biased upwards and depends on n; compare methods only at equal sample sizes, "
                "or use KID (unbiased)")
    return None


def trace_sqrt_product(X: np.ndarray, Y: np.ndarray) -> float:
    """Tr((S_X S_Y)^{1/2}) for the sample covariances of the rows of X and Y, without ``sqrtm``.

    The eigenvalues of S_X S_Y are real and >= 0, so the trace is the sum of their square roots:

    * n, m small (n * m <= d^2): with centred A (n x d), B (m x d), the non-zero eigenvalues of
      S_X S_Y are the squared singular values of A B^T / sqrt((n-1)(m-1)), so the trace is the
      nuclear norm of that n x m matrix (one small SVD);
    * otherwise: the eigenvalues of S_X^{1/2} S_Y S_X^{1/2} (symmetric, ``eigvalsh``), as clean-fid
      and torchmetrics do.
    """
    from scipy import linalg  # (imported when FID is computed: it is opt-in)

    n, m, d = len(X), len(Y), X.shape[1]
    A = X - X.mean(0)
    B = Y - Y.mean(0)
    if n * m <= d * d:
        sv = linalg.svdvals(A @ B.T)
        return float(sv.sum() / np.sqrt((n - 1) * (m - 1)))
    s1 = A.T @ A / (n - 1)
    s2 = B.T @ B / (m - 1)
    w, V = linalg.eigh(s1)
    root = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    ev = linalg.eigvalsh(root @ s2 @ root)
    return float(np.sqrt(np.clip(ev, 0, None)).sum())


def frechet_distance(X: np.ndarray, Y: np.ndarray) -> float:
    """FID between the Gaussian fits of the rows of ``X`` and ``Y``:
    ||mu_X - mu_Y||^2 + Tr(S_X) + Tr(S_Y) - 2 Tr((S_X S_Y)^{1/2}).

    Warns (``UserWarning``) below :data:`FID_MIN_SAMPLES_PER_DIM` samples per dimension.

    >>> rng = np.random.default_rng(0); X = rng.normal(size=(50, 4))
    >>> abs(frechet_distance(X, X)) < 1e-9
    True
    """
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(f"expected (n, d) and (m, d) features, got {X.shape} and {Y.shape}")
    if min(len(X), len(Y)) < 2:
        raise ValueError("FID needs at least 2 samples on each side")
    w = fid_sample_warning(min(len(X), len(Y)), X.shape[1])
    if w:
        warnings.warn(w, stacklevel=2)
    diff = X.mean(0) - Y.mean(0)
    tr1 = float(((X - X.mean(0)) ** 2).sum() / (len(X) - 1))
    tr2 = float(((Y - Y.mean(0)) ** 2).sum() / (len(Y) - 1))
    return float(diff @ diff + tr1 + tr2 - 2 * trace_sqrt_product(X, Y))


def polynomial_mmd2_unbiased(X: np.ndarray, Y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(x, y) = (x . y / d + 1)^3."""
    d = X.shape[1]
    return _mmd2_from_kernels((X @ X.T / d + 1) ** 3, (Y @ Y.T / d + 1) ** 3, (X @ Y.T / d + 1) ** 3)


def _mmd2_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    m, n = len(kxx), len(kyy)
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
    d = X.shape[1]
    # the kernels are computed once and every subset indexes them (same values as recomputing per subset)
    kxx, kyy, kxy = (X @ X.T / d + 1) ** 3, (Y @ Y.T / d + 1) ** 3, (X @ Y.T / d + 1) ** 3
    vals = []
    for _ in range(n_subsets):
        i = rng.choice(len(X), size, replace=False)
        j = rng.choice(len(Y), size, replace=False)
        vals.append(_mmd2_from_kernels(kxx[np.ix_(i, i)], kyy[np.ix_(j, j)], kxy[np.ix_(i, j)]))
    return KIDResult(float(np.mean(vals)), float(np.std(vals)), size, n_subsets)
