"""Relative Classification Accuracy: an oracle's accuracy on generated images relative to real ones.

The oracle is a linear probe (L2-regularised logistic regression, scikit-learn's model and
objective: ``mean cross-entropy + ||W||^2 / (2 C n)``, fitted by :func:`fit_probe`) on
L2-normalised embeddings of real, labelled images, **cross-fitted**: the real images are split into k stratified folds
(k = min(5, smallest class size), at least 2) and one probe is fitted per fold on the other k - 1.

* ``Acc_real``: each real image predicted by the probe that did not see it (k-fold held out);
* ``Acc_gen``: each generated image predicted by the same k probes, its correctness the mean over
  them (a generation that copies a real training image is scored only by the probe whose held-out
  fold holds that image).

Both accuracies therefore come from the same fitted probes, trained on the same amount of data, so
real photos the oracle never saw score ``RCA = Acc_gen / Acc_real`` = 1 in expectation::

    RCA = Acc_gen / Acc_real        (1.0: generations are as recognisable as real photos)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from idbench.stats.bootstrap import wilson_interval


@dataclass
class LinearProbe:
    """A fitted logistic-regression probe, predicting as scikit-learn's ``LogisticRegression`` does:
    ``predict_proba`` is the softmax of ``X W^T + b`` (the logistic sigmoid of the one score for two
    classes), ``predict`` its most probable class. Kept as plain arrays, so that reading an oracle
    back from the cache imports no scikit-learn (1 s of a warm run).

    >>> p = LinearProbe(np.array([[1.0, -1.0]]), np.array([0.0]), np.array(["a", "b"]))
    >>> p.predict_proba(np.array([[0.0, 0.0]])).tolist(), p.predict(np.array([[2.0, 0.0]])).tolist()
    ([[0.5, 0.5]], ['b'])
    """

    coef_: np.ndarray  # (classes, d), or (1, d) for two classes
    intercept_: np.ndarray
    classes_: np.ndarray
    C: float = 10.0
    random_state: int = 0
    n_iter_: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int32))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        z = np.asarray(X, np.float64) @ np.asarray(self.coef_, np.float64).T + self.intercept_
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self.decision_function(X)
        if z.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-z))
            return np.column_stack([1.0 - p, p])
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def fit_probe(X: np.ndarray, y: Sequence[str], C: float = 10.0, seed: int = 0, *, tol: float = 1e-4,
              max_iter: int = 2000) -> LinearProbe:
    """scikit-learn's ``LogisticRegression(C=C)`` (lbfgs, multinomial; binary for two classes),
    fitted by L-BFGS in float32 with torch on the same objective, to the same gradient tolerance.

    Minimises ``mean_i CE(x_i W^T + b, y_i) + ||W||^2 / (2 C n)`` (the intercept is not penalised;
    for two classes the logistic loss of one weight vector, as scikit-learn fits it). When there are
    fewer training images than dimensions the problem is solved in the row space of X: the optimum
    W lies there (the penalty's gradient must cancel the loss's, which is ``G^T X``), so the answer is
    the same, in fewer dimensions. Returns a :class:`LinearProbe`; ``tests/test_rca_distribution.py``
    checks it against scikit-learn's own fit.

    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [0.1, 0.9], [1.0, 0.0], [0.9, 0.1]])
    >>> fit_probe(X, ["a", "a", "b", "b"]).predict([[0.05, 0.95], [0.95, 0.05]]).tolist()
    ['a', 'b']
    """
    import torch

    X = np.asarray(X, np.float32)
    classes, codes = np.unique(np.asarray(y).astype(str), return_inverse=True)
    if len(classes) < 2:
        raise ValueError("a probe needs at least 2 classes")
    n, d = X.shape
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    basis = None
    if n < d:  # the optimum lies in the row space of X: solve there, exactly
        _, _, Vh = torch.linalg.svd(Xt.double(), full_matrices=False)
        basis = Vh.float()  # (n, d), orthonormal rows
        Xt = Xt @ basis.T
    binary = len(classes) == 2
    k = 1 if binary else len(classes)
    W = torch.zeros(Xt.shape[1], k, requires_grad=True)
    b = torch.zeros(k, requires_grad=True)
    target = torch.from_numpy(codes.astype(np.float32 if binary else np.int64))
    lam = 1.0 / (C * n)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol, tolerance_change=0.0,
                            history_size=10, line_search_fn="strong_wolfe")
    loss_of = torch.nn.functional.binary_cross_entropy_with_logits if binary else torch.nn.functional.cross_entropy

    def closure():
        opt.zero_grad()
        z = Xt @ W + b
        loss = loss_of(z[:, 0] if binary else z, target) + 0.5 * lam * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    coef = W.detach()
    if basis is not None:
        coef = basis.T @ coef
    return LinearProbe(coef.T.numpy().astype(np.float64), b.detach().numpy().astype(np.float64), classes, C, seed,
                       np.array([opt.state[opt._params[0]].get("n_iter", 0)], np.int32))


@dataclass
class Oracle:
    """The cross-fitted probes (``repeats`` x ``n_folds`` of them).

    ``fold_of[i, r]``: the probe of repeat r that did not see training image i. ``strata`` and
    ``stratum_weights[s, p]``: the share of stratum s's images that probe p did not see (a
    generation of subject s is scored by the probes with these weights, so that it is judged by
    probes that saw as many photos of s as those that judged the real photos of s)."""

    models: list  # LinearProbe (or scikit-learn LogisticRegression) per fold
    classes: np.ndarray
    acc_real: float
    acc_real_per_class: dict[str, float]
    n_folds: int
    fold_of: np.ndarray
    strata: np.ndarray
    stratum_weights: np.ndarray
    n_real_correct: float = 0.0

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted oracle as plain arrays (stored by the results cache, never pickled)."""
        names = sorted(self.acc_real_per_class)
        m0 = self.models[0]
        return {"coef": np.stack([m.coef_ for m in self.models]), "intercept": np.stack([m.intercept_ for m in self.models]),
                "classes": self.classes.astype(str), "acc_real": np.float64(self.acc_real),
                "per_class_names": np.array(names, dtype=str),
                "per_class_acc": np.array([self.acc_real_per_class[c] for c in names], np.float64),
                "n_folds": np.int64(self.n_folds), "fold_of": np.asarray(self.fold_of, np.int64),
                "strata": self.strata.astype(str), "stratum_weights": np.asarray(self.stratum_weights, np.float64),
                "n_real_correct": np.float64(self.n_real_correct), "C": np.float64(m0.C), "seed": np.int64(m0.random_state)}

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> "Oracle":
        """The oracle :meth:`to_arrays` stored: predicts exactly as the fitted one."""
        classes = np.asarray(d["classes"]).astype(str)
        models = [LinearProbe(coef, intercept, classes, float(d["C"]), int(d["seed"]))
                  for coef, intercept in zip(np.asarray(d["coef"]), np.asarray(d["intercept"]))]
        per = {str(c): float(a) for c, a in zip(d["per_class_names"], d["per_class_acc"])}
        return cls(models, models[0].classes_, float(d["acc_real"]), per, int(d["n_folds"]), np.asarray(d["fold_of"]),
                   np.asarray(d["strata"]).astype(str), np.asarray(d["stratum_weights"]), float(d["n_real_correct"]))

    def fold_proba(self, X: np.ndarray) -> np.ndarray:
        """``(probes, n, classes)``: every probe's class probabilities."""
        X = np.asarray(X, np.float32)
        return np.stack([m.predict_proba(X) for m in self.models])

    def probe_weights(self, strata: Sequence[str] | None, n: int) -> np.ndarray:
        """``(probes, n)`` weights of each probe for n generations of the given strata (subjects):
        the stratum's held-out shares; uniform for a stratum the oracle's training set lacks."""
        W = np.full((len(self.models), n), 1.0 / len(self.models))
        if strata is not None:
            row = {s: i for i, s in enumerate(self.strata)}
            for j, s in enumerate(strata):
                if s in row:
                    W[:, j] = self.stratum_weights[row[s]]
        return W

    def predict_topk(self, X: np.ndarray, k: int = 5) -> np.ndarray:
        """Top-k classes of the probes' mean probability (for display; scores use each probe)."""
        proba = self.fold_proba(X).mean(0)
        k = min(k, proba.shape[1])
        return self.classes[np.argsort(-proba, axis=1, kind="stable")[:, :k]]


def fit_oracle(X_real: np.ndarray, y_real: Sequence[str], *, C: float = 10.0, seed: int = 0,
               strata: Sequence[str] | None = None, repeats: int = 2, probe=None) -> Oracle:
    """Fit one probe per stratified fold, ``repeats`` times over; Acc_real from each real image's
    held-out probes (the mean over repeats).

    ``probe(X, y, C, seed)``: the fitting function (default :func:`fit_probe`; scikit-learn's own
    ``LogisticRegression(C=C, max_iter=2000).fit`` gives the same probes, 2-4x slower: see
    ``benchmarks/bench_oracle.py``). Each probe starts from zero: starting a fold's probe from one
    fitted on every image would carry the held-out images' influence into it, within the solver's
    tolerance (measured: Acc_real 0.714 instead of 0.700).

    ``strata`` (e.g. the subject of each image when ``y`` is its class): the folds are stratified on
    them instead of ``y`` when each stratum has >= 2 images, so that a held-out real image's subject
    keeps the same share of its photos in the probe's training set as a generation of that subject
    does (stratifying on the class alone would often hold out all of a subject's photos at once and
    make real photos look harder than generations).
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    X = np.asarray(X_real, np.float32)
    y = np.asarray(y_real).astype(str)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("RCA needs at least 2 identities (classes) in the real images")
    k = int(min(5, counts.min()))
    if k < 2:
        raise ValueError(f"every identity needs at least 2 real images for a held-out accuracy; "
                         f"{', '.join(classes[counts < 2][:5])} has 1")
    split_on = y
    if strata is not None:
        st = np.asarray(strata).astype(str)
        smallest = int(np.unique(st, return_counts=True)[1].min())
        if smallest >= 2:
            split_on, k = st, min(5, smallest)
    names, codes = np.unique(split_on, return_inverse=True)
    fold_of = np.zeros((len(y), repeats), np.int64)
    models, hits = [], np.zeros(len(y))
    held = np.zeros((len(names), k * repeats))
    splits = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=seed).split(X, split_on)
    for f, (tr, te) in enumerate(splits):
        m = (probe or fit_probe)(X[tr], y[tr], C, seed)
        models.append(m)
        hits[te] += m.predict(X[te]) == y[te]
        fold_of[te, f // k] = f
        held[:, f] = np.bincount(codes[te], minlength=len(names))
    correct = hits / repeats
    per = {c: float(correct[y == c].mean()) for c in classes}
    weights = held / held.sum(1, keepdims=True)
    return Oracle(models, models[0].classes_, float(correct.mean()), per, k, fold_of, names.astype(str), weights,
                  float(correct.sum()))


@dataclass
class RCAResult:
    acc_real: float
    acc_gen: float
    acc_gen_top5: float
    rca: float
    per_class: dict[str, dict[str, float]]
    correct: np.ndarray  # per generated image, top-1 correct: the share of its fold probes that name it
    predicted: np.ndarray
    confusion: np.ndarray  # rows: true (oracle classes), columns: predicted
    labels: np.ndarray
    top5: np.ndarray | None = None  # per generated image, the share of its probes with the identity in their top 5
    y: np.ndarray | None = None  # per generated image, its conditioning identity

    def subset(self, oracle: "Oracle", mask: np.ndarray) -> "RCAResult":
        """The same scores restricted to the images in ``mask`` (one method's), without predicting again."""
        mask = np.asarray(mask, bool)
        return _summarise(oracle, self.y[mask], self.correct[mask], self.top5[mask], self.predicted[mask])

    def most_confused(self, n: int = 10) -> list[tuple[str, str, int]]:
        cm = self.confusion.copy()
        np.fill_diagonal(cm, 0)
        idx = np.dstack(np.unravel_index(np.argsort(-cm, axis=None), cm.shape))[0][:n]
        return [(str(self.labels[i]), str(self.labels[j]), int(cm[i, j])) for i, j in idx if cm[i, j] > 0]


def relative_classification_accuracy(oracle: Oracle, X_gen: np.ndarray, y_gen: Sequence[str],
                                     probes: Sequence | None = None, strata: Sequence[str] | None = None) -> RCAResult:
    """Acc_gen, top-5, RCA overall and per identity, and the confusion matrix on generated images.

    Each image's top-1 (and top-5) correctness is the weighted mean over the probes, weighted by
    its stratum's held-out shares (``strata``: each image's subject; uniform when not given);
    ``probes[i]`` (not None: a list of probe indices) restricts image i to those probes, equally
    weighted (a copy of a training image: the probes that did not see it). ``predicted`` and the
    confusion matrix use the weighted mean probability. Generated images of an identity the
    oracle does not know count as wrong.
    """
    y = np.asarray(y_gen).astype(str)
    P = oracle.fold_proba(X_gen) if len(y) else np.zeros((len(oracle.models), 0, len(oracle.classes)))
    use = oracle.probe_weights(strata, len(y))
    for i, ps in enumerate(probes if probes is not None else ()):
        if ps is not None:
            use[:, i] = 0.0
            use[list(ps), i] = 1.0
    # each probe's rank of the true class in its descending, stable order of probabilities (ties: the
    # lower class index first): the classes scoring higher, plus the equal ones before it; no sort
    index = {c: k for k, c in enumerate(oracle.classes)}
    t = np.array([index.get(v, -1) for v in y], np.int64)
    known = t >= 0
    tt = np.where(known, t, 0)
    p_true = np.take_along_axis(P, np.broadcast_to(tt[None, :, None], (P.shape[0], len(y), 1)), axis=2)
    rank = (P > p_true).sum(2) + ((P == p_true) & (np.arange(P.shape[2]) < tt[:, None])[None]).sum(2)
    kk = min(5, P.shape[2])
    top1 = (rank == 0) & known[None, :]
    top5 = (rank < kk) & known[None, :]
    w = use / use.sum(0, keepdims=True)
    correct = (top1 * w).sum(0)
    top5_rate = (top5 * w).sum(0)
    pred = oracle.classes[np.argmax((P * w[:, :, None]).sum(0), axis=1)] if len(y) else np.array([], str)
    return _summarise(oracle, y, correct, top5_rate, pred)


def _summarise(oracle: Oracle, y: np.ndarray, correct: np.ndarray, top5: np.ndarray, pred: np.ndarray) -> RCAResult:
    """Acc_gen, top-5, RCA overall and per identity, and the confusion matrix, from per-image scores."""
    acc_gen = float(correct.mean()) if len(y) else float("nan")
    per = {}
    for c in np.unique(y):
        m = y == c
        ar = oracle.acc_real_per_class.get(c, float("nan"))
        ag = float(correct[m].mean())
        lo, hi = wilson_interval(float(correct[m].sum()), int(m.sum()))
        rca_c = ag / ar if ar and ar > 0 else float("nan")
        per[c] = {"acc_gen": ag, "acc_real": ar, "rca": rca_c, "n": int(m.sum()),
                  "rca_ci": [lo / ar, hi / ar] if ar and ar > 0 else [float("nan")] * 2}
    labels = oracle.classes
    index = {c: k for k, c in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), np.int64)  # rows: true identity (known ones), columns: predicted
    pairs = [(index[t], index[p]) for t, p in zip(y, pred) if t in index and p in index]
    if pairs:
        np.add.at(cm, tuple(np.array(pairs).T), 1)
    rca = acc_gen / oracle.acc_real if oracle.acc_real > 0 else float("nan")
    return RCAResult(oracle.acc_real, acc_gen, float(top5.mean()) if len(y) else float("nan"), rca, per,
                     correct, pred, cm, labels, top5, y)
