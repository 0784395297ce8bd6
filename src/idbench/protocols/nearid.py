"""The NearID protocol over records: embed samples, score SSR/PA, train and compare an identity head."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from idbench.data.nearid import NearIDSample
from idbench.embed import embed_records
from idbench.metrics.nearid import IdentityGroup, sample_margins, ssr_pa
from idbench.section import Section, validate


@dataclass(kw_only=True)
class SourceFigures:
    ssr: float | None = None
    pa: float | None = None
    n_samples: int = 0


@dataclass(kw_only=True)
class Histogram:
    edges: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)


@dataclass(kw_only=True)
class NearIDChance:
    pa: float = 0.5
    how: str = ""


@dataclass(kw_only=True)
class SampleRow:
    """One scored sample: its smallest margin and whether every margin wins (``nearid_samples.csv``)."""

    sample_id: str
    source: str | None = None
    min_margin: float | None = None
    success: bool | None = None
    n_valid_margins: int = 0
    n_margins: int = 0


@dataclass(kw_only=True)
class NearIDExample:
    sample_id: str
    source: str | None = None
    min_margin: float | None = None
    views: list[str] = field(default_factory=list)
    distractors: list[str] = field(default_factory=list)
    margins: list[float | None] = field(default_factory=list)
    view_thumbs: list[str | None] | None = None  # their thumbnails in the results folder (stored when it is written)
    distractor_thumbs: list[str | None] | None = None


@dataclass(kw_only=True)
class Review:
    """What a person's review file changed (``review.csv``)."""

    review_file: str = ""
    rows: int = 0
    removed: int = 0
    restored: int = 0
    unknown_rows: int = 0
    conflicting_rows: int = 0


@dataclass(kw_only=True)
class DistractorBuild:
    """The distractor builder's record (``build.json`` beside the samples)."""

    masks: Any = None
    attempts: int | None = None
    accepted: int | None = None
    rejected: dict[str, int] = field(default_factory=dict)  # gate -> candidates it rejected
    gates: Any = None


@dataclass(kw_only=True)
class NearIDSection(Section):
    """``sections.nearid``: SSR and PA with their intervals, margins and counts for one encoder, per
    distractor source, each scored sample, and the report's examples."""

    NAME = "nearid"
    encoder: str = ""
    n_views: int = 3
    n_samples_given: int = 0
    n_samples_not_embedded: int = 0
    ssr: float | None = None
    pa: float | None = None
    ssr_ci: list[float | None] | None = None
    pa_ci: list[float | None] | None = None
    ci_note: str = ""
    n_samples: int = 0
    n_incomplete: int = 0
    n_partial: int = 0
    incomplete_rule: str = "drop"
    n_margins: int = 0
    margin_quantiles: dict[str, float] = field(default_factory=dict)
    histogram: Histogram = field(default_factory=Histogram)
    per_source: dict[str, SourceFigures] = field(default_factory=dict)
    chance: NearIDChance = field(default_factory=NearIDChance)
    samples: list[SampleRow] = field(default_factory=list)
    examples: list[NearIDExample] = field(default_factory=list)
    review: Review | None = None
    distractor_build: DistractorBuild | None = None


def embed_samples(samples: list[NearIDSample], encoder, *, cache=None, problems=None, progress=True,
                  keep_partial: bool = False, batch_size: int = 32) -> list[IdentityGroup]:
    """Each sample's views and distractors embedded. A sample with a view that could not be embedded is
    left out, unless ``keep_partial``: then that view is a row of NaN (its margins are NaN)."""
    recs = [r for s in samples for r in s.views + [d for d in s.distractors if d is not None]]
    emb = embed_records(encoder, recs, cache=cache, problems=problems, progress=progress, desc="NearID samples",
                         batch_size=batch_size)
    groups = []
    for s in samples:
        got = [v for v in s.views if v.id in emb]
        if not got or (len(got) < len(s.views) and not keep_partial):
            continue
        dim = emb[got[0].id].vectors.shape[1]
        v = np.stack([emb[r.id].vectors[0] if r.id in emb else np.full(dim, np.nan, np.float32) for r in s.views])
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
                   n_resamples: int = 2000, seed: int = 0, incomplete: str = "drop",
                   batch_size: int = 32) -> tuple[NearIDSection, list[IdentityGroup]]:
    """SSR / PA with intervals, margins and counts for one encoder: the ``nearid`` section, with one
    row per scored sample (id, distractor source, smallest margin, whether every margin wins).
    ``incomplete``: see :func:`idbench.metrics.nearid.ssr_pa`."""
    groups = embed_samples(samples, encoder, cache=cache, problems=problems, progress=progress,
                           keep_partial=incomplete == "valid_margins", batch_size=batch_size)
    margins = [sample_margins(g.views[:n_views], g.distractors[:n_views]) for g in groups]
    res = ssr_pa(margins, [g.source for g in groups], incomplete=incomplete)
    section = {"encoder": encoder.name, "n_views": n_views, "n_samples_given": len(samples),
               "n_samples_not_embedded": len(samples) - len(groups), **res.summary()}
    section.update(res.intervals(n_resamples=n_resamples, seed=seed))
    section["chance"] = {"pa": 0.5, "how": "a margin is as likely positive as negative when the encoder cannot tell "
                                            "identity from background"}
    section["samples"] = [_sample_row(g, m) for g, m in zip(groups, margins)]
    section["examples"] = _examples(samples, groups, margins, n_views)
    return NearIDSection.from_dict(section), groups


def _examples(samples, groups, margins, n_views: int, n: int = 4) -> list[dict]:
    """The samples with the smallest margin first (failures), then the best one: views, their
    distractors and the margins, for the report."""
    by_id = {s.identity: s for s in samples}
    scored = [(float(np.nanmin(m)) if np.isfinite(m).any() else None, g, m) for g, m in zip(groups, margins)]
    scored = [x for x in scored if x[0] is not None and x[1].identity in by_id]
    scored.sort(key=lambda x: x[0])
    chosen = scored[: n - 1] + scored[-1:] if len(scored) > n else scored
    out = []
    for mn, g, m in chosen:
        s = by_id[g.identity]
        out.append({"sample_id": s.sample_id, "source": s.source, "min_margin": mn,
                    "views": [str(v.path) for v in s.views[:n_views]],
                    "distractors": [str(d.path) if d is not None else "" for d in s.distractors[:n_views]],
                    "margins": [None if not np.isfinite(x) else float(x) for x in np.ravel(m)[:n_views]]})
    return out


def _sample_row(g: IdentityGroup, m: np.ndarray) -> dict:
    valid = m[~np.isnan(m)]
    return {"sample_id": g.identity, "source": g.source, "min_margin": float(valid.min()) if valid.size else None,
            "success": bool((valid > 0).all()) if valid.size else None, "n_valid_margins": int(valid.size),
            "n_margins": int(m.size)}


def beside_samples(samples_path, name: str):
    """``name`` in the samples manifest's folder (or in the samples folder itself), when that file exists."""
    from pathlib import Path

    if samples_path is None:
        return None
    p = Path(samples_path)
    p = (p if p.is_dir() else p.parent) / name
    return p if p.is_file() else None


def _run(data, ctx) -> None:
    import copy
    import json
    from pathlib import Path

    from idbench.data.manifest import ManifestError
    from idbench.data.nearid import apply_review

    samples = [copy.copy(s) for s in data.samples]
    for s in samples:
        s.distractors = list(s.distractors)
    review = None
    given = ctx.opt("nearid", "review")
    path = Path(given) if given else beside_samples(data.paths.get("samples"), "review.csv")
    if path is not None:
        try:
            review = apply_review(samples, path, ctx.problems)
        except ManifestError as e:
            raise ValueError(f"review file: {e}") from None
    n_views = ctx.opt("nearid", "n_views")
    section, groups = nearid_section(samples, ctx.image_encoder, n_views=n_views, cache=ctx.cache, problems=ctx.problems,
                                     progress=ctx.progress, n_resamples=ctx.n_resamples, seed=ctx.seed,
                                     incomplete=ctx.opt("nearid", "incomplete"), batch_size=ctx.batch_size)
    if not groups:
        raise ValueError("no NearID sample could be embedded")
    if review:
        section.review = Review(**review)
    build = beside_samples(data.paths.get("samples"), "build.json")
    if build is not None:
        try:
            b = json.loads(build.read_text(encoding="utf-8"))
            section.distractor_build = validate(DistractorBuild, {k: b.get(k) for k in DistractorBuild.__dataclass_fields__
                                                                  if b.get(k) is not None}, where=str(build))
        except (ValueError, OSError, AttributeError) as e:
            ctx.problems.add(build, "unreadable", f"distractor build record not read: {e}", "warning")
    ctx.results.sections["nearid"] = section


from idbench.options import Option  # noqa: E402
from idbench.protocols import nearid_views  # noqa: E402
from idbench.protocols.registry import Protocol, Views  # noqa: E402

OPTIONS = (
    Option("n_views", "int", 3, "views per sample (published: 3)", minimum=2, flag="--views"),
    Option("incomplete", "str", "drop", "a sample missing a distractor or a view: left out of SSR and PA (drop) or "
           "scored on its valid margins, as NearID's code does (valid_margins)", choices=("drop", "valid_margins")),
    Option("review", "path", None, "a review.csv with an accept column (default: review.csv beside the samples "
           "manifest, when present)"),
)

PROTOCOL = Protocol("nearid", ("samples",), _run,
                    "NearID: strict margins of view-view over view-distractor similarity (SSR, PA)", options=OPTIONS,
                    order=40, needs_image_encoder=True, sections=(NearIDSection,),
                    title="NearID: near-identity distractors",
                    views=Views(tables=nearid_views.tables, console=nearid_views.console, report=nearid_views.report,
                                files=nearid_views.files))
