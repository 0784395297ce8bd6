"""Relative Classification Accuracy: an oracle's accuracy on generated images relative to real ones.

The oracle is a linear probe (scikit-learn logistic regression) on L2-normalised embeddings of
real, labelled images. ``Acc_real`` is its top-1 accuracy on held-out real images, estimated by
stratified k-fold cross-validation (k = min(5, smallest class size), at least 2) because
identities usually have few images; ``Acc_gen`` is the top-1 accuracy of the oracle (fit on all
real images) on generated images, counted against the conditioning identity::

    RCA = Acc_gen / Acc_real        (1.0: generations are as recognisable as real photos)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold


class _Probe(LogisticRegression):
    """Logistic regression without sklearn's 'more classes than half the samples' warning: identity
    oracles always have few images per class."""

    def fit(self, X, y, sample_weight=None):
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
            return super().fit(X, y, sample_weight)


def _probe(C: float, seed: int) -> LogisticRegression:
    return _Probe(C=C, max_iter=2000, random_state=seed)


@dataclass
class Oracle:
    model: LogisticRegression
    classes: np.ndarray
    acc_real: float
    acc_real_per_class: dict[str, float]
    n_folds: int

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted oracle as plain arrays (stored by the results cache, never pickled)."""
        names = sorted(self.acc_real_per_class)
        return {"coef": self.model.coef_, "intercept": self.model.intercept_, "classes": self.classes.astype(str),
                "acc_real": np.float64(self.acc_real), "per_class_names": np.array(names, dtype=str),
                "per_class_acc": np.array([self.acc_real_per_class[c] for c in names], np.float64),
                "n_folds": np.int64(self.n_folds), "C": np.float64(self.model.C),
                "seed": np.int64(self.model.random_state)}

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> "Oracle":
        """The oracle :meth:`to_arrays` stored: predicts exactly as the fitted one."""
        model = _probe(float(d["C"]), int(d["seed"]))
        model.coef_, model.intercept_ = np.asarray(d["coef"]), np.asarray(d["intercept"])
        model.classes_ = np.asarray(d["classes"]).astype(str)
        model.n_features_in_ = model.coef_.shape[1]
        model.n_iter_ = np.zeros(1, np.int32)
        per = {str(c): float(a) for c, a in zip(d["per_class_names"], d["per_class_acc"])}
        return cls(model, model.classes_, float(d["acc_real"]), per, int(d["n_folds"]))

    def predict_topk(self, X: np.ndarray, k: int = 5) -> np.ndarray:
        proba = self.model.predict_proba(np.asarray(X, np.float32))
        k = min(k, proba.shape[1])
        return self.classes[np.argsort(-proba, axis=1, kind="stable")[:, :k]]


def fit_oracle(X_real: np.ndarray, y_real: Sequence[str], *, C: float = 10.0, seed: int = 0) -> Oracle:
    """Fit the probe on all real images; estimate Acc_real by stratified cross-validation."""
    X = np.asarray(X_real, np.float32)
    y = np.asarray(y_real).astype(str)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("RCA needs at least 2 identities (classes) in the real images")
    k = int(min(5, counts.min()))
    if k < 2:
        raise ValueError(f"every identity needs at least 2 real images for a held-out accuracy; "
                         f"{', '.join(classes[counts < 2][:5])} has 1")
    pred = np.empty(len(y), dtype=object)
    for tr, te in StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(X, y):
        pred[te] = _probe(C, seed).fit(X[tr], y[tr]).predict(X[te])
    correct = pred == y
    per = {c: float(correct[y == c].mean()) for c in classes}
    model = _probe(C, seed).fit(X, y)
    return Oracle(model, model.classes_, float(correct.mean()), per, k)


@dataclass
class RCAResult:
    acc_real: float
    acc_gen: float
    acc_gen_top5: float
    rca: float
    per_class: dict[str, dict[str, float]]
    correct: np.ndarray  # per generated image, top-1 correct (bool)
    predicted: np.ndarray
    confusion: np.ndarray  # rows: true (oracle classes), columns: predicted
    labels: np.ndarray

    def most_confused(self, n: int = 10) -> list[tuple[str, str, int]]:
        cm = self.confusion.copy()
        np.fill_diagonal(cm, 0)
        idx = np.dstack(np.unravel_index(np.argsort(-cm, axis=None), cm.shape))[0][:n]
        return [(str(self.labels[i]), str(self.labels[j]), int(cm[i, j])) for i, j in idx if cm[i, j] > 0]


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (per-identity Acc_gen; few images each)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return float(max(0.0, c - h)), float(min(1.0, c + h))


def relative_classification_accuracy(oracle: Oracle, X_gen: np.ndarray, y_gen: Sequence[str]) -> RCAResult:
    """Acc_gen, top-5, RCA overall and per identity, and the confusion matrix on generated images.

    Generated images of an identity the oracle does not know count as wrong.
    """
    y = np.asarray(y_gen).astype(str)
    top = oracle.predict_topk(X_gen, 5)
    pred = top[:, 0]
    correct = pred == y
    top5 = (top == y[:, None]).any(axis=1)
    acc_gen = float(correct.mean()) if len(y) else float("nan")
    per = {}
    for c in np.unique(y):
        m = y == c
        ar = oracle.acc_real_per_class.get(c, float("nan"))
        ag = float(correct[m].mean())
        lo, hi = wilson_interval(int(correct[m].sum()), int(m.sum()))
        rca_c = ag / ar if ar and ar > 0 else float("nan")
        per[c] = {"acc_gen": ag, "acc_real": ar, "rca": rca_c, "n": int(m.sum()),
                  "rca_ci": [lo / ar, hi / ar] if ar and ar > 0 else [float("nan")] * 2}
    labels = oracle.classes
    cm = confusion_matrix(y, pred, labels=labels)
    rca = acc_gen / oracle.acc_real if oracle.acc_real > 0 else float("nan")
    return RCAResult(oracle.acc_real, acc_gen, float(top5.mean()) if len(y) else float("nan"), rca, per,
                     correct, pred, cm, labels)
