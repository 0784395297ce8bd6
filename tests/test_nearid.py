"""NearID: SSR/PA on hand-computed cases, margins vs loops, and the two-tier loss vs a per-sample loop."""

import math

import numpy as np
import pytest
import torch

from idbench.metrics.nearid import sample_margins, ssr_pa, two_tier_loss


def _cos(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_margins_match_definition_loop():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, 5)); v /= np.linalg.norm(v, axis=1, keepdims=True)
    d = rng.standard_normal((3, 5)); d /= np.linalg.norm(d, axis=1, keepdims=True)
    expected = []
    for i in range(3):
        for j in range(i + 1, 3):
            expected += [_cos(v[i], v[j]) - _cos(v[i], d[i]), _cos(v[i], v[j]) - _cos(v[j], d[j])]
    assert np.allclose(sample_margins(v, d), expected)
    assert len(expected) == 6


def test_all_positive_margins():
    r = ssr_pa([np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.01])])
    assert r.ssr == 1.0 and r.pa == 1.0 and r.n_margins == 5


def test_margin_exactly_zero_fails_strictly():
    r = ssr_pa([np.array([0.1, 0.0]), np.array([0.2, 0.3]), np.array([-0.1, 0.4])])
    assert math.isclose(r.ssr, 1 / 3) and math.isclose(r.pa, 4 / 6)
    assert list(r.per_sample_success) == [False, True, False]


def test_missing_distractor_leaves_sample_out_and_counts_it():
    v = np.eye(3, 4)
    d = np.vstack([np.eye(3, 4)[1:] * 0 + 0.1, np.full((1, 4), np.nan)])
    m = sample_margins(v, d)
    assert np.isnan(m).sum() == 2  # the margins that need view 2's distractor
    r = ssr_pa([m, np.array([0.2, 0.2])], ["a", "b"])
    assert r.n_incomplete == 1 and r.n_samples == 1 and r.ssr == 1.0 and r.pa == 1.0
    assert r.per_source == {"b": {"ssr": 1.0, "pa": 1.0, "n_samples": 1}}


def test_micro_pooling_and_per_source():
    ms = [np.array([1, 1, 1, -1.0]), np.array([1, 1.0]), np.array([-1, -1.0])]
    r = ssr_pa(ms, ["x", "x", "y"])
    assert math.isclose(r.pa, 5 / 8)  # pooled over margins, not averaged per sample
    assert r.per_source["x"]["ssr"] == 0.5 and r.per_source["y"]["pa"] == 0.0


def _loss_loop(a, pos, h, T=0.07, alpha=0.5):
    """Per-sample, straight from the formula in METRICS.md."""
    B, P, _ = pos.shape
    K = h.shape[1]
    g = [(m // P, pos[m // P, m % P]) for m in range(B * P)]
    l1_terms, l2_terms = [], []
    for b in range(B):
        z = [float(a[b] @ gm) / T for _, gm in g]
        u = [float(a[b] @ h[b, k]) / T for k in range(K)]
        logits = z + u
        lse = math.log(sum(math.exp(x) for x in logits))
        for p in range(P):
            l1_terms.append(-(z[b * P + p] - lse))
        for k in range(K):
            others = [math.exp(z[m]) for m in range(B * P) if g[m][0] != b]
            l2_terms.append(-math.log(math.exp(u[k]) / (math.exp(u[k]) + sum(others))))
    return np.mean(l1_terms) + alpha * np.mean(l2_terms)


@pytest.mark.parametrize("B,P,K", [(4, 1, 1), (3, 2, 3), (2, 3, 2)])
def test_two_tier_loss_matches_loop(B, P, K):
    g = torch.Generator().manual_seed(B * 100 + P * 10 + K)
    f = lambda *s: torch.nn.functional.normalize(torch.randn(*s, 8, generator=g), dim=-1).double()  # noqa: E731
    a, pos, h = f(B), f(B, P), f(B, K)
    got = two_tier_loss(a, pos, h)
    assert math.isclose(float(got), _loss_loop(a.numpy(), pos.numpy(), h.numpy()), rel_tol=1e-9)


def test_loss_orders_tiers():
    """Lower loss when positive > distractor > random negative than when the distractor wins."""
    e = torch.eye(4).double()
    a = e[:2]
    good = two_tier_loss(a, a[:, None, :], (0.6 * e[:2] + 0.8 * e[2:])[:, None, :])
    bad = two_tier_loss(a, (0.6 * e[:2] + 0.8 * e[2:])[:, None, :], a[:, None, :])
    assert good < bad


def test_head_training_is_seeded_and_saves(tmp_path):
    from idbench.metrics.nearid import IdentityGroup
    from idbench.nearid.head import HeadConfig, load_head, save_head, train_head

    rng = np.random.default_rng(0)
    groups = []
    for i in range(8):
        centre = rng.standard_normal(16)
        views = centre + 0.3 * rng.standard_normal((4, 16))
        dist = views + 0.5 * rng.standard_normal((4, 16))
        groups.append(IdentityGroup(f"id{i}", views.astype(np.float32), dist.astype(np.float32)))
    cfg = HeadConfig(backbone="test", in_dim=16, hidden=32, out_dim=8, epochs=5, batch=4)
    h1, hist1 = train_head(groups[:6], groups[6:], cfg, progress=False)
    h2, hist2 = train_head(groups[:6], groups[6:], cfg, progress=False)
    assert [x["loss"] for x in hist1] == [x["loss"] for x in hist2]
    save_head(h1, cfg, tmp_path / "head")
    h3, cfg3 = load_head(tmp_path / "head")
    x = torch.from_numpy(groups[0].views)
    assert torch.allclose(h1(x), h3(x)) and cfg3.in_dim == 16


def test_intervals_contain_point_estimates():
    rng = np.random.default_rng(0)
    ms = [rng.normal(0.1, 0.2, 6) for _ in range(30)]
    r = ssr_pa(ms)
    s = r.summary()
    assert s["ssr_ci"][0] <= r.ssr <= s["ssr_ci"][1] and s["pa_ci"][0] <= r.pa <= s["pa_ci"][1]
    assert s["ssr_ci"][1] - s["ssr_ci"][0] > 0


def test_part_level_margins_and_mo():
    from scipy.stats import pearsonr

    from idbench.metrics.nearid import m_o, part_level_margins, part_oracle

    m = part_level_margins([0.9, 0.5], [0.8, 0.6], [0.7, 0.5])
    assert np.allclose(m, [[0.1, 0.2], [-0.1, 0.0]])
    r = ssr_pa(list(m))
    assert r.ssr == 0.5 and r.pa == 0.5  # second sample: one negative margin and one exactly 0
    o = part_oracle([10, 20, 30, 40], [100, 100, 100, 100])
    assert np.allclose(o, [0.9, 0.8, 0.7, 0.6])
    s1, s2 = np.array([0.95, 0.85, 0.8, 0.6]), np.array([0.5, 0.7, 0.6, 0.9])
    o2 = np.array([0.6, 0.7, 0.8, 0.9])
    r1, r2 = pearsonr(s1, o)[0], pearsonr(s2, o2)[0]
    assert np.isclose(m_o([s1, s2], [o, o2]), np.tanh((np.arctanh(r1) + np.arctanh(r2)) / 2))
    with pytest.raises(ValueError):
        part_oracle([5], [4])
