"""Retrieval metrics against independent computations: sklearn AP, and plain loops over a full sort."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from idbench.metrics.retrieval import retrieval_metrics, topk_search


def _norm(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _loop_metrics(q, ql, g, gl, ks=(1, 5, 10), ties="pessimistic", qid=None, gid=None):
    """Straight from the definitions: sort the whole gallery, walk down the list."""
    out = []
    for i in range(len(q)):
        keep = [j for j in range(len(g)) if qid is None or gid[j] != qid[i]]
        sims = {j: float(np.dot(q[i], g[j])) for j in keep}
        rel = {j: gl[j] == ql[i] for j in keep}
        # pessimistic: among equal similarity, irrelevant first; optimistic: relevant first
        key = (lambda j: (-sims[j], rel[j])) if ties == "pessimistic" else (lambda j: (-sims[j], not rel[j]))
        order = sorted(keep, key=key)
        n = sum(rel.values())
        if n == 0:
            out.append(None)
            continue
        hits, ap, ranks = 0, 0.0, []
        for pos, j in enumerate(order, 1):
            if rel[j]:
                hits += 1
                ap += hits / pos
                ranks.append(pos)
        m = {"ap": ap / n, "p@1": float(rel[order[0]]), "rr": 1.0 / ranks[0],
             "r_precision": sum(rel[j] for j in order[:n]) / n,
             "map@r": sum((sum(rel[x] for x in order[:p]) / p) * rel[order[p - 1]] for p in range(1, n + 1)) / n,
             "avg_cos": np.mean([sims[j] for j in keep if rel[j]])}
        for k in ks:
            m[f"cmc@{k}"] = float(ranks[0] <= k)
        out.append(m)
    return out


def _compare(res, loop):
    for i, m in enumerate(loop):
        if m is None:
            continue
        for name, v in m.items():
            assert np.isclose(res.per_query[name][i], v, atol=1e-6), (i, name, res.per_query[name][i], v)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_against_sklearn_and_loop(seed):
    rng = np.random.default_rng(seed)
    g = _norm(rng.standard_normal((60, 8)))
    q = _norm(rng.standard_normal((25, 8)))
    gl = rng.integers(0, 6, 60)
    ql = rng.integers(0, 6, 25)
    res = retrieval_metrics(q, ql, g, gl, block_size=7)
    for i in range(len(q)):
        assert np.isclose(res.per_query["ap"][i], average_precision_score(gl == ql[i], g @ q[i]))
    _compare(res, _loop_metrics(q, ql, g, gl))


@pytest.mark.parametrize("ties", ["pessimistic", "optimistic"])
def test_ties_rule_and_order_independence(ties):
    rng = np.random.default_rng(5)
    # small integer vectors: inner products are exact, so ties are real ties whatever the summation order
    g = rng.integers(0, 3, (40, 4)).astype(np.float32)
    q = rng.integers(0, 3, (12, 4)).astype(np.float32)
    gl, ql = rng.integers(0, 3, 40), rng.integers(0, 3, 12)
    res = retrieval_metrics(q, ql, g, gl, ties=ties)
    _compare(res, _loop_metrics(q, ql, g, gl, ties=ties))
    perm = rng.permutation(40)
    res2 = retrieval_metrics(q, ql, g[perm], gl[perm], ties=ties)
    for name in res.per_query:
        assert np.allclose(res.per_query[name], res2.per_query[name], equal_nan=True)


def test_hand_computed_tie():
    q = np.array([[1.0, 0.0]], np.float32)
    g = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)  # relevant and irrelevant tie at the top
    pess = retrieval_metrics(q, ["a"], g, ["b", "a", "a"], ties="pessimistic")
    opt = retrieval_metrics(q, ["a"], g, ["b", "a", "a"], ties="optimistic")
    assert np.isclose(pess.mean("ap"), (1 / 2 + 2 / 3) / 2) and pess.mean("p@1") == 0
    assert np.isclose(opt.mean("ap"), (1 / 1 + 2 / 3) / 2) and opt.mean("p@1") == 1


def test_no_relevant_policies():
    q = _norm(np.eye(3, 4, dtype=np.float32) + 0.1)
    g = _norm(np.random.default_rng(0).standard_normal((5, 4)))
    ql, gl = ["a", "zzz", "b"], ["a", "a", "b", "c", "c"]
    zero = retrieval_metrics(q, ql, g, gl)
    assert zero.n_no_relevant == 1 and zero.per_query["ap"][1] == 0 and zero.per_query["cmc@5"][1] == 0
    skip = retrieval_metrics(q, ql, g, gl, no_relevant="skip")
    assert np.isnan(skip.per_query["ap"][1])
    assert np.isclose(skip.mean("ap"), np.mean(zero.per_query["ap"][[0, 2]]))
    with pytest.raises(ValueError, match="no relevant"):
        retrieval_metrics(q, ql, g, gl, no_relevant="error")


def test_lone_query_one_item_gallery_and_duplicates():
    q = np.array([[1.0, 0.0]], np.float32)
    one = retrieval_metrics(q, ["a"], q.copy(), ["a"])
    assert one.mean("ap") == 1 and one.mean("cmc@1") == 1 and one.mean("r_precision") == 1
    dup = np.repeat(np.array([[0.6, 0.8]], np.float32), 4, axis=0)
    res = retrieval_metrics(q, ["a"], dup, ["a", "b", "a", "b"])
    _compare(res, _loop_metrics(q, ["a"], dup, ["a", "b", "a", "b"]))


def test_query_left_out_of_gallery_by_id():
    rng = np.random.default_rng(3)
    g = _norm(rng.standard_normal((20, 6)))
    gl = np.repeat(np.arange(5), 4)
    gid = [f"img{i}" for i in range(20)]
    res = retrieval_metrics(g, gl, g, gl, query_ids=gid, gallery_ids=gid)
    _compare(res, _loop_metrics(g, gl, g, gl, qid=gid, gid=gid))
    assert res.mean("p@1") < 1 or res.mean("ap") < 1  # not trivially matching itself
    assert (res.n_relevant == 3).all()


def test_peer_conventions_documented():
    """torchreid's evaluate_rank (no camera filter) averages AP over queries with a match only:
    that is no_relevant='skip'; pytorch-metric-learning's mean_average_precision_at_r is map@r."""
    rng = np.random.default_rng(9)
    g = _norm(rng.standard_normal((30, 5))); q = _norm(rng.standard_normal((10, 5)))
    gl = rng.integers(0, 4, 30); ql = np.r_[rng.integers(0, 4, 9), 99]
    res = retrieval_metrics(q, ql, g, gl, no_relevant="skip")
    # torchreid-style loop: argsort each row, cumulative matches, AP = sum(precision at hits)/num_rel
    aps = []
    for i in range(9):
        order = np.argsort(-(g @ q[i]), kind="stable")
        matches = (gl[order] == ql[i]).astype(float)
        cum = matches.cumsum()
        aps.append(((cum / np.arange(1, 31)) * matches).sum() / matches.sum())
    assert np.isclose(res.mean("ap"), np.mean(aps))


def test_topk_search_matches_numpy():
    rng = np.random.default_rng(1)
    g = _norm(rng.standard_normal((500, 16))); q = _norm(rng.standard_normal((30, 16)))
    sims, idx = topk_search(q, g, 5)
    full = q @ g.T
    assert np.array_equal(idx, np.argsort(-full, axis=1)[:, :5])
    assert np.allclose(sims, np.take_along_axis(full, idx, 1), atol=1e-5)
    sims2, idx2 = topk_search(q, g, 5, use_faiss=False)
    assert np.array_equal(idx, idx2)


@pytest.mark.parametrize("ties", ["pessimistic", "optimistic"])
@pytest.mark.parametrize("with_ids", [False, True])
def test_engine_paths_agree_exactly(ties, with_ids):
    """The candidate-pair path, the sorted-rows path (forced by candidate_share) and explicit
    device='cpu' give identical per-query metrics, with ties, exclusions and no-relevant queries."""
    rng = np.random.default_rng(7)
    G = np.round(rng.normal(size=(300, 6)), 1).astype(np.float32)  # coarse values: many exact ties
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    Q = np.concatenate([G[:40], np.round(rng.normal(size=(30, 6)), 1).astype(np.float32)])
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    gl = rng.integers(0, 12, len(G))
    ql = np.concatenate([gl[:40], rng.integers(0, 14, 30)])  # labels 12, 13: no relevant item
    kw = dict(ties=ties, block_size=16)
    if with_ids:
        kw.update(query_ids=list(range(40)) + [-1] * 30, gallery_ids=list(range(300)))
    a = retrieval_metrics(Q, ql, G, gl, candidate_share=1.0, **kw)
    b = retrieval_metrics(Q, ql, G, gl, candidate_share=0.0, **kw)
    c = retrieval_metrics(Q, ql, G, gl, device="cpu", **kw)
    for name in a.per_query:
        np.testing.assert_array_equal(a.per_query[name], b.per_query[name])
        np.testing.assert_array_equal(a.per_query[name], c.per_query[name])
    assert (a.n_candidates == b.n_candidates).all()


def test_order_keys_keep_order_and_ties_exactly():
    import torch

    from idbench.metrics.retrieval import _order_keys

    x = np.array([-np.inf, -1.0, -0.5, -1e-30, -0.0, 0.0, 1e-30, 0.25, 0.25, np.nextafter(np.float32(0.25), np.float32(1)),
                  1.0, np.inf], dtype=np.float32)
    k = _order_keys(torch.from_numpy(x)).numpy()
    for i in range(len(x)):
        for j in range(len(x)):
            assert (x[i] < x[j]) == (k[i] < k[j]) and (x[i] == x[j]) == (k[i] == k[j]), (x[i], x[j])


def test_query_ids_that_never_meet_the_gallery_change_nothing():
    """The engine skips the id exclusion when no query id is in the gallery: same result as without ids."""
    rng = np.random.default_rng(5)
    Q, G = rng.standard_normal((30, 8)).astype(np.float32), rng.standard_normal((200, 8)).astype(np.float32)
    ql, gl = rng.integers(0, 10, 30), rng.integers(0, 10, 200)
    a = retrieval_metrics(Q, ql, G, gl)
    b = retrieval_metrics(Q, ql, G, gl, query_ids=[f"q{i}" for i in range(30)], gallery_ids=[f"g{i}" for i in range(200)])
    assert np.array_equal(a.per_query["ap"], b.per_query["ap"]) and np.array_equal(a.n_candidates, b.n_candidates)
    c = retrieval_metrics(Q, ql, G, gl, query_ids=[f"g{i}" for i in range(30)], gallery_ids=[f"g{i}" for i in range(200)])
    assert (c.n_candidates == 199).all()


@pytest.mark.parametrize("ties", ["pessimistic", "optimistic"])
@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])  # the dense path, a mix of both, the candidate path
def test_several_levels_at_once_equal_one_call_per_level(ties, share):
    from idbench.metrics.retrieval import retrieval_metrics, retrieval_metrics_levels

    rng = np.random.default_rng(7)
    n_sub, per = 12, 5
    subj = np.repeat(np.arange(n_sub), per)
    cls = subj // 4  # nests: each subject inside one class
    odd = rng.integers(0, 3, len(subj))  # does not nest: ranked on its own order
    centres = rng.normal(size=(n_sub, 16))
    G = centres[subj] + 0.6 * rng.normal(size=(len(subj), 16))
    G = np.round(G / np.linalg.norm(G, axis=1, keepdims=True), 2)  # rounding makes ties
    qs = rng.integers(0, n_sub + 1, 30)  # one subject (n_sub) is not in the gallery
    Q = np.concatenate([centres, rng.normal(size=(1, 16))])[qs] + 0.6 * rng.normal(size=(30, 16))
    Q = np.round(Q / np.linalg.norm(Q, axis=1, keepdims=True), 2)
    qcls, qodd = qs // 4, qs % 3
    gids = np.arange(len(G))
    qids = np.where(np.arange(30) % 5 == 0, rng.integers(0, len(G), 30), -1)  # some queries meet their own id
    levels = [(qcls, cls), (qs, subj), (qodd, odd)]
    kw = dict(query_ids=qids, gallery_ids=gids, ties=ties, candidate_share=share, block_size=7)
    together = retrieval_metrics_levels(Q, [q for q, _ in levels], G, [g for _, g in levels], **kw)
    for (ql, gl), res in zip(levels, together):
        alone = retrieval_metrics(Q, ql, G, gl, **kw)
        for m in alone.per_query:  # ranks exactly; the mean relevant cosine up to float32 summation order
            if m == "avg_cos":
                np.testing.assert_allclose(res.per_query[m], alone.per_query[m], rtol=0, atol=1e-6)
            else:
                np.testing.assert_array_equal(res.per_query[m], alone.per_query[m], err_msg=m)
        np.testing.assert_array_equal(res.n_relevant, alone.n_relevant)


def test_label_codes_of_plain_arrays_equal_the_per_value_table():
    """encode_labels' numpy fast path gives the codes of its per-value table (first appearance order)."""
    from idbench.metrics.labels import encode_labels

    rng = np.random.default_rng(1)
    for kind in ("int", "str", "bool") * 40:
        arrs = [rng.integers(-5, 9, rng.integers(0, 30)) for _ in range(rng.integers(1, 4))]
        arrs = [a.astype(str) for a in arrs] if kind == "str" else [a > 2 for a in arrs] if kind == "bool" else arrs
        fast = encode_labels(*arrs)
        slow = encode_labels(*[a.tolist() for a in arrs])
        assert len(fast) == len(arrs)
        for f, s in zip(fast, slow):
            np.testing.assert_array_equal(f, s)


@pytest.mark.parametrize("first", [True, False])
def test_run_bounds_equal_searchsorted_of_a_row_in_itself(first):
    import torch

    from idbench.metrics.retrieval import _run_bounds

    rng = np.random.default_rng(0)
    for _ in range(50):
        x = torch.from_numpy(np.sort(np.round(rng.random((5, rng.integers(1, 40))), 1).astype(np.float32), axis=1))
        x[0, -2:] = float("inf")  # the padding of rows with fewer relevant items
        assert torch.equal(_run_bounds(x, first), torch.searchsorted(x, x, right=not first))
