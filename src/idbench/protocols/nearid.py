"""The NearID protocol over records: embed samples, score SSR/PA, train and compare an identity head."""

from __future__ import annotations

import numpy as np

from idbench.embed import embed_records
from idbench.metrics.nearid import sample_margins, ssr_pa
from idbench.nearid.head import IdentityGroup
from idbench.nearid.samples import NearIDSample


def embed_samples(samples: list[NearIDSample], encoder, *, cache=None, problems=None, progress=True) -> list[IdentityGroup]:
    recs = [r for s in samples for r in s.views + [d for d in s.distractors if d is not None]]
    emb = embed_records(encoder, recs, cache=cache, problems=problems, progress=progress, desc="NearID samples")
    groups = []
    for s in samples:
        if any(v.id not in emb for v in s.views):
            continue
        v = np.concatenate([emb[r.id].vectors for r in s.views])
        d = np.stack([emb[r.id].vectors[0] if (r is not None and r.id in emb) else np.full(v.shape[1], np.nan, np.float32)
                      for r in s.distractors])
        groups.append(IdentityGroup(s.identity, v, d, s.source))
    return groups


def score_groups(groups: list[IdentityGroup], n_views: int = 3):
    return ssr_pa([sample_margins(g.views[:n_views], g.distractors[:n_views]) for g in groups], [g.source for g in groups])


def split_identities(groups: list[IdentityGroup], seed: int = 0, fractions=(0.5, 0.17)) -> tuple[list, list, list]:
    """Disjoint train / validation / test identities."""
    rng = np.random.default_rng(seed)
    ids = sorted({g.identity for g in groups})
    rng.shuffle(ids)
    n_tr = max(2, int(round(fractions[0] * len(ids))))
    n_va = max(1, int(round(fractions[1] * len(ids))))
    tr, va = set(ids[:n_tr]), set(ids[n_tr : n_tr + n_va])
    return ([g for g in groups if g.identity in tr], [g for g in groups if g.identity in va],
            [g for g in groups if g.identity not in tr and g.identity not in va])


def retrieval_map(groups: list[IdentityGroup], embed=None) -> float:
    """Plain identity retrieval mAP among the groups' views (each view a query, leave-one-out)."""
    from idbench.metrics.retrieval import retrieval_metrics

    X = np.concatenate([g.views for g in groups])
    if embed is not None:
        X = embed(X)
    y = np.concatenate([[g.identity] * len(g.views) for g in groups])
    ids = np.arange(len(X))
    return retrieval_metrics(X, y, X, y, query_ids=ids, gallery_ids=ids).mean("ap")


def nearid_section(samples: list[NearIDSample], encoder, *, n_views: int = 3, cache=None, problems=None, progress=True,
                   n_resamples: int = 2000, seed: int = 0) -> tuple[dict, list[IdentityGroup]]:
    """SSR / PA with intervals, margins and counts for one encoder: the ``nearid`` section."""
    groups = embed_samples(samples, encoder, cache=cache, problems=problems, progress=progress)
    res = score_groups(groups, n_views)
    section = {"encoder": encoder.name, "n_views": n_views, "n_samples_given": len(samples),
               "n_samples_not_embedded": len(samples) - len(groups), **res.summary()}
    section.update(res.intervals(n_resamples=n_resamples, seed=seed))
    section["chance"] = {"pa": 0.5, "how": "a margin is as likely positive as negative when the encoder cannot tell "
                                            "identity from background"}
    return section, groups


def _run(data, ctx) -> None:
    section, _ = nearid_section(data.samples, ctx.image_encoder, n_views=ctx.opt("nearid", "n_views", 3),
                                cache=ctx.cache, problems=ctx.problems, progress=ctx.progress,
                                n_resamples=ctx.n_resamples, seed=ctx.seed)
    review = ctx.opt("nearid", "review_counts")
    if review:
        section["review"] = review
    ctx.results.sections["nearid"] = section


from idbench.protocols.registry import Protocol, register_protocol  # noqa: E402

register_protocol(Protocol("nearid", ("samples",), _run,
                           "NearID: strict margins of view-view over view-distractor similarity (SSR, PA)",
                           needs_image_encoder=True))
