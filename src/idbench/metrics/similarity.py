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


def select_faces(faces: np.ndarray, boxes: np.ndarray | None, rule: str) -> np.ndarray:
    """The faces a face metric uses: ``"best"`` keeps every detected face (Stellar's IPS takes the
    best-matching pair), ``"largest"`` keeps the one with the largest box (ConsisID, InstantID). Among
    boxes of exactly equal area the *last* in detection order wins, as ``sorted(faces, key=area)[-1]``
    (the benchmarks' code) picks it.

    >>> f = np.eye(2, dtype=np.float32); b = np.array([[0, 0, 2, 2], [0, 0, 5, 5]], np.float32)
    >>> select_faces(f, b, "largest")
    array([[0., 1.]], dtype=float32)
    >>> select_faces(f, np.array([[0, 0, 5, 5], [1, 1, 6, 6]], np.float32), "largest")   # a tie: the last
    array([[0., 1.]], dtype=float32)
    """
    if rule not in ("best", "largest", "hungarian"):
        raise ValueError(f"face rule must be 'best', 'largest' or 'hungarian', got {rule!r}")
    f = np.asarray(faces, np.float32)
    if rule in ("best", "hungarian") or len(f) <= 1:
        return f
    if boxes is None or len(boxes) != len(f):
        raise ValueError("the 'largest' rule needs one box per face")
    b = np.asarray(boxes, np.float32)  # float32 arithmetic, as the detectors' boxes are compared upstream
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return f[[len(area) - 1 - int(np.argmax(area[::-1]))]]


def facesim(generated_face: np.ndarray, reference_face: np.ndarray) -> tuple[float, float]:
    """ConsisID's FaceSim between one generated and one reference face: the raw cosine and
    ``max(0, cos)`` (the published FaceSim-Arc / FaceSim-Cur average the clipped form).

    >>> facesim(np.array([1.0, 0.0]), np.array([-0.6, 0.8]))
    (-0.6, 0.0)
    """
    c = float(np.dot(np.asarray(generated_face, np.float64).ravel(), np.asarray(reference_face, np.float64).ravel()))
    return c, max(0.0, c)


def copy_paste(generated: np.ndarray, input_reference: np.ndarray, others: np.ndarray, eps: float = 1e-6) -> float:
    """WithAnyone's copy-paste score (``copy_geo``) of one generated face.

    .. math:: \\mathrm{CP}(g) = \\frac{1}{|T|} \\sum_{t \\in T}
              \\frac{\\theta(g, t) - \\theta(g, r)}{\\theta(t, r)}, \\qquad
              \\theta(a, b) = \\arccos(\\mathrm{clip}(a \\cdot b, -1, 1))

    with ``r`` the reference given to the generator and ``T`` other photos of the same person. A
    term with ``theta(t, r) < eps`` (t is r) is 0. CP lies in [-1, 1]: +1 when g copies r
    (theta(g, r) = 0 and theta(g, t) = theta(r, t)), -1 when g sits on t instead, about 0 when g is
    as far from the input as from other photos of the person.

    >>> r = np.array([1.0, 0.0]); t = np.array([[0.0, 1.0]])
    >>> copy_paste(r, r, t), copy_paste(t[0], r, t)
    (1.0, -1.0)
    """
    g = np.asarray(generated, np.float64).ravel()
    r = np.asarray(input_reference, np.float64).ravel()
    T = np.atleast_2d(np.asarray(others, np.float64))
    if T.shape[0] == 0:
        raise ValueError("copy-paste needs at least one other photo of the person besides the input reference")
    theta = lambda a, b: np.arccos(np.clip(a @ b, -1.0, 1.0))  # noqa: E731
    th_gr = theta(g, r)
    vals = []
    for t in T:
        th_tr = theta(t, r)
        vals.append(0.0 if th_tr < eps else (theta(g, t) - th_gr) / th_tr)
    return float(np.mean(vals))


def genuine_and_impostor(items_by_subject: dict, score, impostors_of=None) -> dict:
    """Baseline scores for any similarity ``score(probe, targets) -> tuple of floats``: what a real
    photo of the subject gets (*genuine*) and what a photo of another subject gets (*impostor*).

    * genuine: for each subject with >= 2 items, each item scored against the subject's *other* items;
    * impostor: each item of every subject in ``impostors_of(s)`` (default: all other subjects)
      scored against all items of ``s``.

    Returns ``{"genuine": (values (n, k), subjects (n,)), "impostor": (...)}``, the subject being
    the one whose items are the targets (the cluster for intervals).

    >>> items = {"a": [np.array([1.0, 0.0]), np.array([0.8, 0.6])], "b": [np.array([0.0, 1.0])]}
    >>> cos = lambda p, ts: (float(np.mean([p @ t for t in ts])),)
    >>> out = genuine_and_impostor(items, cos)
    >>> out["genuine"][0].ravel().tolist(), out["impostor"][0].ravel().round(2).tolist(), out["impostor"][1].tolist()
    ([0.8, 0.8], [0.3, 0.0, 0.6], ['a', 'b', 'b'])
    """
    out: dict[str, tuple[list, list]] = {"genuine": ([], []), "impostor": ([], [])}
    subjects = sorted(items_by_subject)
    for s in subjects:
        mine = items_by_subject[s]
        if len(mine) >= 2:
            for i, probe in enumerate(mine):
                out["genuine"][0].append(score(probe, mine[:i] + mine[i + 1:]))
                out["genuine"][1].append(s)
        others = impostors_of(s) if impostors_of is not None else [t for t in subjects if t != s]
        for t in others:
            for probe in items_by_subject.get(t, []):
                out["impostor"][0].append(score(probe, mine))
                out["impostor"][1].append(s)
    return {k: (np.asarray(v, np.float64).reshape(len(c), -1) if c else np.zeros((0, 1)), np.asarray(c, dtype=object))
            for k, (v, c) in out.items()}


def matched_face_cosines(faces_a: np.ndarray, faces_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-to-one assignment of faces ``a`` to faces ``b`` that maximises the summed cosine
    (Hungarian, ``scipy.optimize.linear_sum_assignment``; MultiID-Bench pairs each generated face with
    one reference person this way). Returns the matched cosines and the row / column indices; with
    ``n != m`` faces, ``min(n, m)`` pairs.

    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]]); b = np.array([[0.0, 1.0], [0.6, 0.8]])
    >>> matched_face_cosines(a, b)[0].round(2)   # a0-b1 (0.6) + a1-b0 (1.0) beats a0-b0 + a1-b1 (0 + 0.8)
    array([0.6, 1. ])
    """
    from scipy.optimize import linear_sum_assignment

    A = np.atleast_2d(np.asarray(faces_a, np.float64))
    B = np.atleast_2d(np.asarray(faces_b, np.float64))
    A = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)
    B = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
    S = A @ B.T
    rows, cols = linear_sum_assignment(-S)
    return S[rows, cols], rows, cols


def copy_paste_matched(generated: np.ndarray, target: np.ndarray, references: np.ndarray) -> float | None:
    """MultiID-Bench's copy_geo of one image with several people: the generated faces are matched to
    the ground-truth image's faces and, separately, to the references' faces (Hungarian); each
    generated face scores (theta(g, t) - theta(g, r)) / theta(t, r) with its matched t and r
    (:func:`copy_paste` with one t); the mean. None when the three face counts differ.

    >>> r = np.array([[1.0, 0.0]]); t = np.array([[0.0, 1.0]])
    >>> copy_paste_matched(r, t, r), copy_paste_matched(t, t, r)
    (1.0, -1.0)
    """
    g, t, r = (np.atleast_2d(np.asarray(x, np.float64)) for x in (generated, target, references))
    if not (len(g) == len(t) == len(r)) or len(g) == 0:
        return None
    _, gi, ti = matched_face_cosines(g, t)
    _, gr_rows, gr_cols = matched_face_cosines(g, r)
    ref_of = dict(zip(gr_rows.tolist(), gr_cols.tolist()))
    return float(np.mean([copy_paste(g[a], r[ref_of[a]], t[b][None]) for a, b in zip(gi.tolist(), ti.tolist())]))
