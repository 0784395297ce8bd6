import numpy as np
from scipy import stats

from idbench.stats.agreement import agreement, agreement_by_method, fisher_z_mean, krippendorff_alpha_interval, pairwise_accuracy


def test_against_scipy_and_loop():
    rng = np.random.default_rng(0)
    h = rng.integers(1, 6, 40).astype(float)
    m = h + rng.normal(0, 1.5, 40)
    a = agreement(m, h)
    assert np.isclose(a.pearson, stats.pearsonr(m, h)[0]) and np.isclose(a.spearman, stats.spearmanr(m, h)[0])
    assert np.isclose(a.kendall_tau_b, stats.kendalltau(m, h)[0])
    good = tot = 0.0
    for i in range(40):
        for j in range(i + 1, 40):
            if h[i] == h[j]:
                continue
            tot += 1
            good += 0.5 if m[i] == m[j] else float((m[i] > m[j]) == (h[i] > h[j]))
    assert np.isclose(a.pairwise_accuracy, good / tot)


def test_pairwise_accuracy_ties():
    assert pairwise_accuracy([1, 1], [1, 2]) == 0.5 and np.isnan(pairwise_accuracy([1, 2], [3, 3]))


def test_fisher_z_and_by_method():
    assert np.isclose(fisher_z_mean([0.5, 0.5]), 0.5)
    assert np.isclose(fisher_z_mean([0.2, 0.8]), np.tanh((np.arctanh(0.2) + np.arctanh(0.8)) / 2))
    rng = np.random.default_rng(1)
    h = rng.normal(size=60); m = h + rng.normal(0, 1, 60); meth = np.repeat(["a", "b", "c"], 20)
    r = agreement_by_method(m, h, meth)
    assert set(r["per_method"]) == {"a", "b", "c"}
    assert np.isclose(r["fisher_z_mean"]["pearson"], fisher_z_mean([r["per_method"][k]["pearson"] for k in "abc"]))


def test_krippendorff_interval_against_package_and_perfect_agreement():
    import krippendorff

    rng = np.random.default_rng(2)
    x = rng.integers(1, 6, 30).astype(float)
    data = np.vstack([x, x + rng.normal(0, 0.5, 30)])
    data[1, 3] = np.nan
    assert np.isclose(krippendorff_alpha_interval(data)[0],
                      krippendorff.alpha(reliability_data=data, level_of_measurement="interval"))
    assert np.isclose(krippendorff_alpha_interval(np.vstack([x, x]))[0], 1.0)
    # undefined cases say why instead of raising (krippendorff: "more than one value in the domain")
    a, why = krippendorff_alpha_interval(np.ones((2, 5)))
    assert np.isnan(a) and "same value" in why
    a, why = krippendorff_alpha_interval(np.array([[1.0, np.nan], [np.nan, 2.0]]))
    assert np.isnan(a) and "two raters" in why
