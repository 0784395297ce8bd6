"""Retrieval metrics for the Finer-Personalization Rank protocol, exact and sort-free.

Every query (a generated image) ranks the *whole* gallery by descending cosine similarity
(ascending distance ``1 - cos``). Only the ranks of the relevant items matter, so instead of
sorting each row of the query x gallery matrix, idbench counts, for each relevant item, how many
irrelevant items score at least as high:

    rank_k = k + #{irrelevant g : s(g) >= s_(k)}      (s_(k): k-th highest relevant similarity)

computed in query blocks with a batched ``searchsorted`` against the few relevant similarities
(O(G log R) per query instead of O(G log G)), with bounded memory.

Ties (documented rule, independent of input order): **pessimistic** by default -- a relevant item
that ties with irrelevant items is ranked after all of them; ``ties="optimistic"`` ranks it before.
Tied relevant items among themselves do not change any metric.

Per-query metrics, from the 1-based ranks ``r_1 < r_2 < ... < r_N`` of the N relevant items:

* AP        = (1/N) sum_k k / r_k                                (published mAP = mean over queries)
* CMC@k     = [r_1 <= k]  (Recall@k in the re-ID sense; averaged over queries gives CMC)
* P@1       = [r_1 == 1]
* RR        = 1 / r_1                                            (mean: MRR)
* R-prec    = #{k : r_k <= N} / N
* mAP@R     = (1/N) sum_{k : r_k <= N} k / r_k                   (pytorch-metric-learning)
* avg_cos   = mean cosine to the relevant gallery items          (published avg_cos_sim)

Queries with no relevant item: ``no_relevant="zero"`` (published; all metrics 0, avg_cos NaN),
``"skip"`` (NaN, excluded from means) or ``"error"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
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

    def mean(self, name: str) -> float:
        v = self.per_query[name]
        v = v[~np.isnan(v)]
        return float(v.mean()) if v.size else float("nan")

    def summary(self) -> dict[str, float]:
        out = {name: self.mean(name) for name in self.per_query}
        out["n_queries"] = int(len(self.n_relevant))
        out["n_no_relevant"] = int(self.n_no_relevant)
        return out


def _encode_labels(query_labels: Sequence, gallery_labels: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Shared integer codes by equality of the labels as given (one type only; see metrics.labels)."""
    from idbench.metrics.labels import encode_labels

    q, g = encode_labels(query_labels, gallery_labels)
    return q, g


def retrieval_metrics(
    query_emb: np.ndarray,
    query_labels: Sequence,
    gallery_emb: np.ndarray,
    gallery_labels: Sequence,
    *,
    query_ids: Sequence | None = None,
    gallery_ids: Sequence | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    ties: str = "pessimistic",
    no_relevant: str = "zero",
    block_size: int = 256,
) -> RetrievalResult:
    """Exact retrieval metrics of every query against the whole gallery.

    Parameters
    ----------
    query_emb, gallery_emb : (Q, D) and (G, D) L2-normalised float rows.
    query_labels, gallery_labels : identity labels at the chosen granularity.
    query_ids, gallery_ids : optional ids; a gallery item with the query's own id is left out of
        that query's ranking (a real reference queried against a gallery that contains it).
    ks : cut-offs for CMC / Recall@k.
    ties : "pessimistic" (default) or "optimistic"; see the module docstring.
    no_relevant : "zero" (default, published), "skip" or "error".
    block_size : queries per block; memory is O(block_size x G).

    Examples
    --------
    >>> q = np.array([[1.0, 0.0]]); g = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    >>> r = retrieval_metrics(q, ["a"], g, ["a", "b", "a"])
    >>> round(r.mean("ap"), 4)   # relevant at ranks 2 and 3: (1/2 + 2/3) / 2
    0.5833
    """
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"ties must be 'pessimistic' or 'optimistic', got {ties!r}")
    if no_relevant not in ("zero", "skip", "error"):
        raise ValueError(f"no_relevant must be 'zero', 'skip' or 'error', got {no_relevant!r}")
    Q = np.ascontiguousarray(query_emb, dtype=np.float32)
    G = np.ascontiguousarray(gallery_emb, dtype=np.float32)
    if Q.ndim != 2 or G.ndim != 2 or Q.shape[1] != G.shape[1]:
        raise ValueError(f"expected (Q, D) and (G, D) embeddings, got {Q.shape} and {G.shape}")
    if len(query_labels) != len(Q) or len(gallery_labels) != len(G):
        raise ValueError("labels must have one entry per embedding row")
    if len(G) == 0:
        raise ValueError("the gallery is empty")
    ks = tuple(sorted({int(k) for k in ks}))
    if any(k < 1 for k in ks):
        raise ValueError(f"ks must be >= 1, got {ks}")
    lq, lg = _encode_labels(query_labels, gallery_labels)
    exclude = None
    if query_ids is not None and gallery_ids is not None:
        iq, ig = _encode_labels(query_ids, gallery_ids)
        exclude = (torch.from_numpy(iq), torch.from_numpy(ig))

    nq = len(Q)
    out = {name: np.full(nq, np.nan) for name in METRICS}
    for k in ks:
        out[f"cmc@{k}"] = np.full(nq, np.nan)
    n_rel = np.zeros(nq, dtype=np.int64)
    n_cand = np.full(nq, len(G), dtype=np.int64)
    Gt = torch.from_numpy(G)
    lg_t = torch.from_numpy(lg)
    right = ties == "pessimistic"
    for start in range(0, nq, block_size):
        stop = min(start + block_size, nq)
        S = torch.from_numpy(Q[start:stop]) @ Gt.T  # (B, G)
        rel = torch.from_numpy(lq[start:stop])[:, None] == lg_t[None, :]
        if exclude is not None:
            excl = exclude[0][start:stop, None] == exclude[1][None, :]
            rel &= ~excl
            n_cand[start:stop] -= excl.sum(1).numpy()
        else:
            excl = None
        R = rel.sum(dim=1)  # (B,)
        n_rel[start:stop] = R.numpy()
        rmax = int(R.max()) if len(R) else 0
        if rmax == 0:
            continue
        inf = torch.tensor(float("inf"))
        # relevant similarities ascending, padded with +inf
        thr = torch.where(rel, S, inf).topk(rmax, dim=1, largest=False).values  # (B, rmax)
        irr = S.masked_fill(rel, -inf)
        if excl is not None:
            irr = irr.masked_fill(excl, -inf)
        idx = torch.searchsorted(thr.contiguous(), irr.contiguous(), right=right)  # thresholds passed, per item
        hist = torch.zeros(len(S), rmax + 1, dtype=torch.int64).scatter_add_(1, idx, torch.ones_like(idx))
        # n_ge[:, j] = #irrelevant items beating threshold j (ascending j)
        n_ge = hist.flip(1).cumsum(1).flip(1)[:, 1:]
        # k-th best relevant (1-based) sits at ascending position R - k
        ranks = np.full((len(S), rmax), np.inf)
        Rn = R.numpy()
        n_ge_np = n_ge.numpy()
        for b in range(len(S)):
            r = Rn[b]
            if r:
                k = np.arange(1, r + 1)
                ranks[b, :r] = k + n_ge_np[b, r - k]
        sims_rel = torch.where(rel, S, torch.zeros(())).sum(1) / R.clamp(min=1)
        _fill(out, ranks, Rn, sims_rel.numpy(), start, ks)

    none = n_rel == 0
    if none.any():
        if no_relevant == "error":
            bad = np.flatnonzero(none)[:5].tolist()
            raise ValueError(f"{int(none.sum())} queries have no relevant gallery item (e.g. query indices {bad})")
        for name in out:
            if name != "avg_cos":
                out[name][none] = 0.0 if no_relevant == "zero" else np.nan
    return RetrievalResult(out, n_rel, int(none.sum()), ks, n_cand)


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
    1 - C(M - N, k) / C(M, k), the hypergeometric P(X >= 1) (scipy.stats.hypergeom).

    >>> float(expected_random_cmc(1, 4, 2))
    0.5
    """
    from scipy.stats import hypergeom

    N = np.asarray(n_relevant, dtype=np.int64)
    M = np.asarray(n_candidates, dtype=np.int64)
    kk = np.minimum(int(k), M)
    p = np.where(N > 0, hypergeom.sf(0, M, N, kk), 0.0)
    return np.asarray(p, dtype=np.float64)


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


def _fill(out: dict, ranks: np.ndarray, R: np.ndarray, avg_cos: np.ndarray, start: int, ks) -> None:
    has = R > 0
    rows = np.flatnonzero(has)
    if rows.size == 0:
        return
    rk = ranks[rows]
    Rr = R[rows].astype(float)
    k = np.arange(1, rk.shape[1] + 1, dtype=float)[None, :]
    valid = np.isfinite(rk)
    prec = np.where(valid, k / np.where(valid, rk, 1.0), 0.0)
    i = start + rows
    out["ap"][i] = prec.sum(1) / Rr
    first = rk[:, 0]
    out["p@1"][i] = (first == 1).astype(float)
    out["rr"][i] = 1.0 / first
    within = valid & (rk <= Rr[:, None])
    out["r_precision"][i] = within.sum(1) / Rr
    out["map@r"][i] = np.where(within, prec, 0.0).sum(1) / Rr
    out["avg_cos"][i] = avg_cos[rows]
    for kk in ks:
        out[f"cmc@{kk}"][i] = (first <= kk).astype(float)


def topk_search(query_emb: np.ndarray, gallery_emb: np.ndarray, k: int, *, use_faiss: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items per query by inner product: (similarities, indices), each (Q, k).

    Uses faiss ``IndexFlatIP`` (exact, multithreaded BLAS) when available, else a blocked torch
    ``topk``. For the top-k metrics (CMC@k, P@1) on very large galleries; mAP stays exact through
    :func:`retrieval_metrics`.
    """
    Q = np.ascontiguousarray(query_emb, dtype=np.float32)
    G = np.ascontiguousarray(gallery_emb, dtype=np.float32)
    k = min(int(k), len(G))
    if use_faiss:
        try:
            import faiss

            index = faiss.IndexFlatIP(G.shape[1])
            index.add(G)
            return index.search(Q, k)
        except ImportError:
            pass
    sims, idx = [], []
    Gt = torch.from_numpy(G)
    for s in range(0, len(Q), 1024):
        v, i = (torch.from_numpy(Q[s : s + 1024]) @ Gt.T).topk(k, dim=1)
        sims.append(v.numpy())
        idx.append(i.numpy())
    return np.concatenate(sims), np.concatenate(idx)
