import itertools

import numpy as np

from idbench.stats.compare import compare_methods, holm, rank_with_ties, sign_flip_pvalue


def test_all_positive_differences_exact_p():
    for n in (3, 5, 8):
        d = np.arange(1, n + 1, dtype=float)
        assert np.isclose(sign_flip_pvalue(d), 2 / 2**n)


def test_exact_p_matches_enumeration_loop():
    d = np.array([0.5, -0.2, 0.3, 0.1, -0.4, 0.6])
    obs = abs(d.mean())
    hits = sum(abs(np.mean(np.array(s) * d)) >= obs - 1e-12 for s in itertools.product([1, -1], repeat=6))
    assert np.isclose(sign_flip_pvalue(d), hits / 64)


def test_monte_carlo_close_to_exact():
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1, 18)
    exact = sign_flip_pvalue(d, exact_limit=20)
    mc = sign_flip_pvalue(d, exact_limit=10, n_resamples=20000)
    assert abs(exact - mc) < 0.02


def test_holm_against_loop():
    p = [0.01, 0.04, 0.03, 0.2, float("nan")]
    got = holm(p)
    order = np.argsort(p[:4])
    adj = [0.0] * 4
    run = 0
    for r, i in enumerate(order):
        run = max(run, min(1, (4 - r) * p[i]))
        adj[i] = run
    assert np.allclose(got[:4], adj) and np.isnan(got[4])


def test_compare_and_ties():
    rng = np.random.default_rng(1)
    subs = [f"s{i}" for i in range(12)]
    base = {s: rng.normal() for s in subs}
    means = {"good": {s: base[s] + 1.0 for s in subs}, "good2": {s: base[s] + 1.0 + rng.normal(0, 0.01) for s in subs},
             "bad": {s: base[s] for s in subs}}
    rows = compare_methods(means, "m", n_resamples=2000)
    by = {(r.a, r.b): r for r in rows}
    assert by[("bad", "good")].p < 0.01 and by[("bad", "good")].diff < 0
    assert by[("good", "good2")].p_holm > 0.05
    ranks = rank_with_ties({m: np.mean(list(v.values())) for m, v in means.items()}, rows)
    assert [r for r, _ in ranks] == [1, 1, 3]
