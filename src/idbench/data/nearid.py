"""NearID records: samples (n views of one identity, one distractor per view, tagged with its
source) as read from a manifest, and identity groups (their embeddings) as the protocol scores them.

Manifest (CSV or JSONL), one row per sample::

    sample_id,identity,source,views,distractors
    s1,dog3,composite,a.jpg;b.jpg;c.jpg,a_d.jpg;b_d.jpg;c_d.jpg

``views`` and ``distractors`` are ``;``-separated paths (relative to the manifest), the k-th
distractor placed on the k-th view's background; an empty slot marks a missing distractor.
The synthetic world's ``gallery.csv`` is read directly by :func:`samples_from_world`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idbench.data.manifest import ManifestError, read_rows
from idbench.data.records import ImageRecord


@dataclass
class IdentityGroup:
    """One identity's views (n, D) and the distractor of each view (n, D); NaN rows = missing."""

    identity: str
    views: np.ndarray
    distractors: np.ndarray
    source: str = "all"


@dataclass
class NearIDSample:
    sample_id: str
    identity: str
    source: str
    views: list[ImageRecord]
    distractors: list[ImageRecord | None]


def load_samples(path: str | Path) -> list[NearIDSample]:
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise ManifestError(f"{path}: no samples")
    missing = [c for c in ("sample_id", "views", "distractors") if c not in rows[0]]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}")
    out = []
    for r in rows:
        ident = r.get("identity") or r["sample_id"]
        vs = [p for p in r["views"].split(";")]
        ds = r["distractors"].split(";")
        if len(ds) != len(vs):
            raise ManifestError(f"{path}: sample {r['sample_id']}: {len(vs)} views but {len(ds)} distractor slots")
        rec = lambda p, k, kind, r=r, ident=ident: ImageRecord(  # noqa: E731
            f"{r['sample_id']}/{kind}{k}", (path.parent / p) if not Path(p).is_absolute() else Path(p), ident)
        out.append(NearIDSample(r["sample_id"], ident, r.get("source") or "default",
                                [rec(p, k, "v") for k, p in enumerate(vs)],
                                [rec(p, k, "d") if p else None for k, p in enumerate(ds)]))
    return out


def samples_from_world(gallery_records: list[ImageRecord], n_views: int | None = None) -> list[NearIDSample]:
    """One sample per instance of a synthetic world: its views and their matched-context distractors."""
    views, dist = {}, {}
    for r in gallery_records:
        role = r.extra.get("role")
        if role == "view":
            views.setdefault(r.subject, []).append(r)
        elif role == "distractor":
            # distractor_of is the view's path relative to the world; the view's id is that path sans suffix
            dist[str(Path(r.extra.get("distractor_of", "")).with_suffix(""))] = r
    out = []
    for s in sorted(views):
        vs = sorted(views[s], key=lambda r: r.extra.get("view", ""))[: n_views or None]
        ds = [dist.get(v.id) for v in vs]
        out.append(NearIDSample(s, s, "world-composite", vs, ds))
    return out


def apply_review(samples: list[NearIDSample], review_path: str | Path) -> dict:
    """Honour a person's decisions in ``review.csv`` (written by ``idbench distractors build``).

    Each row names a sample, a view slot, the distractor file (relative to the review file) and
    ``accept`` (1/0, yes/no, true/false). ``accept`` 0 empties the slot (the sample becomes
    incomplete); ``accept`` 1 on a slot that is empty puts the reviewed distractor in (a gate's
    rejection overruled). Returns the counts for the NearID section."""
    path = Path(review_path)
    rows = read_rows(path)
    by_id = {s.sample_id: s for s in samples}
    counts = {"review_file": str(path), "rows": len(rows), "removed": 0, "restored": 0, "unknown_rows": 0}
    for r in rows:
        s = by_id.get(r.get("sample_id", ""))
        flag = str(r.get("accept", "")).strip().lower()
        if s is None or flag not in ("1", "0", "yes", "no", "true", "false", "y", "n"):
            counts["unknown_rows"] += 1
            continue
        try:
            slot = int(r.get("slot", ""))
        except ValueError:
            counts["unknown_rows"] += 1
            continue
        if not 0 <= slot < len(s.distractors):
            counts["unknown_rows"] += 1
            continue
        accept = flag in ("1", "yes", "true", "y")
        if not accept and s.distractors[slot] is not None:
            s.distractors[slot] = None
            counts["removed"] += 1
        elif accept and s.distractors[slot] is None and r.get("distractor"):
            p = Path(r["distractor"])
            s.distractors[slot] = ImageRecord(f"{s.sample_id}/d{slot}", p if p.is_absolute() else path.parent / p, s.identity)
            counts["restored"] += 1
    return counts
