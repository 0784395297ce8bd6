
import numpy as np
import pytest
from scipy import linalg

from idbench.metrics.distribution import frechet_distance, kernel_inception_distance, polynomial_mmd2_unbiased
from idbench.metrics.rca import fit_oracle, relative_classification_accuracy


def _clusters(rng, n_cls=5, per=8, d=16, spread=0.6):
    centres = rng.standard_normal((n_cls, d)) * 2
    X = np.concatenate([c + spread * rng.standard_normal((per, d)) for c in centres])
    y = np.repeat([f"id{i}" for i in range(n_cls)], per)
    return centres, X, y


def test_real_held_out_gives_rca_near_one_and_wrong_identity_near_zero():
    rng = np.random.default_rng(0)
    centres, X, y = _clusters(rng)
    oracle = fit_oracle(X, y)
    assert oracle.acc_real > 0.9 and oracle.n_folds == 5
    Xg = np.concatenate([c + 0.6 * rng.standard_normal((6, 16)) for c in centres])
    yg = np.repeat([f"id{i}" for i in range(5)], 6)
    same = relative_classification_accuracy(oracle, Xg, yg)
    assert 0.9 <= same.rca <= 1.1
    wrong = relative_classification_accuracy(oracle, Xg, np.roll(yg, 6))  # every image of another identity
    assert wrong.rca < 0.1 and wrong.acc_gen_top5 >= wrong.acc_gen
    # confusion: rows true, columns predicted, as sklearn; the roll makes id1 -> predicted id0 etc.
    assert wrong.confusion.sum() == len(yg)
    pairs = wrong.most_confused(3)
    assert pairs and pairs[0][2] >= 5


def test_rca_definition_by_hand():
    rng = np.random.default_rng(1)
    centres, X, y = _clusters(rng, n_cls=3, per=6)
    oracle = fit_oracle(X, y)
    Xg = np.vstack([centres[0], centres[1], centres[2], centres[0]])
    yg = np.array(["id0", "id1", "id2", "id2"])  # last one is wrong
    r = relative_classification_accuracy(oracle, Xg, yg)
    assert np.isclose(r.acc_gen, 0.75) and np.isclose(r.rca, 0.75 / oracle.acc_real)
    assert np.isclose(r.per_class["id2"]["acc_gen"], 0.5)
    # Acc_real by hand: the same stratified folds (2 repeats, the default) with a plain loop
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import RepeatedStratifiedKFold

    hits, probes = 0, []
    for tr, te in RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0).split(X, y):
        probes.append(LogisticRegression(C=10.0, max_iter=2000, random_state=0).fit(X[tr], y[tr]))
        hits += (probes[-1].predict(X[te]) == y[te]).sum()
    assert np.isclose(oracle.acc_real, hits / (2 * len(y)))
    # Acc_gen by hand: each generation's correctness is the mean over the 10 probes (equal strata)
    by_hand = np.mean([[p.predict(Xg[i:i + 1])[0] == yg[i] for p in probes] for i in range(len(yg))], axis=1)
    assert np.allclose(r.correct, by_hand)


@pytest.mark.parametrize("n_classes,per,d", [(2, 40, 32), (12, 30, 64), (12, 4, 96)],
                         ids=["binary", "multinomial", "fewer images than dimensions"])
def test_fit_probe_is_scikit_learns_logistic_regression(n_classes, per, d):
    """The probe solves scikit-learn's objective to its tolerance: the same predictions (but for
    near-ties) and the same probabilities to 1e-2, on overlapping classes where the penalty matters."""
    from sklearn.linear_model import LogisticRegression

    from idbench.metrics.rca import fit_probe

    rng = np.random.default_rng(n_classes * per)
    centres = rng.standard_normal((n_classes, d))
    X = np.concatenate([c + 1.5 * rng.standard_normal((per, d)) for c in centres]).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.repeat([f"c{i:02d}" for i in range(n_classes)], per)
    Xt = np.concatenate([c + 1.5 * rng.standard_normal((10, d)) for c in centres]).astype(np.float32)
    Xt /= np.linalg.norm(Xt, axis=1, keepdims=True)
    ref = LogisticRegression(C=10.0, max_iter=5000, tol=1e-8).fit(X, y)  # converged far below the tolerance
    ours = fit_probe(X, y, C=10.0)
    assert list(ours.classes_) == list(ref.classes_) and ours.coef_.shape == ref.coef_.shape
    assert np.abs(ours.predict_proba(Xt) - ref.predict_proba(Xt)).max() < 1e-2
    assert (ours.predict(Xt) == ref.predict(Xt)).mean() >= 0.98
    assert np.abs(ours.coef_ - ref.coef_).max() < 0.05 * np.abs(ref.coef_).max()


def test_oracle_needs_two_images_per_identity():
    with pytest.raises(ValueError, match="at least 2 real images"):
        fit_oracle(np.eye(3), ["a", "a", "b"])


def test_fid_against_closed_form():
    rng = np.random.default_rng(0)
    d = 4
    mu1, mu2 = np.zeros(d), np.arange(d) * 0.5
    A = rng.standard_normal((d, d)); S1 = A @ A.T / d + np.eye(d) * 0.5
    B = rng.standard_normal((d, d)); S2 = B @ B.T / d + np.eye(d) * 0.3
    X = rng.multivariate_normal(mu1, S1, 200000)
    Y = rng.multivariate_normal(mu2, S2, 200000)
    exact = float(np.sum((mu1 - mu2) ** 2) + np.trace(S1 + S2 - 2 * linalg.sqrtm(S1 @ S2).real))
    assert abs(frechet_distance(X, Y) - exact) < 0.02 * exact + 0.01
    assert abs(frechet_distance(X[:1000], X[1000:2000])) < 0.1


def test_fid_warns_on_small_samples():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="singular"):
        frechet_distance(rng.standard_normal((5, 8)), rng.standard_normal((6, 8)))


def _mmd_loop(X, Y):
    k = lambda a, b: (np.dot(a, b) / len(a) + 1) ** 3  # noqa: E731
    m, n = len(X), len(Y)
    xx = sum(k(X[i], X[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(Y[i], Y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(X[i], Y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_against_plain_unbiased_mmd():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((12, 5)), rng.standard_normal((9, 5)) + 0.5
    assert np.isclose(polynomial_mmd2_unbiased(X, Y), _mmd_loop(X, Y))
    r = kernel_inception_distance(X, Y, subset_size=1000, n_subsets=3)
    assert r.subset_size == 9  # never larger than the smaller sample
    # with subsets equal to the whole (smaller) sample, each subset value is the loop's MMD on that subset
    rng2 = np.random.default_rng(0)
    vals = []
    for _ in range(3):
        xi, yi = rng2.choice(12, 9, replace=False), rng2.choice(9, 9, replace=False)
        vals.append(_mmd_loop(X[xi], Y[yi]))
    assert np.isclose(r.mean, np.mean(vals))
    A, B = rng.standard_normal((300, 5)), rng.standard_normal((300, 5))
    same = kernel_inception_distance(A, B, subset_size=100, n_subsets=20)
    shifted = kernel_inception_distance(A, B + 0.5, subset_size=100, n_subsets=20)
    assert abs(same.mean) < 0.1 * shifted.mean


def test_wilson_interval_against_statsmodels_formula():
    from idbench.stats.bootstrap import wilson_interval

    lo, hi = wilson_interval(8, 10)
    # Wilson score interval for 8/10 at 95% (z = 1.96): 0.4902, 0.9433
    assert abs(lo - 0.4902) < 1e-3 and abs(hi - 0.9433) < 1e-3
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_top1_and_top5_are_the_stable_descending_order_of_each_probe():
    """Each probe's top-1 / top-5 as a stable sort of its probabilities reads them (ties: the lower
    class first), with exact ties and identities the oracle does not know among the generations."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 16))
    y = np.repeat([f"c{i}" for i in range(10)], 30)
    oracle = fit_oracle(X, y)
    Xg = rng.standard_normal((200, 16))
    yg = np.array([f"c{i}" for i in rng.integers(0, 12, 200)])  # c10, c11: unknown to the oracle
    P = oracle.fold_proba(Xg)
    P[:, :, :6] = np.round(P[:, :, :6], 1)  # many exact ties
    oracle.fold_proba = lambda X: P
    r = relative_classification_accuracy(oracle, Xg, yg)
    order = np.argsort(-P, axis=2, kind="stable")
    assert np.allclose(r.correct, (oracle.classes[order[:, :, 0]] == yg[None]).mean(0))
    assert np.allclose(r.top5, (oracle.classes[order[:, :, :5]] == yg[None, :, None]).any(2).mean(0))


@pytest.mark.parametrize("k", [2, 7])
def test_linear_probe_predicts_as_scikit_learns_logistic_regression(k):
    """The same weights give scikit-learn's probabilities (to its float32 rounding: it computes in
    the features' dtype, the probe in float64) and classes, binary and multinomial."""
    from sklearn.linear_model import LogisticRegression

    from idbench.metrics.rca import LinearProbe

    rng = np.random.default_rng(k)
    X = rng.standard_normal((60, 12)).astype(np.float32)
    y = np.array([f"c{i}" for i in rng.integers(0, k, 60)])
    ref = LogisticRegression(C=10.0, max_iter=2000).fit(X, y)
    ours = LinearProbe(ref.coef_, ref.intercept_, ref.classes_)
    Xt = rng.standard_normal((40, 12)).astype(np.float32)
    assert np.abs(ours.predict_proba(Xt) - ref.predict_proba(Xt)).max() < 1e-6
    assert (ours.predict(Xt) == ref.predict(Xt)).all()
