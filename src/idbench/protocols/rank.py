"""Finer-Personalization Rank: generated images as queries against an identity-labelled gallery.

For each granularity level (e.g. ``class`` then ``subject``), each generated image's label is its
conditioning subject's label at that level (taken from the gallery or references). Metrics come
from :func:`idbench.metrics.retrieval.retrieval_metrics`; the real references run as queries
against the same gallery give the upper bound, and ``relative = generated mAP / real mAP``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from idbench.data.problems import ProblemLog
from idbench.data.records import Gallery, GenerationSet, ImageRecord, ReferenceSet
from idbench.embed import embed_records
from idbench.encoders.base import Encoder
from idbench.metrics.retrieval import retrieval_metrics, topk_search
from idbench.results import Results

ROW_METRICS = ("ap", "cmc@1", "cmc@5")


def subject_labels(*sets) -> dict[str, dict[str, str]]:
    """subject -> {level: label} from any records that carry labels (first seen wins)."""
    out: dict[str, dict[str, str]] = {}
    for s in sets:
        for r in s or ():
            d = out.setdefault(r.subject, {"subject": r.subject})
            for k, v in r.labels.items():
                d.setdefault(k, v)
    return out


def _matrix(emb, recs: Sequence[ImageRecord]) -> tuple[np.ndarray, list[ImageRecord]]:
    kept = [r for r in recs if r.id in emb and emb[r.id].n == 1]
    if not kept:
        return np.zeros((0, 0), np.float32), []
    return np.concatenate([emb[r.id].vectors for r in kept]), kept


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
    n_examples: int = 6,
) -> dict:
    """Run the protocol; adds per-image columns to ``results`` and returns the ``retrieval`` section."""
    problems = problems if problems is not None else results.problems
    if encoder.kind != "image":
        raise ValueError(f"the rank protocol needs an image encoder, {encoder.name} is a {encoder.kind} encoder")
    labels_of = subject_labels(gallery, references)
    for lv in levels:
        if lv != "subject" and lv not in gallery.levels:
            raise ValueError(f"level {lv!r} is not a gallery label level ({', '.join(gallery.levels)})")
    emb_g = embed_records(encoder, gallery.records, cache=cache, problems=problems, progress=progress, desc="gallery")
    emb_q = embed_records(encoder, generations.records, cache=cache, problems=problems, progress=progress, desc="queries")
    G, gal = _matrix(emb_g, gallery.records)
    if len(gal) == 0:
        raise ValueError("no gallery image could be embedded")
    gen_known = []
    for g in generations:
        if g.subject not in labels_of:
            problems.add(g.path, "unknown_subject", f"subject {g.subject!r} has no labels in the gallery or references")
        else:
            gen_known.append(g)
    Q, qrecs = _matrix(emb_q, gen_known)
    rows = results.row_index()
    section: dict = {"encoder": encoder.name, "levels": list(levels), "ties": ties, "no_relevant": no_relevant,
                     "gallery_size": len(gal), "methods": {}, "real": {}, "relative": {}, "per_group": {}}
    real = None
    if references is not None:
        emb_r = embed_records(encoder, references.records, cache=cache, problems=problems, progress=progress, desc="references")
        real = _matrix(emb_r, references.records)
    gallery_paths = {str(r.path.resolve()) for r in gal}
    for lv in levels:
        gl = [r.label(lv) for r in gal]
        name = lambda m: f"{m}:{lv}[{encoder.name}]"  # noqa: E731
        for m in ROW_METRICS:
            results.add_metric(name(m), f"retrieval {m} at level {lv} against the gallery ({encoder.name})",
                               encoder=encoder.name, protocol="retrieval")
        ql = [labels_of[r.subject].get(lv, "") for r in qrecs]
        res = retrieval_metrics(Q, ql, G, gl, no_relevant=no_relevant, ties=ties)
        for i, r in enumerate(qrecs):
            rows[(r.method or "", r.id)].update({name(m): float(res.per_query[m][i]) for m in ROW_METRICS})
        by_method: dict[str, list[int]] = {}
        for i, r in enumerate(qrecs):
            by_method.setdefault(r.method or "", []).append(i)
        for method, idx in by_method.items():
            summ = {k: _nanmean(v[idx]) for k, v in res.per_query.items()}
            summ["n_no_relevant"] = int((res.n_relevant[idx] == 0).sum())
            section["methods"].setdefault(method, {})[lv] = summ
        # real-image upper bound: references as queries, each left out of the gallery if it is in it
        if real is not None and len(real[1]):
            R, rrecs = real
            rl = [labels_of[r.subject].get(lv, "") for r in rrecs]
            ids_q = [str(r.path.resolve()) for r in rrecs]
            ids_g = [str(r.path.resolve()) for r in gal]
            rres = retrieval_metrics(R, rl, G, gl, query_ids=ids_q, gallery_ids=ids_g, no_relevant=no_relevant, ties=ties)
            section["real"][lv] = rres.summary()
            section["real"][lv]["references_in_gallery"] = int(sum(p in gallery_paths for p in ids_q))
            for method in by_method:
                real_map = section["real"][lv]["ap"]
                section["relative"].setdefault(method, {})[lv] = section["methods"][method][lv]["ap"] / real_map if real_map > 0 else float("nan")
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
                gres = retrieval_metrics(Q[qi], [ql[i] for i in qi], G[gi], [gl[i] for i in gi], no_relevant=no_relevant, ties=ties)
                for method in by_method:
                    sel = [k for k, i in enumerate(qi) if (qrecs[i].method or "") == method]
                    if sel:
                        groups.setdefault(method, {})[grp] = _nanmean(gres.per_query["ap"][sel])
            section["per_group"][lv] = {"group_level": parent, "map": groups}
    section["examples"] = _examples(Q, qrecs, G, gal, levels[-1], labels_of, n_examples)
    results.sections["retrieval"] = section
    return section


def _parent_level(levels: Sequence[str], lv: str) -> str | None:
    levels = list(levels)
    if lv in levels and levels.index(lv) > 0:
        return levels[levels.index(lv) - 1]
    return None


def _nanmean(v: np.ndarray) -> float:
    v = np.asarray(v, float)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def _examples(Q, qrecs, G, gal, level, labels_of, n) -> list[dict]:
    """A few queries per method with their top-5 gallery items, for the report."""
    if len(qrecs) == 0:
        return []
    sims, idx = topk_search(Q, G, 5)
    out, seen = [], {}
    for i, r in enumerate(qrecs):
        m = r.method or ""
        if seen.get(m, 0) >= max(1, n // 3):
            continue
        seen[m] = seen.get(m, 0) + 1
        want = labels_of[r.subject].get(level, "")
        out.append({"query_path": str(r.path), "method": m, "subject": r.subject, "level": level,
                    "top": [{"path": str(gal[j].path), "label": gal[j].label(level), "correct": gal[j].label(level) == want,
                             "sim": float(s)} for s, j in zip(sims[i], idx[i])]})
    return out
