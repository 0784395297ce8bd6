"""APS (attribute preservation, Stellar): per-attribute logistic probes on face embeddings.

For each attribute (published: Young, Male, High_Cheekbones, Pointy_Nose, Narrow_Eyes,
Double_Chin, Big_Lips, Big_Nose) a logistic-regression probe is trained on labelled real faces;
it predicts the attribute on each generated face; agreement with the reference's labels is the
balanced accuracy of the hard predictions (equal to the ROC AUC of hard predictions), per
attribute; APS is the mean over attributes. Pure functions: the probes are kept on disk by
:mod:`idbench.cache.probes`.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score


def train_attribute_probes(X: np.ndarray, Y: np.ndarray, names: list[str], *, C: float = 1.0,
                           seed: int = 0) -> dict[str, LogisticRegression]:
    """One probe per attribute column of ``Y`` (0/1); attributes with a single class are skipped.
    (:func:`idbench.cache.probes.cached_attribute_probes` keeps them on disk.)"""
    X = np.asarray(X, np.float32)
    Y = np.asarray(Y).astype(int)
    if Y.shape != (len(X), len(names)):
        raise ValueError(f"labels must be (n_faces, n_attributes) = ({len(X)}, {len(names)}), got {Y.shape}")
    probes = {}
    for j, name in enumerate(names):
        if len(np.unique(Y[:, j])) < 2:
            continue
        probes[name] = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(X, Y[:, j])
    return probes


def attribute_preservation(probes: dict, X_gen: np.ndarray, Y_ref: np.ndarray, names: list[str]) -> dict:
    """Balanced accuracy per attribute of the probes' predictions on generated faces against the
    reference labels (one row per generated face), and their mean (APS)."""
    Y_ref = np.asarray(Y_ref).astype(int)
    per = {}
    for j, name in enumerate(names):
        if name not in probes:
            continue
        pred = probes[name].predict(np.asarray(X_gen, np.float32))
        per[name] = float(balanced_accuracy_score(Y_ref[:, j], pred)) if len(np.unique(Y_ref[:, j])) > 1 \
            else float((pred == Y_ref[:, j]).mean())
    return {"per_attribute": per, "aps": float(np.mean(list(per.values()))) if per else float("nan")}
