"""Similarity-to-reference scores: CLIP-I / DINO-style mean cosine, and Stellar's IPS and SIS.

All inputs are L2-normalised float rows, so ``cos(a, b) = a . b``.
"""

from __future__ import annotations

import numpy as np


def _check_rows(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of embedding rows, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def mean_cosine_to_references(generated: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Per generated image, the mean cosine similarity to the subject's reference images.

    .. math:: s(g) = \\frac{1}{R} \\sum_{r=1}^{R} \\cos(f_g, f_r)

    The CLIP-I score with a CLIP encoder and the DINO score with a DINO encoder (DreamBooth's
    definition); averaging ``s(g)`` over a method's images gives the published mean pairwise cosine.

    Parameters
    ----------
    generated : (N, D) array of L2-normalised rows.
    references : (R, D) array of L2-normalised rows of the same subject, R >= 1.

    Examples
    --------
    >>> g = np.array([[1.0, 0.0]], np.float32); r = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    >>> mean_cosine_to_references(g, r)
    array([0.5], dtype=float32)
    """
    g = _check_rows(generated, "generated")
    r = _check_rows(references, "references")
    if r.shape[0] == 0:
        raise ValueError("references is empty: a subject needs at least one reference embedding")
    if g.shape[1] != r.shape[1]:
        raise ValueError(f"dimension mismatch: generated has {g.shape[1]}, references {r.shape[1]}")
    return (g @ r.T).mean(axis=1)


def identity_preservation(generated_faces: np.ndarray, reference_faces: np.ndarray) -> float:
    """Stellar's IPS between one generated image and one reference image.

    .. math:: \\mathrm{IPS}(g, r) = \\max_{i \\in \\text{faces}(g),\\, j \\in \\text{faces}(r)} \\cos(f_i, f_j)

    Returns ``nan`` when either image has no detected face (a detection failure, reported
    separately, never scored as 0 here).

    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32); b = np.array([[0.6, 0.8]], np.float32)
    >>> round(identity_preservation(a, b), 3)
    0.8
    """
    g = _check_rows(generated_faces, "generated_faces")
    r = _check_rows(reference_faces, "reference_faces")
    if g.shape[0] == 0 or r.shape[0] == 0:
        return float("nan")
    return float((g @ r.T).max())


def ips_and_sis(generated_faces: np.ndarray, subject_faces: list[np.ndarray]) -> tuple[float, float]:
    """IPS and SIS of one generated image against all images of its subject.

    * IPS: mean over the subject's images (those with a face) of :func:`identity_preservation`
      (Stellar scores against one chosen reference; with several references idbench averages, so
      the score does not depend on which reference is listed first).
    * SIS (stability of identity): the minimum over the subject's images of the same pairwise IPS.

    Both are ``nan`` when the generated image has no face or no subject image has a face.

    >>> g = np.array([[1.0, 0.0]], np.float32)
    >>> ips_and_sis(g, [np.array([[1.0, 0.0]], np.float32), np.array([[0.0, 1.0]], np.float32)])
    (0.5, 0.0)
    """
    scores = [identity_preservation(generated_faces, f) for f in subject_faces]
    scores = [s for s in scores if not np.isnan(s)]
    if not scores:
        return float("nan"), float("nan")
    return float(np.mean(scores)), float(np.min(scores))
