import numpy as np

from idbench.stats.bootstrap import cluster_bootstrap


def test_matches_a_plain_loop_with_the_same_draws():
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(6), rng.integers(1, 5, 6))
    values = rng.normal(size=clusters.size) + clusters * 0.3
    res = cluster_bootstrap(values, clusters, n_resamples=500, seed=11)
    # plain loop: resample cluster ids with the same multinomial draws, pool the images
    w = np.random.default_rng(11).multinomial(6, np.full(6, 1 / 6), size=500)
    stats = []
    for row in w:
        picked = np.concatenate([np.repeat(values[clusters == c], row[c]) for c in range(6)])
        stats.append(picked.mean())
    lo, hi = np.quantile(stats, [0.025, 0.975])
    assert np.isclose(res.mean, values.mean()) and np.isclose(res.ci_low, lo) and np.isclose(res.ci_high, hi)
    assert res.n_clusters == 6 and res.n == clusters.size


def test_nan_dropped_and_single_cluster():
    r = cluster_bootstrap([1.0, np.nan, 3.0], ["a", "a", "a"], n_resamples=100)
    assert r.mean == 2.0 and r.ci_low == r.ci_high == 2.0 and r.n == 2


def test_coverage_near_nominal():
    rng = np.random.default_rng(0)
    hits, reps = 0, 200
    for rep in range(reps):
        subj_effect = rng.normal(0, 1.0, 20)
        clusters = np.repeat(np.arange(20), 8)
        values = 5.0 + subj_effect[clusters] + rng.normal(0, 0.5, clusters.size)
        r = cluster_bootstrap(values, clusters, n_resamples=1000, seed=rep)
        hits += r.ci_low <= 5.0 <= r.ci_high
    assert 0.88 <= hits / reps <= 0.99
