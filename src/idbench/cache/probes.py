"""Attribute probes (APS) kept on disk by a hash of their training data and settings, as plain
arrays (``.npz`` read with ``allow_pickle=False`` plus a JSON index): nothing is ever unpickled
from a cache, which anyone who can write it could use to run code."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from idbench.metrics.attributes import train_attribute_probes


def probe_key(X: np.ndarray, Y: np.ndarray, names, C: float) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X, np.float32).tobytes())
    h.update(np.ascontiguousarray(Y, np.int8).tobytes())
    h.update(("|".join(names) + f"|C={C}").encode())
    return h.hexdigest()[:20]


def cached_attribute_probes(X: np.ndarray, Y: np.ndarray, names: list[str], *, cache_dir: str | Path, C: float = 1.0,
                            seed: int = 0) -> dict[str, LogisticRegression]:
    """:func:`idbench.metrics.attributes.train_attribute_probes`, read from ``cache_dir`` when the same
    data and settings were fitted before, else fitted and written there."""
    X32 = np.asarray(X, np.float32)
    Y = np.asarray(Y).astype(int)
    path = Path(cache_dir) / f"aps-probes-{probe_key(X32, Y, names, C)}.npz" if Y.ndim == 2 else None
    cached = _load_probes(path, X32.shape[1]) if path is not None else None
    if cached is not None:
        return cached
    probes = train_attribute_probes(X32, Y, names, C=C, seed=seed)
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
