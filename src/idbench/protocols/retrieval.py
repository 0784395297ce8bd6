"""Finer-Personalization Rank: generated images as queries against an identity-labelled gallery.

For each granularity level (e.g. ``class`` then ``subject``), each generated image's label is its
conditioning subject's label at that level (taken from the gallery or references). Metrics come
from :func:`idbench.metrics.retrieval.retrieval_metrics`; the real references run as queries
against the same gallery give the upper bound, and ``relative = generated mAP / real mAP`` with a
joint cluster-bootstrap interval over subjects.

Content identity (see :mod:`idbench.data.content`; copies and near-copies alike):

* a gallery image that copies a reference is a leak: removed from the gallery by default
  (``leaked="keep"`` keeps it, but a reference query still never retrieves its own content);
* a generated image that copies a reference or gallery image is flagged (``copy_of`` column,
  count per method) and the gallery item it copies is left out of its ranking.

Every level also carries its chance level: the exact expected AP and CMC@k of a random ranking for
the actual queries and gallery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from idbench.data.problems import ProblemLog
from idbench.data.records import Gallery, GenerationSet, ImageRecord, ReferenceSet
from idbench.embed import embed_records
from idbench.encoders.base import Encoder
from idbench.metrics.retrieval import topk_search
from idbench.protocols.common import content_audit, embedding_matrix, scored_by_gallery, subject_labels
from idbench.results import Results
from idbench.section import Section

ROW_METRICS = ("ap", "cmc@1", "cmc@5")




@dataclass(kw_only=True)
class LeakItem:
    gallery: str
    reference: str
    kind: str


@dataclass(kw_only=True)
class Leakage:
    """Gallery images that copy a reference, and what was done with them."""

    rule: str = ""
    policy: str = "remove"
    gallery_copies_of_references: int = 0
    removed: int = 0
    items: list[LeakItem] = field(default_factory=list)


@dataclass(kw_only=True)
class Match:
    """One of a query's top matches in the gallery."""

    path: str
    label: str
    correct: bool
    sim: float
    thumb: str | None = None  # its thumbnail in the results folder


@dataclass(kw_only=True)
class RetrievalExample:
    """A query and its top 5, beside a real photo of its subject (for the report)."""

    query_path: str
    method: str
    subject: str
    level: str
    top: list[Match] = field(default_factory=list)
    reference_path: str | None = None
    query_thumb: str | None = None
    reference_thumb: str | None = None


@dataclass(kw_only=True)
class GroupMaps:
    group_level: str
    map: dict[str, dict[str, float | None]] = field(default_factory=dict)  # method -> group -> mAP


@dataclass(kw_only=True)
class RetrievalSection(Section):
    """``sections.retrieval``: per method and level, the means of the per-query metrics (``ap``,
    ``cmc@k``, ``r_precision``, ...) with counts; the real references' row and each method's exact
    chance level; gen / real with its interval; mAP per group; leakage; examples."""

    NAME = "retrieval"
    encoder: str = ""
    levels: list[str] = field(default_factory=list)
    ties: str = ""
    no_relevant: str = ""
    within: Any = None
    gallery_size: int = 0
    #: method -> level -> {metric: mean, "n_queries", "n_subjects", "n_no_relevant"}
    methods: dict[str, dict[str, dict[str, float | int | None]]] = field(default_factory=dict)
    #: level -> the references as queries: {metric: mean, "n_queries", "n_subjects", "references_in_gallery",
    #: "chance": {metric: expected value}}
    real: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: method -> level -> gen / real mAP {"mean", "ci_low", "ci_high", "n_subjects"}
    relative: dict[str, dict[str, dict[str, float | int | None]]] = field(default_factory=dict)
    #: method -> level -> {"how", metric: exact expectation under a random ranking}
    chance: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    per_group: dict[str, GroupMaps] = field(default_factory=dict)
    leakage: Leakage = field(default_factory=Leakage)
    subjects_not_in_gallery: dict[str, str] = field(default_factory=dict)
    examples: list[RetrievalExample] = field(default_factory=list)


def rank_protocol(
    gallery: Gallery,
    generations: GenerationSet,
    encoder: Encoder,
    *,
    levels: Sequence[str] = ("subject",),
    references: ReferenceSet | None = None,
    results: Results,
    cache=None,
    problems: ProblemLog | None = None,
    progress: bool = True,
    no_relevant: str = "zero",
    ties: str = "pessimistic",
    leaked: str = "remove",
    within: str | None = None,
    not_in_gallery: str = "leave_out",
    n_examples: int = 12,
    n_resamples: int = 2000,
    seed: int = 0,
    content=None,
    batch_size: int = 32,
) -> dict:
    """Run the protocol; adds per-image columns to ``results`` and returns the ``retrieval`` section.

    ``within``: a coarser gallery level (``"class"``), or ``"parent"`` (the level just above each ranked
    level), inside which each query is ranked: a query meets only the gallery images that share its
    label at that level, as FPR's code ranks a species' queries against that species' gallery. Levels at or above ``within`` are ranked against the whole
    gallery. The method means are then over all queries (each ranked in its own group); each group's
    own mAP is in ``per_group``.

    Subjects whose label at a ranked level is not in the gallery are scored AP 0 with
    ``not_in_gallery="zero"`` (FPR's code: such a query has no relevant item), else left out (named in ``problems``
    and in the section's ``subjects_not_in_gallery``, their references out of the upper bound);
    :class:`~idbench.protocols.common.UnknownLabelError` when no generated subject is left (never a
    silent zero-AP query).
    """
    problems = problems if problems is not None else results.problems
    if encoder.kind != "image":
        raise ValueError(f"the rank protocol needs an image encoder, {encoder.name} is a {encoder.kind} encoder")
    if leaked not in ("remove", "keep"):
        raise ValueError(f"leaked must be 'remove' or 'keep', got {leaked!r}")
    for lv in levels:
        if lv != "subject" and lv not in gallery.levels:
            raise ValueError(f"level {lv!r} is not a gallery label level ({', '.join(gallery.levels)})")
    if within is not None and within != "parent" and within not in gallery.levels:
        raise ValueError(f"within: {within!r} is neither 'parent' nor a gallery label level ({', '.join(gallery.levels)})")
    labels_of = subject_labels(gallery, references)
    known = {lv: {r.label(lv) for r in gallery} for lv in levels}
    gens, refs, left_out = scored_by_gallery(generations.records, references.records if references is not None else [],
                                             labels_of, known, problems, "retrieval", keep=not_in_gallery == "zero")
    all_refs = list(references.records) if references is not None else []
    content = content_audit(content, all_refs, generations.records, gallery.records, results=results, cache=cache,
                            problems=problems)
    # 1. leaks: gallery images that copy (or nearly copy) a reference
    leaks = [c for c in (content.leak_of(r) for r in gallery.records) if c is not None]
    for c in leaks:
        problems.add(c.record.path, "leaked_reference", f"gallery image {c.describe()}; "
                     + ("removed from the gallery" if leaked == "remove" else "kept in the gallery (--leaked keep)"),
                     "removed" if leaked == "remove" else "warning")
    gal_records = [r for r in gallery.records if leaked == "keep" or content.leak_of(r) is None]
    if not gal_records:
        raise ValueError("every gallery image is a copy of a reference")

    emb_g = embed_records(encoder, gal_records, cache=cache, problems=problems, progress=progress, desc="gallery",
                         batch_size=batch_size)
    emb_q = embed_records(encoder, gens, cache=cache, problems=problems, progress=progress, desc="queries",
                         batch_size=batch_size)
    G, gal = embedding_matrix(emb_g, gal_records)
    if len(gal) == 0:
        raise ValueError("no gallery image could be embedded")
    Q, qrecs = embedding_matrix(emb_q, gens)
    if len(qrecs) == 0:
        raise ValueError("no generated image could be embedded")
    rows = results.row_index()
    section: dict = {"encoder": encoder.name, "levels": list(levels), "ties": ties, "no_relevant": no_relevant,
                     "within": within,
                     "gallery_size": len(gal), "methods": {}, "real": {}, "relative": {}, "chance": {}, "per_group": {},
                     "leakage": {"rule": "gallery image that copies or nearly copies a reference (see the content section)",
                                 "policy": leaked, "gallery_copies_of_references": len(leaks),
                                 "removed": len(leaks) if leaked == "remove" else 0,
                                 "items": [{"gallery": str(c.record.path), "reference": str(c.source.path),
                                            "kind": c.kind} for c in leaks]},
                     "subjects_not_in_gallery": left_out}
    real = None
    if refs:
        emb_r = embed_records(encoder, refs, cache=cache, problems=problems, progress=progress, desc="references",
                             batch_size=batch_size)
        real = embedding_matrix(emb_r, refs)
    # a query never counts its own content (bytes or near-copy) as a match
    h_gal = [content.content_id(r) for r in gal]
    h_q = [content.content_id(r) for r in qrecs]
    gallery_contents = set(h_gal)
    by_method: dict[str, list[int]] = {}
    for i, r in enumerate(qrecs):
        by_method.setdefault(r.method or "", []).append(i)
    q_subjects = np.array([r.subject for r in qrecs])

    def within_level(lv):  # the level whose groups lv is ranked within, or None: against the whole gallery
        wl = _parent_level(gallery.levels, lv) if within == "parent" else within
        return wl if wl is not None and _finer(gallery.levels, lv, wl) else None

    R, rrecs = real if real is not None and len(real[1]) else (None, [])
    h_r = [content.content_id(r) for r in rrecs]
    # the levels ranked against the whole gallery, all at once: one similarity product for them all
    flat = [lv for lv in levels if within_level(lv) is None]
    pre_q, pre_r = {}, {}
    if flat:
        gls = [[r.label(lv) for r in gal] for lv in flat]
        pre_q = dict(zip(flat, _ranked_levels(Q, [[labels_of[r.subject].get(lv, "") for r in qrecs] for lv in flat], G,
                                              gls, h_q, h_gal, no_relevant, ties, cache)))
        if rrecs:
            pre_r = dict(zip(flat, _ranked_levels(R, [[labels_of[r.subject].get(lv, "") for r in rrecs] for lv in flat],
                                                  G, gls, h_r, h_gal, no_relevant, ties, cache)))
    for lv in levels:
        gl = [r.label(lv) for r in gal]
        name = lambda m, lv=lv: f"{m}:{lv}[{encoder.name}]"  # noqa: E731
        for m in ROW_METRICS:
            results.add_metric(name(m), f"retrieval {m} at level {lv} against the gallery ({encoder.name})",
                               encoder=encoder.name, protocol="retrieval")
        ql = [labels_of[r.subject].get(lv, "") for r in qrecs]
        wl = within_level(lv)

        def rank(X, xl, xids, xrecs, pre, gl=gl, wl=wl, lv=lv):
            if wl is None:
                return pre[lv]
            xgroups = [labels_of[r.subject].get(wl, "") for r in xrecs]
            return _ranked_within(X, xl, xgroups, G, gl, [r.label(wl) for r in gal], xids, h_gal, no_relevant, ties,
                                  cache)

        res = rank(Q, ql, h_q, qrecs, pre_q)
        for i, r in enumerate(qrecs):
            rows[(r.method or "", r.id)].update({name(m): float(res.per_query[m][i]) for m in ROW_METRICS})
        for method, idx in by_method.items():
            summ = {k: _nanmean(v[idx]) for k, v in res.per_query.items()}
            summ["n_no_relevant"] = int((res.n_relevant[idx] == 0).sum())
            summ["n_queries"] = len(idx)
            summ["n_subjects"] = int(len(set(q_subjects[idx])))
            section["methods"].setdefault(method, {})[lv] = summ
            section["chance"].setdefault(method, {})[lv] = {
                "how": "exact expectation under a uniformly random ranking of this gallery for these queries",
                **_chance(res, idx)}
        # real-image upper bound: references as queries; a gallery item with the reference's own bytes is left out
        if rrecs:
            rl = [labels_of[r.subject].get(lv, "") for r in rrecs]
            rres = rank(R, rl, h_r, rrecs, pre_r)
            section["real"][lv] = rres.summary()
            section["real"][lv]["n_subjects"] = len({r.subject for r in rrecs})
            section["real"][lv]["references_in_gallery"] = int(sum(h in gallery_contents for h in h_r))
            section["real"][lv]["chance"] = rres.chance()
            r_subjects = [r.subject for r in rrecs]
            from idbench.stats.bootstrap import ratio_bootstrap

            for method, idx in by_method.items():
                b = ratio_bootstrap(res.per_query["ap"][idx], q_subjects[idx], rres.per_query["ap"], r_subjects,
                                    n_resamples=n_resamples, seed=seed)
                section["relative"].setdefault(method, {})[lv] = {"mean": b.mean, "ci_low": b.ci_low,
                                                                   "ci_high": b.ci_high, "n_subjects": b.n_clusters}
        # per group: queries and gallery restricted to the parent label (the level above)
        parent = _parent_level(gallery.levels, lv)
        if parent is not None:
            groups: dict = {}
            pg = np.array([r.label(parent) for r in gal])
            pq = np.array([labels_of[r.subject].get(parent, "") for r in qrecs])
            for grp in sorted(set(pq)):
                gi, qi = np.flatnonzero(pg == grp), np.flatnonzero(pq == grp)
                if len(gi) == 0:
                    continue
                gres = _ranked(Q[qi], [ql[i] for i in qi], G[gi], [gl[i] for i in gi], [h_q[i] for i in qi],
                               [h_gal[i] for i in gi], no_relevant, ties, cache)
                for method in by_method:
                    sel = [k for k, i in enumerate(qi) if (qrecs[i].method or "") == method]
                    if sel:
                        groups.setdefault(method, {})[grp] = _nanmean(gres.per_query["ap"][sel])
            section["per_group"][lv] = {"group_level": parent, "map": groups}
    # failures first: a query whose first match (the ranking's own, exclusions applied) is another identity
    wrong = np.asarray(res.per_query["cmc@1"]) == 0 if levels and len(qrecs) else np.zeros(len(qrecs), bool)
    section["examples"] = _examples(Q, qrecs, G, gal, levels[-1], labels_of, n_examples, wrong)
    first_ref = {}  # each query shown beside a real photo of its subject: its first reference, else a gallery photo
    for r in sorted(references.records if references is not None else [], key=lambda r: r.id) + list(gal):
        first_ref.setdefault(r.subject, str(r.path.resolve()))
    for e in section["examples"]:
        e["reference_path"] = first_ref.get(e["subject"])
    section = results.sections["retrieval"] = RetrievalSection.from_dict(section)
    return section


def _chance(res, idx) -> dict:
    from idbench.metrics.retrieval import chance_retrieval

    return chance_retrieval(res.n_relevant[idx], res.n_candidates[idx], res.ks)


def _ranked(Q, ql, G, gl, qids, gids, no_relevant, ties, cache):
    """:func:`retrieval_metrics`, computed once per content (embeddings, labels, ids, rules) and then
    read from the results cache: a warm study ranks nothing again (and imports no torch)."""
    return _ranked_levels(Q, [ql], G, [gl], qids, gids, no_relevant, ties, cache)[0]


def _ranked_levels(Q, qls, G, gls, qids, gids, no_relevant, ties, cache) -> list:
    """:func:`_ranked` at several levels: the levels not in the results cache are ranked together
    (:func:`idbench.metrics.retrieval.retrieval_metrics_levels`: one similarity product for all of
    them), each stored under its own level's key."""
    from idbench.cache.results import cached_arrays
    from idbench.cache.store import default_cache_dir
    from idbench.metrics.retrieval import RetrievalResult, retrieval_metrics_levels

    root = default_cache_dir() if cache is not None else None
    fresh: dict[int, RetrievalResult] = {}

    def computed(k):
        if not fresh:
            fresh.update(enumerate(retrieval_metrics_levels(Q, qls, G, gls, query_ids=qids, gallery_ids=gids,
                                                            no_relevant=no_relevant, ties=ties)))
        return fresh[k].to_arrays()

    out = []
    for k, (ql, gl) in enumerate(zip(qls, gls)):
        key = ["retrieval-v1", Q, np.asarray(ql).astype(str), G, np.asarray(gl).astype(str),
               np.asarray(qids).astype(str), np.asarray(gids).astype(str), no_relevant, ties]
        out.append(RetrievalResult.from_arrays(cached_arrays("retrieval", key, lambda k=k: computed(k), root=root)))
    return out


def _ranked_within(Q, ql, qgroups, G, gl, ggroups, qids, gids, no_relevant, ties, cache):
    """:func:`_ranked` inside each group: query i meets only the gallery items whose group equals
    ``qgroups[i]``. A query whose group has no gallery item has no relevant item (``no_relevant``)."""
    from idbench.metrics.retrieval import RetrievalResult

    qgroups, ggroups = np.asarray(qgroups, dtype=object), np.asarray(ggroups, dtype=object)
    n = len(ql)
    parts: list[tuple[np.ndarray, RetrievalResult]] = []
    for grp in sorted(set(qgroups.tolist()), key=str):
        qi, gi = np.flatnonzero(qgroups == grp), np.flatnonzero(ggroups == grp)
        if len(gi):
            parts.append((qi, _ranked(Q[qi], [ql[i] for i in qi], G[gi], [gl[i] for i in gi], [qids[i] for i in qi],
                                      [gids[i] for i in gi], no_relevant, ties, cache)))
        elif no_relevant == "error":
            raise ValueError(f"group {grp!r}: no gallery image to rank its queries against (no_relevant = 'error')")
    ks = parts[0][1].ks if parts else ()
    names = list(parts[0][1].per_query) if parts else ["ap"]
    empty = 0.0 if no_relevant == "zero" else np.nan
    per_query = {k: np.full(n, empty, float) for k in names}
    n_rel, n_cand = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for qi, r in parts:
        for k in names:
            per_query[k][qi] = r.per_query[k]
        n_rel[qi] = r.n_relevant
        n_cand[qi] = r.n_candidates if r.n_candidates is not None else 0
    return RetrievalResult(per_query, n_rel, int((n_rel == 0).sum()), ks, n_cand)


def _finer(levels: Sequence[str], lv: str, within: str) -> bool:
    """Whether level ``lv`` is finer than ``within`` (``subject`` is the finest of all)."""
    levels = list(levels)
    if lv == within:
        return False
    if lv == "subject" and lv not in levels:
        return True
    return lv in levels and levels.index(lv) > levels.index(within)


def _parent_level(levels: Sequence[str], lv: str) -> str | None:
    levels = list(levels)
    if lv in levels and levels.index(lv) > 0:
        return levels[levels.index(lv) - 1]
    return None


def _nanmean(v: np.ndarray) -> float:
    v = np.asarray(v, float)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def _examples(Q, qrecs: list[ImageRecord], G, gal: list[ImageRecord], level, labels_of, n, wrong) -> list[dict]:
    """Up to ``n`` queries with their top-5 gallery items, for the report: failures first (``wrong``:
    the ranking put another identity first), spread round-robin over methods and, within a method,
    over subjects. Only the chosen queries are searched again for their top 5. Paths are absolute,
    so the report finds them whatever the working folder."""
    if len(qrecs) == 0:
        return []
    queues: dict[str, list[int]] = {}
    for m in sorted({r.method or "" for r in qrecs}):
        mine = [i for i, r in enumerate(qrecs) if (r.method or "") == m]
        order = []
        for want_wrong in (True, False):  # failures first, one per subject before a second one
            by_s: dict[str, list[int]] = {}
            for i in mine:
                if wrong[i] == want_wrong:
                    by_s.setdefault(qrecs[i].subject, []).append(i)
            lists = [by_s[s] for s in sorted(by_s)]
            order += [lst[k] for k in range(max(map(len, lists), default=0)) for lst in lists if k < len(lst)]
        queues[m] = order
    chosen: list[int] = []
    k = 0
    while len(chosen) < n and any(k < len(v) for v in queues.values()):
        for m in sorted(queues):
            if k < len(queues[m]) and len(chosen) < n:
                chosen.append(queues[m][k])
        k += 1
    if not chosen:
        return []
    sims, idx = topk_search(Q[chosen], G, 5)
    out = []
    for k, i in enumerate(chosen):
        r = qrecs[i]
        want = labels_of[r.subject].get(level, "")
        out.append({"query_path": str(r.path.resolve()), "method": r.method or "", "subject": r.subject, "level": level,
                    "top": [{"path": str(gal[int(j)].path.resolve()), "label": gal[int(j)].label(level),
                             "correct": gal[int(j)].label(level) == want, "sim": float(sv)}
                            for sv, j in zip(sims[k], idx[k])]})
    return out


def _run(data, ctx) -> None:
    levels = ctx.opt("retrieval", "levels") or list(data.gallery.levels)
    rank_protocol(data.gallery, data.generations, ctx.image_encoder, levels=levels, references=data.references,
                  results=ctx.results, cache=ctx.cache, problems=ctx.problems, progress=ctx.progress,
                  no_relevant=ctx.opt("retrieval", "no_relevant"), ties=ctx.opt("retrieval", "ties"),
                  leaked=ctx.opt("retrieval", "leaked"), within=ctx.opt("retrieval", "within"),
                  not_in_gallery=ctx.opt("retrieval", "not_in_gallery"), n_resamples=ctx.n_resamples, seed=ctx.seed,
                  content=data.content, batch_size=ctx.batch_size)


from idbench.options import Option  # noqa: E402
from idbench.protocols import retrieval_views  # noqa: E402
from idbench.protocols.registry import Protocol, Views  # noqa: E402

OPTIONS = (
    Option("levels", "list", None, "gallery label levels, coarse to fine (default: every level of the gallery)"),
    Option("no_relevant", "str", "zero", "queries with no relevant gallery item: AP 0 (published), excluded, or an "
           "error", choices=("zero", "skip", "error")),
    Option("ties", "str", "pessimistic", "a relevant item tied with irrelevant ones ranks after (pessimistic) or "
           "before them", choices=("pessimistic", "optimistic")),
    Option("leaked", "str", "remove", "gallery images byte-identical to a reference: removed from the gallery "
           "(counted and named) or kept", choices=("remove", "keep")),
    Option("within", "str", None, "parent (the level just above each ranked level) or a coarser gallery level (e.g. "
           "class) inside which each query is ranked: it meets "
           "only the gallery images of its own group, as FPR's code ranks each species against its own gallery "
           "(default: the whole gallery)"),
    Option("not_in_gallery", "str", "leave_out", "a generated subject whose label is not in the gallery: left out "
           "(named) or scored as a query with nothing to find (zero: AP 0, as FPR's code does)",
           choices=("leave_out", "zero")),
)

PROTOCOL = Protocol("retrieval", ("gallery", "generations"), _run,
                    "Finer-Personalization Rank: generated images as queries against the labelled gallery, per "
                    "level, with the real-reference upper bound and chance levels", options=OPTIONS, order=20,
                    needs_image_encoder=True, title="Retrieval (Finer-Personalization Rank)",
                    sections=(RetrievalSection,),
                    views=Views(tables=retrieval_views.tables, console=retrieval_views.console,
                                report=retrieval_views.report))
