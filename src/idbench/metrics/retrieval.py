"""Retrieval metrics for the Finer-Personalization Rank protocol, exact and sort-free.

Every query (a generated image) ranks the *whole* gallery by descending cosine similarity
(ascending distance ``1 - cos``). Only the ranks of the relevant items matter, so instead of
sorting each row of the query x gallery matrix, idbench counts, for each relevant item, how many
irrelevant items score at least as high:

    rank_k = k + #{irrelevant g : s(g) >= s_(k)}      (s_(k): k-th highest relevant similarity)

The engine works in query blocks (memory O(block x gallery)) with the gallery sorted by label, so
each query's relevant items are one contiguous slice whose scores are gathered directly. Only
items scoring at least the query's lowest relevant score can change a rank: when those candidates
are few (any useful encoder), they are counted pair by pair; when they are many (a near-random
encoder, or a coarse level with hundreds of relevant items), each row is sorted once (numpy's
vectorised sort, in place) and every relevant score is placed in it with one ``searchsorted``. Several
nested levels are ranked from one similarity product per block (:func:`retrieval_metrics_levels`);
when one level needs sorted rows, every level of the block counts in them. Measured
(``benchmarks/bench_rank.py``, 2,000 x 50,000 x 512, 2 CPU cores): 1.57x the similarity matmul alone
at mAP 0.91, 1.77x at mAP 0.001, and two levels (class, subject) at 1.01x the two matmuls; the same
code runs on a CUDA device (``device=``).

Ties (documented rule, independent of input order): **pessimistic** by default -- a relevant item
that ties with irrelevant items is ranked after all of them; ``ties="optimistic"`` ranks it before.
Tied relevant items among themselves do not change any metric.

Per-query metrics, from the 1-based ranks ``r_1 < r_2 < ... < r_N`` of the N relevant items (each
defined once, for one query, by the function named beside it; :func:`retrieval_metrics` fills them
all in one exact pass over the gallery and is tested equal to these definitions):

* AP        = (1/N) sum_k k / r_k      :func:`average_precision`  (published mAP = mean over queries)
* CMC@k     = [r_1 <= k]               :func:`cmc_at_k` (Recall@k in the re-ID sense)
* P@1       = [r_1 == 1]               :func:`precision_at_1`
* RR        = 1 / r_1                  :func:`reciprocal_rank` (mean: MRR)
* R-prec    = #{k : r_k <= N} / N      :func:`r_precision`
* mAP@R     = (1/N) sum_{k : r_k <= N} k / r_k   :func:`map_at_r` (pytorch-metric-learning)
* avg_cos   = mean cosine to the relevant gallery items          (published avg_cos_sim)

Queries with no relevant item: ``no_relevant="zero"`` (published; all metrics 0, avg_cos NaN),
``"skip"`` (NaN, excluded from means) or ``"error"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

METRICS = ("ap", "p@1", "rr", "r_precision", "map@r", "avg_cos")
DEFAULT_KS = (1, 5, 10)


@dataclass
class RetrievalResult:
    """Per-query metrics (arrays of length n_queries) and their means."""

    per_query: dict[str, np.ndarray]
    n_relevant: np.ndarray
    n_no_relevant: int
    ks: tuple[int, ...]
    n_candidates: np.ndarray | None = None  # gallery items each query ranks (after leaving out its own id)

    def chance(self) -> dict[str, float]:
        """Mean over queries of the exact expected AP and CMC@k of a uniformly random ranking."""
        if self.n_candidates is None:
            raise ValueError("n_candidates unknown")
        return chance_retrieval(self.n_relevant, self.n_candidates, self.ks)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (stored by the results cache, never pickled)."""
        out = {f"q:{k}": v for k, v in self.per_query.items()}
        out.update(n_relevant=self.n_relevant, n_no_relevant=np.int64(self.n_no_relevant), ks=np.array(self.ks))
        if self.n_candidates is not None:
            out["n_candidates"] = self.n_candidates
        return out

    @classmethod
    def from_arrays(cls, d: dict[str, np.ndarray]) -> "RetrievalResult":
        return cls({k[2:]: np.asarray(v) for k, v in d.items() if k.startswith("q:")}, np.asarray(d["n_relevant"]),
                   int(d["n_no_relevant"]), tuple(int(k) for k in d["ks"]),
                   np.asarray(d["n_candidates"]) if "n_candidates" in d else None)

    def mean(self, name: str) -> float:
        v = self.per_query[name]
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")

    def summary(self) -> dict[str, float]:
        out = {name: self.mean(name) for name in self.per_query}
        out["n_queries"] = int(len(self.n_relevant))
        out["n_no_relevant"] = int(self.n_no_relevant)
        return out


def _relevant_ranks(relevant_ranks) -> np.ndarray:
    r = np.sort(np.asarray(relevant_ranks, dtype=float))
    if r.ndim != 1 or (r < 1).any():
        raise ValueError("relevant_ranks: 1-based ranks of the relevant items, a 1-d array")
    return r


def average_precision(relevant_ranks) -> float:
    """AP of one query from the 1-based ranks of its N relevant items: (1/N) sum_k k / r_k.

    >>> average_precision([1, 3])
    0.8333333333333333
    """
    r = _relevant_ranks(relevant_ranks)
    return float((np.arange(1, len(r) + 1) / r).mean()) if len(r) else 0.0


def precision_at_1(relevant_ranks) -> float:
    """P@1 = 1 if a relevant item is ranked first, else 0 (equals CMC@1 for one query).

    >>> precision_at_1([2, 5])
    0.0
    """
    r = _relevant_ranks(relevant_ranks)
    return float(len(r) > 0 and r[0] == 1)


def cmc_at_k(relevant_ranks, k: int) -> float:
    """CMC@k (Recall@k in the re-identification sense) = 1 if r_1 <= k.

    >>> cmc_at_k([4, 9], 5)
    1.0
    """
    r = _relevant_ranks(relevant_ranks)
    return float(len(r) > 0 and r[0] <= k)


def reciprocal_rank(relevant_ranks) -> float:
    """RR = 1 / r_1 (mean over queries: MRR).

    >>> reciprocal_rank([4, 9])
    0.25
    """
    r = _relevant_ranks(relevant_ranks)
    return float(1.0 / r[0]) if len(r) else 0.0


def r_precision(relevant_ranks) -> float:
    """R-precision = #{k : r_k <= N} / N.

    >>> r_precision([1, 3])
    0.5
    """
    r = _relevant_ranks(relevant_ranks)
    return float((r <= len(r)).mean()) if len(r) else 0.0


def map_at_r(relevant_ranks) -> float:
    """mAP@R = (1/N) sum_{k : r_k <= N} k / r_k (Musgrave et al.'s MAP@R for one query).

    >>> map_at_r([1, 3])
    0.5
    """
    r = _relevant_ranks(relevant_ranks)
    if not len(r):
        return 0.0
    k = np.arange(1, len(r) + 1)
    return float(np.where(r <= len(r), k / r, 0.0).sum() / len(r))


def _encode_labels(query_labels: Sequence, gallery_labels: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Shared integer codes by equality of the labels as given (one type only; see metrics.labels)."""
    from idbench.metrics.labels import encode_labels

    q, g = encode_labels(query_labels, gallery_labels)
    return q, g


def retrieval_metrics(query_emb: np.ndarray, query_labels: Sequence, gallery_emb: np.ndarray,
                      gallery_labels: Sequence, **options) -> RetrievalResult:
    """Exact retrieval metrics of every query against the whole gallery: one level of
    :func:`retrieval_metrics_levels`, whose keyword options (and their defaults) it takes.

    Parameters
    ----------
    query_emb, gallery_emb : (Q, D) and (G, D) L2-normalised float rows.
    query_labels, gallery_labels : identity labels at the chosen granularity.
    query_ids, gallery_ids : optional ids; a gallery item with the query's own id is left out of
        that query's ranking (a real reference queried against a gallery that contains it).
    ks : cut-offs for CMC / Recall@k.
    ties : "pessimistic" (default) or "optimistic"; see the module docstring.
    no_relevant : "zero" (default, published), "skip" or "error".
    block_size : queries per block (at most ``block_elements`` similarities per block, 2^26 by
        default: 256 MB of float32); memory is O(block x G).
    device : torch device for the similarity matrix and the counting ("cuda" on a GPU machine);
        default CPU. The same code runs on either; results are identical up to float rounding of
        the similarities.
    candidate_share : engine tuning: when a level's share of candidate items in a block (estimated
        on a sample of about 4,096 columns) is above this, the block's rows are sorted and every
        level places its relevant scores in them instead of counting pairs. Results are exact
        either way.

    Examples
    --------
    >>> q = np.array([[1.0, 0.0]]); g = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    >>> r = retrieval_metrics(q, ["a"], g, ["a", "b", "a"])
    >>> round(r.mean("ap"), 4)   # relevant at ranks 2 and 3: (1/2 + 2/3) / 2
    0.5833
    """
    return retrieval_metrics_levels(query_emb, [query_labels], gallery_emb, [gallery_labels], **options)[0]


def retrieval_metrics_levels(
    query_emb: np.ndarray,
    query_labels: Sequence[Sequence],
    gallery_emb: np.ndarray,
    gallery_labels: Sequence[Sequence],
    *,
    query_ids: Sequence | None = None,
    gallery_ids: Sequence | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    ties: str = "pessimistic",
    no_relevant: str = "zero",
    block_size: int = 1024,
    device: str | None = None,
    candidate_share: float = 0.05,
    block_elements: int = 1 << 26,
) -> list[RetrievalResult]:
    """:func:`retrieval_metrics` at several label levels at once (``query_labels[k]`` and
    ``gallery_labels[k]`` for level k, e.g. class then subject): each block of similarities is
    computed once for every level. The gallery is ordered by all the levels together (coarsest
    first), so each query's relevant items are one contiguous slice at every level that nests in
    the ones before it (a subject inside its class); a level that does not nest is ranked on its own.
    Results are identical to one :func:`retrieval_metrics` call per level.

    >>> q = np.array([[1.0, 0.0]]); g = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    >>> [round(r.mean("ap"), 4) for r in retrieval_metrics_levels(q, [["x"], ["a"]], g, [["x", "x", "x"], ["a", "b", "a"]])]
    [1.0, 0.5833]
    """
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"ties must be 'pessimistic' or 'optimistic', got {ties!r}")
    if no_relevant not in ("zero", "skip", "error"):
        raise ValueError(f"no_relevant must be 'zero', 'skip' or 'error', got {no_relevant!r}")
    if len(query_labels) != len(gallery_labels) or not len(query_labels):
        raise ValueError("give the query and gallery labels of the same levels (at least one)")
    Q = np.ascontiguousarray(query_emb, dtype=np.float32)
    G = np.ascontiguousarray(gallery_emb, dtype=np.float32)
    if Q.ndim != 2 or G.ndim != 2 or Q.shape[1] != G.shape[1]:
        raise ValueError(f"expected (Q, D) and (G, D) embeddings, got {Q.shape} and {G.shape}")
    for ql, gl in zip(query_labels, gallery_labels):
        if len(ql) != len(Q) or len(gl) != len(G):
            raise ValueError("labels must have one entry per embedding row")
    if len(G) == 0:
        raise ValueError("the gallery is empty")
    ks = tuple(sorted({int(k) for k in ks}))
    if any(k < 1 for k in ks):
        raise ValueError(f"ks must be >= 1, got {ks}")
    codes = [_encode_labels(ql, gl) for ql, gl in zip(query_labels, gallery_labels)]
    iq = ig = None
    if query_ids is not None and gallery_ids is not None:
        iq, ig = _encode_labels(query_ids, gallery_ids)
        if not np.isin(iq, ig).any():  # no query meets its own id in the gallery: nothing to leave out
            iq = ig = None
    import torch

    dev = torch.device(device) if device is not None else torch.device("cpu")

    # The gallery ordered by every level (coarsest first): a level whose codes form one run each in
    # that order has each query's relevant items in one contiguous slice [lo, hi); the others are
    # ranked alone, in their own order.
    order = np.lexsort([lg for _, lg in reversed(codes)])
    together = [k for k, (_, lg) in enumerate(codes) if _runs(lg[order]) == len(np.unique(lg))]
    alone = [k for k in range(len(codes)) if k not in together]
    results: list[RetrievalResult | None] = [None] * len(codes)
    for k in alone:  # (one level is always one run per label in its own order)
        results[k] = retrieval_metrics(Q, query_labels[k], G, gallery_labels[k], query_ids=query_ids,
                                       gallery_ids=gallery_ids, ks=ks, ties=ties, no_relevant=no_relevant,
                                       block_size=block_size, device=device, candidate_share=candidate_share,
                                       block_elements=block_elements)
    if not together:
        return results
    nq = len(Q)
    Gt = torch.from_numpy(np.ascontiguousarray(G[order])).to(dev)
    ig_t = torch.from_numpy(ig[order]).to(dev) if ig is not None else None
    iq_t = torch.from_numpy(iq).to(dev) if iq is not None else None
    n_cand = np.full(nq, len(G), dtype=np.int64)
    if iq is not None:  # gallery items sharing the query's id are left out of its ranking
        ids, counts = np.unique(ig, return_counts=True)
        per_id = dict(zip(ids.tolist(), counts.tolist()))
        n_cand -= np.array([per_id.get(i, 0) for i in iq.tolist()], dtype=np.int64)
    states = []
    for k in together:
        lq, lg = codes[k]
        lg_s = lg[order]
        n_codes = int(max(lq.max(initial=-1), lg.max(initial=-1))) + 1
        first = np.full(n_codes, len(G), np.int64)
        last = np.zeros(n_codes, np.int64)
        np.minimum.at(first, lg_s, np.arange(len(G)))
        np.maximum.at(last, lg_s, np.arange(1, len(G) + 1))
        lo_q, hi_q = np.where(first[lq] < len(G), first[lq], 0), np.where(first[lq] < len(G), last[lq], 0)
        out = {name: np.full(nq, np.nan) for name in METRICS}
        for c in ks:
            out[f"cmc@{c}"] = np.full(nq, np.nan)
        states.append({"k": k, "lo": torch.from_numpy(lo_q).to(dev), "hi": torch.from_numpy(hi_q).to(dev),
                       "span": int((hi_q - lo_q).max()) if nq else 0, "out": out,
                       "n_rel": np.zeros(nq, dtype=np.int64)})
    block_size = max(1, min(block_size, block_elements // max(len(G), 1)))
    right = ties == "pessimistic"
    buf = torch.empty((min(block_size, nq), len(G)), dtype=torch.float32, device=dev)  # one block, reused
    for start in range(0, nq, block_size):
        stop = min(start + block_size, nq)
        # (B, G): the only full-size product, for every level
        S = torch.mm(torch.from_numpy(Q[start:stop]).to(dev), Gt.T, out=buf[: stop - start])
        iq_b = iq_t[start:stop] if iq_t is not None else None
        blocks = [b for b in (_relevant_block(S, st, start, stop, ig_t, iq_b, len(G), dev, candidate_share)
                              for st in states if st["span"]) if b is not None]
        if not any(b.dense for b in blocks):  # few candidates at every level: counted pair by pair
            for b in blocks:
                _finish(b, _count_candidates(S, b, ig_t, iq_b, right), ks)
        else:  # many at some level: the block's rows are sorted once (in place), and every level counts in them
            excluded = _excluded_scores(S, ig_t, iq_b)
            if S.device.type == "cpu":
                S.numpy().sort(axis=1)  # numpy's vectorised sort, in place: S is not needed after this
                srt = S
            else:
                srt = S.sort(dim=1).values
            for b in blocks:
                _finish(b, _count_sorted(srt, b, excluded, right), ks)
    for st in states:
        out, n_rel = st["out"], st["n_rel"]
        none = n_rel == 0
        if none.any():
            if no_relevant == "error":
                bad = np.flatnonzero(none)[:5].tolist()
                raise ValueError(f"{int(none.sum())} queries have no relevant gallery item (e.g. query indices {bad})")
            for name in out:
                if name != "avg_cos":
                    out[name][none] = 0.0 if no_relevant == "zero" else np.nan
        results[st["k"]] = RetrievalResult(out, n_rel, int(none.sum()), ks, n_cand.copy())
    return results


def _runs(x: np.ndarray) -> int:
    """The number of runs of equal values in ``x``."""
    return int(len(x) > 0) + int(np.count_nonzero(x[1:] != x[:-1]))


@dataclass
class _LevelBlock:
    """One level's relevant scores for a block of queries (small: B x the largest relevant count)."""

    st: dict
    start: int
    lo: torch.Tensor
    hi: torch.Tensor
    rel: torch.Tensor  # relevant similarities, +inf past each row's count
    valid: torch.Tensor
    R: torch.Tensor  # relevant items per query
    thr: torch.Tensor  # ascending relevant similarities, the first rmax columns
    dense: bool  # most items score at least a relevant one: count in sorted rows


def _relevant_block(S, st: dict, start: int, stop: int, ig_t, iq_b, n_gallery: int, dev,
                    candidate_share: float) -> _LevelBlock | None:
    """Gather one level's relevant similarities for the queries ``start:stop`` from their block ``S``
    and choose how to count the items above them (None when no query of the block has one)."""
    import torch

    span, lo_t, hi_t = st["span"], st["lo"][start:stop], st["hi"][start:stop]
    ar = torch.arange(span, device=dev)
    idx = (lo_t[:, None] + ar[None, :]).clamp(max=n_gallery - 1)
    valid = ar[None, :] < (hi_t - lo_t)[:, None]
    if iq_b is not None:
        valid &= ig_t[idx] != iq_b[:, None]
    rel = torch.where(valid, S.gather(1, idx), torch.tensor(float("inf"), device=dev))
    R = valid.sum(1)
    st["n_rel"][start:stop] = R.cpu().numpy()
    rmax = int(R.max())
    if rmax == 0:
        return None
    # ascending; +inf pads the shorter rows (numpy's vectorised sort on the CPU: several times torch's)
    thr = (torch.from_numpy(np.sort(rel.numpy(), axis=1)[:, :rmax].copy()) if rel.device.type == "cpu"
           else rel.sort(dim=1).values[:, :rmax].contiguous())
    # Only items scoring at least the query's lowest relevant score can push a relevant item down.
    # Few such candidates (the usual case): count them pair by pair. Many (a near-random encoder, a
    # coarse level): place every relevant score in the sorted row instead. The share is estimated on
    # a sample of columns; either way the counts are exact.
    step = max(1, S.shape[1] // 4096)
    sample = S[:, ::step]
    share = int(torch.count_nonzero(sample >= thr[:, :1])) / max(sample.numel(), 1)
    return _LevelBlock(st, start, lo_t, hi_t, rel, valid, R, thr, share > candidate_share)


def _finish(b: _LevelBlock, n_ge: np.ndarray, ks) -> None:
    """Ranks from the counts of items above each relevant score, and the block's metrics."""
    import torch

    Rn = b.R.cpu().numpy()
    rmax = b.thr.shape[1]
    k = np.arange(1, rmax + 1)
    pos = np.subtract(Rn[:, None], k[None, :])  # the k-th best relevant sits at ascending position R - k
    np.maximum(pos, 0, out=pos)  # (R - k <= rmax - 1 always; past R the rank is inf below)
    ranks = np.add(np.take_along_axis(n_ge, pos, axis=1), k[None, :], dtype=np.float64)  # exact: integers < 2**53
    ranks[k[None, :] > Rn[:, None]] = np.inf
    sims_rel = torch.where(b.valid, b.rel, torch.zeros((), device=b.rel.device)).sum(1) / b.R.clamp(min=1)
    _fill(b.st["out"], ranks, Rn, sims_rel.cpu().numpy(), b.start, ks)


def expected_random_ap(n_relevant, n_candidates) -> np.ndarray:
    """Exact expected AP of a uniformly random ranking of ``n_candidates`` items, ``n_relevant`` of them relevant.

    With N relevant among M, a relevant item sits at rank r with probability 1/M, and each of the
    other N - 1 relevant items precedes it with probability (r - 1)/(M - 1), so

        E[AP] = (1/M) * sum_{r=1}^{M} (1/r) * (1 + (N - 1)(r - 1)/(M - 1))
              = (H_M + (N - 1)/(M - 1) * (M - H_M)) / M            (H_M: harmonic number)

    and E[AP] = 0 when N = 0 (the published no-relevant rule), 1 when M = N.

    >>> float(expected_random_ap(1, 2))     # relevant at rank 1 or 2: (1 + 1/2) / 2
    0.75
    """
    from scipy.special import digamma

    N = np.asarray(n_relevant, dtype=np.float64)
    M = np.asarray(n_candidates, dtype=np.float64)
    if np.any(N > M) or np.any(N < 0):
        raise ValueError("need 0 <= n_relevant <= n_candidates")
    H = digamma(M + 1) + np.euler_gamma  # harmonic number H_M, exact up to float rounding
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(M > 1, (N - 1) / np.where(M > 1, M - 1, 1), 0.0)
        ap = np.where(N > 0, (H + frac * (M - H)) / np.where(M > 0, M, 1), 0.0)
    return ap


def expected_random_cmc(n_relevant, n_candidates, k: int) -> np.ndarray:
    """Exact probability that a uniformly random ranking puts a relevant item in the top ``k``:
    1 - C(M - N, k) / C(M, k) = 1 - prod_{i < k} (M - N - i) / (M - i), the hypergeometric P(X >= 1)
    (tested against ``scipy.stats.hypergeom``), computed once per distinct (N, M) pair.

    >>> float(expected_random_cmc(1, 4, 2))
    0.5
    """
    N = np.asarray(n_relevant, dtype=np.int64)
    M = np.asarray(n_candidates, dtype=np.int64)
    N, M = np.broadcast_arrays(N, M)
    # queries share few (N, M) pairs (one per label size): each distinct pair is computed once
    pairs, back = np.unique(np.stack([N.ravel(), M.ravel()], axis=1), axis=0, return_inverse=True)
    n, m = pairs[:, 0].astype(np.float64), pairs[:, 1].astype(np.float64)
    miss = np.ones(len(pairs))  # P(no relevant item in the top k), one factor per rank
    for i in range(int(k)):
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(m - i > 0, (m - n - i) / (m - i), 1.0)
        miss *= np.clip(f, 0.0, 1.0)
    p = np.where(n > 0, 1.0 - miss, 0.0)
    return p[np.ravel(back)].reshape(N.shape)


def chance_retrieval(n_relevant, n_candidates, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """Chance levels for a set of queries: mean exact expected AP and CMC@k under a random ranking.

    >>> chance_retrieval([1, 1], [2, 2], ks=(1,))
    {'ap': 0.75, 'cmc@1': 0.5}
    """
    N = np.asarray(n_relevant)
    M = np.asarray(n_candidates)
    if N.size == 0:
        return {}
    out = {"ap": float(expected_random_ap(N, M).mean())}
    for k in ks:
        out[f"cmc@{k}"] = float(expected_random_cmc(N, M, k).mean())
    return out


def _order_keys(x: torch.Tensor) -> torch.Tensor:
    import torch

    """int64 keys with the order (and the ties) of float32 values: -0.0 and +0.0 share a key."""
    bits = (x.float() + 0.0).contiguous().view(torch.int32).to(torch.int64)  # + 0.0 turns -0.0 into +0.0
    u = bits & 0xFFFFFFFF
    return torch.where(bits >= 0, u + (1 << 31), (1 << 32) - 1 - u)


def _count_candidates(S, b: _LevelBlock, ig_t, iq_b, right: bool) -> np.ndarray:
    """n_ge[q, j]: irrelevant, non-excluded items scoring above (pessimistic: at least) the j-th
    lowest relevant score of query q, counted over the candidate pairs only. Every row's sorted
    thresholds are laid end to end as exact integer keys (row << 32 | order key), so one 1-D
    ``searchsorted`` places all candidates without copying thresholds per candidate."""
    import torch

    thr, lo, hi = b.thr, b.lo, b.hi
    rmax = thr.shape[1]
    cand = S >= thr[:, :1]
    rows, cols = cand.nonzero(as_tuple=True)
    keep = (cols < lo[rows]) | (cols >= hi[rows])
    if ig_t is not None:
        keep &= ig_t[cols] != iq_b[rows]
    rows, cols = rows[keep], cols[keep]
    B = S.shape[0]
    row_off = torch.arange(B, device=S.device, dtype=torch.int64)[:, None] << 32
    thr_keys = (row_off + _order_keys(thr)).reshape(-1)
    keys = (rows.to(torch.int64) << 32) + _order_keys(S[rows, cols])
    passed = torch.searchsorted(thr_keys, keys, right=right) - rows * rmax
    hist = torch.bincount(rows * (rmax + 1) + passed, minlength=B * (rmax + 1)).reshape(B, rmax + 1)
    return hist.flip(1).cumsum(1).flip(1)[:, 1:].cpu().numpy()


def _excluded_scores(S, ig_t, iq_b):
    """(rows, scores) of the gallery items sharing their query's id in this block, read before the
    rows are sorted (None when no query meets its own id)."""
    if ig_t is None:
        return None
    rows, cols = (ig_t[None, :] == iq_b[:, None]).nonzero(as_tuple=True)
    return (rows, S[rows, cols]) if len(rows) else None


def _run_bounds(x, first: bool):
    """For rows sorted ascending, each entry's ``searchsorted`` position in its own row in linear
    time: the first index of its run of equal values (``first``, as ``right=False``), else one past
    the last (``right=True``)."""
    import torch

    n = x.shape[1]
    j = torch.arange(n, device=x.device).expand_as(x)
    if first:
        start = torch.ones_like(x, dtype=torch.bool)
        start[:, 1:] = x[:, 1:] != x[:, :-1]
        return torch.where(start, j, torch.zeros((), dtype=j.dtype, device=x.device)).cummax(1).values
    end = torch.ones_like(x, dtype=torch.bool)
    end[:, :-1] = x[:, :-1] != x[:, 1:]
    last = torch.where(end, j, torch.full((), n - 1, dtype=j.dtype, device=x.device)).flip(1).cummin(1).values.flip(1)
    return last + 1


def _count_sorted(srt, b: _LevelBlock, excluded, right: bool) -> np.ndarray:
    """The counts of :func:`_count_candidates` from the block's rows sorted ascending (``srt``):
    every threshold is placed in its sorted row (``searchsorted``, O(R log G) per row), then the
    relevant items and the excluded ones (same id) at or above it are taken out."""
    import torch

    G = srt.shape[1]
    thr, R = b.thr, b.R
    # pessimistic: items at or above the threshold; optimistic: strictly above
    n_all = G - torch.searchsorted(srt, thr, right=not right)
    # relevant items are among them: take out those at or above each threshold
    rel_above = R[:, None] - _run_bounds(thr, first=right)  # thr: the sorted relevant scores
    n_ge = n_all - rel_above
    if excluded is not None:  # items sharing the query's id never count (they are not in ``valid``)
        rows, vals = excluded
        hit = (vals[:, None] >= thr[rows]) if right else (vals[:, None] > thr[rows])
        n_ge.index_add_(0, rows, -hit.to(n_ge.dtype))
    return n_ge.cpu().numpy()


def _fill(out: dict, ranks: np.ndarray, R: np.ndarray, avg_cos: np.ndarray, start: int, ks) -> None:
    has = R > 0
    rows = np.flatnonzero(has)
    if rows.size == 0:
        return
    rk = ranks[rows] if rows.size < len(R) else ranks
    Rr = R[rows].astype(float)
    k = np.arange(1, rk.shape[1] + 1, dtype=float)[None, :]
    prec = k / rk  # k / inf = 0 past a query's relevant items (their ranks are inf)
    i = start + rows
    out["ap"][i] = prec.sum(1) / Rr
    first = rk[:, 0]
    out["p@1"][i] = (first == 1).astype(float)
    out["rr"][i] = 1.0 / first
    within = rk <= Rr[:, None]  # (inf never is)
    out["r_precision"][i] = within.sum(1) / Rr
    out["map@r"][i] = np.where(within, prec, 0.0).sum(1) / Rr
    out["avg_cos"][i] = avg_cos[rows]
    for kk in ks:
        out[f"cmc@{kk}"][i] = (first <= kk).astype(float)


_TOPK_BACKEND: dict[int, str] = {}


def _faster_topk_backend(Q: np.ndarray, G: np.ndarray, k: int) -> str:
    """'faiss' or 'torch', whichever runs a small sample of this search faster on this machine
    (decided once per process and dimension; faiss's bundled BLAS can be slow on some CPUs)."""
    import time

    d = Q.shape[1]
    if d in _TOPK_BACKEND:
        return _TOPK_BACKEND[d]
    try:
        import faiss  # noqa: F401
    except ImportError:
        _TOPK_BACKEND[d] = "torch"
        return "torch"
    q, g = Q[: min(len(Q), 256)], G[: min(len(G), 20000)]
    times = {}
    for name in ("faiss", "torch"):
        t = time.perf_counter()
        _topk(q, g, min(k, len(g)), name)
        times[name] = time.perf_counter() - t
    _TOPK_BACKEND[d] = min(times, key=times.get)
    return _TOPK_BACKEND[d]


def _topk(Q: np.ndarray, G: np.ndarray, k: int, backend: str) -> tuple[np.ndarray, np.ndarray]:
    if backend == "faiss":
        import faiss

        index = faiss.IndexFlatIP(G.shape[1])
        index.add(G)
        return index.search(Q, k)
    if backend == "numpy":  # small searches (report examples): no framework import at all
        S = Q @ G.T
        idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(S, idx, axis=1), idx
    import torch

    sims, idx = [], []
    Gt = torch.from_numpy(G)
    for s in range(0, len(Q), 1024):
        v, i = (torch.from_numpy(Q[s : s + 1024]) @ Gt.T).topk(k, dim=1)
        sims.append(v.numpy())
        idx.append(i.numpy())
    return np.concatenate(sims), np.concatenate(idx)


def topk_search(query_emb: np.ndarray, gallery_emb: np.ndarray, k: int, *, use_faiss: bool | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items per query by inner product: (similarities, indices), each (Q, k).

    ``use_faiss``: True (faiss ``IndexFlatIP``), False (blocked torch ``topk``), or None (default):
    numpy for small searches (at most 2^20 query-gallery pairs), else whichever of faiss and torch is
    faster on this machine, measured once per process on a small sample. All are exact. For the top-k metrics on very large galleries; mAP stays exact through
    :func:`retrieval_metrics`.
    """
    Q = np.ascontiguousarray(query_emb, dtype=np.float32)
    G = np.ascontiguousarray(gallery_emb, dtype=np.float32)
    k = min(int(k), len(G))
    if use_faiss is None and len(Q) * len(G) <= 1 << 20:
        backend = "numpy"
    elif use_faiss is None:
        backend = _faster_topk_backend(Q, G, k)
    else:
        backend = "faiss" if use_faiss else "torch"
        if backend == "faiss":
            try:
                import faiss  # noqa: F401
            except ImportError:
                backend = "torch"
    return _topk(Q, G, k, backend)
