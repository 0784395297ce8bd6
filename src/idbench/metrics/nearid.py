"""NearID: strict margin metrics with near-identity distractors, and the two-tier contrastive loss.

A sample has n views of one identity and, for each view i, a distractor D_i: a different but
similar instance on the exact background of view i. With ``sim_ij = cos(view_i, view_j)`` and
``cross_ii = cos(view_i, D_i)``, each pair i < j gives two margins::

    sim_ij - cross_ii      and      sim_ij - cross_jj

* SSR (Sample Success Rate) = share of samples whose every margin is > 0 (strict: 0 fails);
* PA (Pairwise Accuracy)    = winning margins / all margins, pooled over samples (micro-average).

A sample whose distractor (or view) is missing gives NaN margins for the terms that need it. With
``incomplete="drop"`` (the default) such a sample is left out of SSR and PA and counted
(``n_incomplete``); with ``incomplete="valid_margins"`` it is scored on its valid margins, as NearID's
code does (``evaluation/metrics.py``: NaN terms are skipped, a sample succeeds when all its valid
margins win, PA pools the valid terms), and counted as ``n_partial``. A sample with no valid margin
is left out either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class IdentityGroup:
    """One identity's views (n, D) and the distractor of each view (n, D); NaN rows = missing."""

    identity: str
    views: np.ndarray
    distractors: np.ndarray
    source: str = "all"


def sample_margins(views: np.ndarray, distractors: np.ndarray) -> np.ndarray:
    """The 2 * C(n, 2) margins of one sample, ordered (i, j) lexicographically, [m_i, m_j] per pair.

    Parameters
    ----------
    views : (n, D) L2-normalised rows, n >= 2.
    distractors : (n, D) rows, row i the distractor of view i; a row of NaN marks a missing one
        (its margins are NaN).

    Every similarity comes from one symmetric Gram matrix over the *distinct* rows of views and
    distractors, so a distractor identical to another view gives a margin of exactly 0 (a strict
    SSR failure), never +-1e-17 from two differently rounded dot products.

    >>> v = np.array([[1.0, 0.0], [0.8, 0.6]]); d = np.array([[0.6, 0.8], [0.0, 1.0]])
    >>> sample_margins(v, d).round(2)   # sim_01 = 0.8; cross_00 = 0.6, cross_11 = 0.6
    array([0.2, 0.2])
    >>> sample_margins(v, v[::-1])      # each distractor is a copy of the other view
    array([0., 0.])
    """
    v = np.asarray(views, dtype=np.float64)
    d = np.asarray(distractors, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 2:
        raise ValueError(f"a sample needs at least 2 views as (n, D) rows, got shape {v.shape}")
    if d.shape != v.shape:
        raise ValueError(f"distractors must have the views' shape {v.shape}, got {d.shape}")
    n = len(v)
    missing = np.isnan(d).any(axis=1)
    no_view = np.isnan(v).any(axis=1)
    v = np.where(no_view[:, None], 0.0, v)
    X = np.concatenate([v, np.where(missing[:, None], 0.0, d)])
    uniq, inv = np.unique(X, axis=0, return_inverse=True)
    inv = inv.ravel()
    gram = uniq @ uniq.T
    gram = 0.5 * (gram + gram.T)  # exactly symmetric: s(a, b) == s(b, a) to the bit
    S = gram[np.ix_(inv, inv)]
    sim = S[:n, :n]
    cross = S[np.arange(n), n + np.arange(n)]
    cross = np.where(missing | no_view, np.nan, cross)
    i, j = np.triu_indices(n, k=1)
    s_ij = np.where(no_view[i] | no_view[j], np.nan, sim[i, j])
    return np.stack([s_ij - cross[i], s_ij - cross[j]], axis=1).ravel()


@dataclass
class NearIDResult:
    ssr: float
    pa: float
    n_samples: int
    n_incomplete: int
    n_margins: int
    per_sample_success: np.ndarray  # bool per scored sample
    margins: np.ndarray  # all pooled margins
    per_source: dict
    margin_sample: np.ndarray | None = None  # index of the scored sample each pooled margin belongs to
    n_partial: int = 0  # samples scored on part of their margins (incomplete = "valid_margins")
    rule: str = "drop"

    def intervals(self, n_resamples: int = 2000, seed: int = 0) -> dict:
        """95% cluster-bootstrap intervals over samples for SSR and PA (a sample's margins move together)."""
        from idbench.stats.bootstrap import cluster_bootstrap

        if self.n_samples < 2:  # no interval from one sample: say so instead of a zero-width one
            return {"ci_note": f"no interval: {self.n_samples} scored sample(s)"} if self.n_samples else {}
        clusters = self.margin_sample if self.margin_sample is not None else \
            np.repeat(np.arange(self.n_samples), self.n_margins // self.n_samples)
        ssr = cluster_bootstrap(self.per_sample_success.astype(float), np.arange(self.n_samples), n_resamples=n_resamples, seed=seed)
        pa = cluster_bootstrap((self.margins > 0).astype(float), clusters, n_resamples=n_resamples, seed=seed)
        return {"ssr_ci": [ssr.ci_low, ssr.ci_high], "pa_ci": [pa.ci_low, pa.ci_high]}

    def summary(self) -> dict:
        q = np.quantile(self.margins, [0.05, 0.25, 0.5, 0.75, 0.95]).tolist() if self.margins.size else []
        counts, edges = np.histogram(self.margins, bins=30) if self.margins.size else (np.zeros(0), np.zeros(0))
        return {"ssr": self.ssr, "pa": self.pa, "n_samples": self.n_samples, "n_incomplete": self.n_incomplete,
                "n_partial": self.n_partial, "incomplete_rule": self.rule, "n_margins": self.n_margins,
                "margin_quantiles": dict(zip(["q05", "q25", "q50", "q75", "q95"], q)),
                "histogram": {"edges": edges.tolist(), "counts": counts.tolist()}, "per_source": self.per_source,
                **self.intervals()}


def ssr_pa(margins_per_sample: Sequence[np.ndarray], sources: Sequence[str] | None = None, *,
           incomplete: str = "drop") -> NearIDResult:
    """SSR and PA over samples (micro-pooled), overall and per distractor source.

    ``incomplete``: a sample with NaN margins (a missing distractor or view) is left out (``"drop"``)
    or scored on its valid margins (``"valid_margins"``, NearID's code).

    >>> r = ssr_pa([np.array([0.1, 0.2]), np.array([0.3, 0.0])])
    >>> r.ssr, r.pa      # second sample has a margin of exactly 0: it fails, and so does that margin
    (0.5, 0.75)
    >>> r = ssr_pa([np.array([0.1, np.nan]), np.array([0.3, -0.1])], incomplete="valid_margins")
    >>> r.ssr, r.pa, r.n_partial   # the first sample wins on its one valid margin
    (0.5, 0.6666666666666666, 1)
    """
    if incomplete not in ("drop", "valid_margins"):
        raise ValueError(f"incomplete must be 'drop' or 'valid_margins', got {incomplete!r}")
    sources = list(sources) if sources is not None else ["all"] * len(margins_per_sample)
    if len(sources) != len(margins_per_sample):
        raise ValueError("one source per sample")
    scored, src_scored, n_incomplete, n_partial = [], [], 0, 0
    for m, s in zip(margins_per_sample, sources):
        m = np.asarray(m, dtype=np.float64).ravel()
        nan = np.isnan(m)
        if m.size == 0 or nan.all() or (nan.any() and incomplete == "drop"):
            n_incomplete += 1
            continue
        if nan.any():
            n_partial += 1
            m = m[~nan]
        scored.append(m)
        src_scored.append(s)

    def _agg(ms):
        if not ms:
            return float("nan"), float("nan"), np.zeros(0, bool), np.zeros(0)
        ok = np.array([bool((m > 0).all()) for m in ms])
        pooled = np.concatenate(ms)
        return float(ok.mean()), float((pooled > 0).mean()), ok, pooled

    ssr, pa, ok, pooled = _agg(scored)
    owner = np.concatenate([np.full(len(m), k) for k, m in enumerate(scored)]) if scored else np.zeros(0, int)
    per_source = {}
    for s in sorted(set(src_scored)):
        sub = [m for m, t in zip(scored, src_scored) if t == s]
        s_ssr, s_pa, _, _ = _agg(sub)
        per_source[s] = {"ssr": s_ssr, "pa": s_pa, "n_samples": len(sub)}
    return NearIDResult(ssr, pa, len(scored), n_incomplete, int(pooled.size), ok, pooled, per_source, owner,
                        n_partial=n_partial, rule=incomplete)


def two_tier_loss(anchors: "torch.Tensor", positives: "torch.Tensor", distractors: "torch.Tensor",
                  temperature: float = 0.07, alpha: float = 0.5) -> "torch.Tensor":
    """NearID's two-tier contrastive loss (same identity > near-identity distractor > random negative).

    Parameters
    ----------
    anchors : (B, D) L2-normalised anchor embeddings a_b.
    positives : (B, P, D) each sample's own positives; all B*P form the pool g_m.
    distractors : (B, K, D) each anchor's near-identity distractors h_bk.

    With z_bm = a_b . g_m / T and u_bk = a_b . h_bk / T:

    * L1 = mean over b and own positives p of CE([z_b, u_b], target p)
    * L2 = mean over (b, k) of -log(exp(u_bk) / (exp(u_bk) + sum_{m not b's own} exp(z_bm)))
    * L = L1 + alpha * L2
    """
    import torch
    import torch.nn.functional as F

    B, P, D = positives.shape
    if anchors.shape != (B, D) or distractors.shape[0] != B or distractors.shape[2] != D:
        raise ValueError(f"shape mismatch: anchors {tuple(anchors.shape)}, positives {tuple(positives.shape)}, "
                         f"distractors {tuple(distractors.shape)}")
    g = positives.reshape(B * P, D)
    z = anchors @ g.T / temperature  # (B, B*P)
    u = torch.einsum("bd,bkd->bk", anchors, distractors) / temperature  # (B, K)
    logits = torch.cat([z, u], dim=1)  # (B, B*P + K)
    own = torch.arange(B)[:, None] * P + torch.arange(P)[None, :]  # (B, P) column of each own positive
    logp = F.log_softmax(logits, dim=1)
    l1 = -logp.gather(1, own).mean()
    # tier 2: each distractor against the *other* samples' positives
    other = torch.ones(B, B * P, dtype=torch.bool)
    other[torch.arange(B)[:, None], own] = False
    z_other = z.masked_fill(~other, float("-inf"))  # (B, B*P)
    lse_other = torch.logsumexp(z_other, dim=1, keepdim=True)  # (B, 1)
    denom = torch.logaddexp(u, lse_other.expand_as(u))
    l2 = (denom - u).mean()
    return l1 + alpha * l2


def part_level_margins(s12: np.ndarray, s1_1p: np.ndarray, s2_2p: np.ndarray) -> np.ndarray:
    """Part-level test (MTG): per sample the two margins m1 = s(1,2) - s(1,1p), m2 = s(1,2) - s(2,2p),
    where 1p / 2p are views 1 / 2 with one part edited. Returns (n_samples, 2); feed the rows to
    :func:`ssr_pa` for part-level SSR and PA."""
    s12, a, b = (np.asarray(x, np.float64).ravel() for x in (s12, s1_1p, s2_2p))
    if not (s12.shape == a.shape == b.shape):
        raise ValueError("s12, s1_1p and s2_2p need one value per sample")
    return np.stack([s12 - a, s12 - b], axis=1)


def part_oracle(part_area: np.ndarray, object_area: np.ndarray) -> np.ndarray:
    """Oracle similarity of an edited image: o = 1 - |part mask| / |object mask|."""
    p = np.asarray(part_area, np.float64)
    o = np.asarray(object_area, np.float64)
    if (o <= 0).any() or (p < 0).any() or (p > o).any():
        raise ValueError("need 0 <= part area <= object area, object area > 0")
    return 1.0 - p / o


def m_o(similarities: Sequence[np.ndarray], oracles: Sequence[np.ndarray]) -> float:
    """M-O: Fisher-z mean (tanh of mean artanh r) over groups (e.g. objects or methods) of the Pearson r
    between the encoder's similarity to the unedited image and the oracle."""
    from scipy.stats import pearsonr

    rs = [pearsonr(np.asarray(s, float), np.asarray(o, float))[0] for s, o in zip(similarities, oracles)
          if len(s) >= 3 and np.std(s) > 0 and np.std(o) > 0]
    if not rs:
        return float("nan")
    return float(np.tanh(np.mean(np.arctanh(np.clip(rs, -0.999999, 0.999999)))))
