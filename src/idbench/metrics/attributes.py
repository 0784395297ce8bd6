"""APS (attribute preservation, Stellar): per-attribute logistic probes on face embeddings.

For each attribute (published: Young, Male, High_Cheekbones, Pointy_Nose, Narrow_Eyes,
Double_Chin, Big_Lips, Big_Nose) a logistic-regression probe is trained on labelled real faces;
it predicts the attribute on each generated face; agreement with the reference's labels is the
balanced accuracy of the hard predictions (equal to the ROC AUC of hard predictions), per
attribute; APS is the mean over attributes. Probes are cached on disk by a hash of their
training data and settings, as plain arrays (``.npz`` read with ``allow_pickle=False`` plus a
JSON index): nothing is ever unpickled from a cache, which anyone who can write it could use to
run code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score


def probe_key(X: np.ndarray, Y: np.ndarray, names, C: float) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X, np.float32).tobytes())
    h.update(np.ascontiguousarray(Y, np.int8).tobytes())
    h.update(("|".join(names) + f"|C={C}").encode())
    return h.hexdigest()[:20]


def train_attribute_probes(X: np.ndarray, Y: np.ndarray, names: list[str], *, C: float = 1.0, cache_dir: Path | None = None,
                           seed: int = 0) -> dict[str, LogisticRegression]:
    """One probe per attribute column of ``Y`` (0/1); attributes with a single class are skipped."""
    X = np.asarray(X, np.float32)
    Y = np.asarray(Y).astype(int)
    if Y.shape != (len(X), len(names)):
        raise ValueError(f"labels must be (n_faces, n_attributes) = ({len(X)}, {len(names)}), got {Y.shape}")
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"aps-probes-{probe_key(X, Y, names, C)}.npz"
        cached = _load_probes(path, X.shape[1])
        if cached is not None:
            return cached
    probes = {}
    for j, name in enumerate(names):
        if len(np.unique(Y[:, j])) < 2:
            continue
        probes[name] = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(X, Y[:, j])
    if path is not None:
        _save_probes(path, probes)
    return probes


def _save_probes(path: Path, probes: dict[str, LogisticRegression]) -> None:
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(probes)
    arrays = {}
    for k, name in enumerate(names):
        p = probes[name]
        arrays[f"coef{k}"], arrays[f"intercept{k}"], arrays[f"classes{k}"] = p.coef_, p.intercept_, p.classes_.astype(np.int64)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, names=np.array(json.dumps(names)), **arrays)
    os.replace(tmp, path)


def _load_probes(path: Path, n_features: int) -> dict[str, LogisticRegression] | None:
    """Probes from plain arrays; None (refit) when the file is absent or not what idbench wrote."""
    import json

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            names = json.loads(str(z["names"]))
            out = {}
            for k, name in enumerate(names):
                coef, icpt, classes = z[f"coef{k}"], z[f"intercept{k}"], z[f"classes{k}"]
                if coef.shape != (1, n_features) or icpt.shape != (1,) or classes.shape != (2,) or not np.isfinite(coef).all():
                    return None
                p = LogisticRegression()
                p.coef_, p.intercept_, p.classes_, p.n_features_in_ = coef, icpt, classes, n_features
                out[str(name)] = p
            return out
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None


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
