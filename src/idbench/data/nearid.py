"""NearID records: samples (n views of one identity, one distractor per view, tagged with its
source) as read from a manifest, and identity groups (their embeddings) as the protocol scores them.

Manifest (CSV or JSONL), one row per sample::

    sample_id,identity,source,views,distractors
    s1,dog3,composite,a.jpg;b.jpg;c.jpg,a_d.jpg;b_d.jpg;c_d.jpg

``views`` and ``distractors`` are ``;``-separated paths (relative to the manifest), or JSON lists
of paths (``["a;1.jpg", "b.jpg"]``, what idbench writes when a path holds a ``;``); the k-th
distractor is placed on the k-th view's background; an empty slot marks a missing distractor.
The synthetic world's ``gallery.csv`` is read directly by :func:`samples_from_world`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from idbench.data.manifest import ManifestError, read_rows
from idbench.data.records import ImageRecord
from idbench.metrics.nearid import IdentityGroup  # noqa: F401  (the embedded form of a sample set)


@dataclass
class NearIDSample:
    sample_id: str
    identity: str
    source: str
    views: list[ImageRecord]
    distractors: list[ImageRecord | None]


def join_paths(paths: list[str]) -> str:
    """The ``views`` / ``distractors`` cell for ``paths``: ``;``-joined, or a JSON list when a path
    holds a ``;`` (or starts with ``[``), so that it reads back as written."""
    import json

    if any(";" in p or p.startswith("[") for p in paths):
        return json.dumps(list(paths), ensure_ascii=False)
    return ";".join(paths)


def split_paths(cell: str) -> list[str]:
    """The inverse of :func:`join_paths`.

    >>> split_paths(join_paths(["a;1.jpg", "b.jpg"])), split_paths("a.jpg;;c.jpg")
    (['a;1.jpg', 'b.jpg'], ['a.jpg', '', 'c.jpg'])
    """
    import json

    text = (cell or "").strip()
    if text.startswith("["):
        try:
            v = json.loads(text)
        except json.JSONDecodeError as e:
            raise ManifestError(f"a list of paths that is not valid JSON ({e.msg})") from None
        if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
            raise ManifestError("a JSON list of paths must hold strings only")
        return v
    return text.split(";")


def load_samples(path: str | Path, problems=None) -> list[NearIDSample]:
    path = Path(path)
    rows = read_rows(path, problems)
    if not rows:
        raise ManifestError(f"{path}: no samples")
    missing = [c for c in ("sample_id", "views", "distractors") if c not in rows[0]]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}")
    out, seen = [], set()
    for line, r in enumerate(rows, 2):
        ident = r.get("identity") or r["sample_id"]
        if r["sample_id"] in seen:
            if problems is not None:
                problems.add(f"{path}:{line}", "duplicate", f"sample id {r['sample_id']!r} listed again; kept the first")
            continue
        seen.add(r["sample_id"])
        try:
            vs, ds = split_paths(r["views"]), split_paths(r["distractors"])
        except ManifestError as e:
            raise ManifestError(f"{path}: sample {r['sample_id']}: {e}") from None
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


_YES = {"1", "yes", "y", "true", "t", "ok", "accept", "accepted", "keep", "pass", "good", "✓", "✔", "✅", "☑"}
_NO = {"0", "no", "n", "false", "f", "reject", "rejected", "drop", "remove", "fail", "bad", "✗", "✘", "❌", "☒"}


def review_decision(value) -> bool | None:
    """A person's accept / reject as a spreadsheet writes it; None when it says neither.

    >>> [review_decision(v) for v in ("1", "0.0", " No ", "reject", "✗", "TRUE", "maybe", "")]
    [True, False, False, False, False, True, None, None]
    """
    text = str(value if value is not None else "").strip().casefold()
    if text in _YES:
        return True
    if text in _NO:
        return False
    try:
        f = float(text)
    except ValueError:
        return None
    return True if f == 1 else False if f == 0 else None


def apply_review(samples: list[NearIDSample], review_path: str | Path, problems=None) -> dict:
    """Honour a person's decisions in ``review.csv`` (written by ``idbench distractors build``).

    Each row names a sample, a view slot, the distractor file (relative to the review file) and
    ``accept`` (:func:`review_decision`: 1/0, 1.0/0.0, yes/no, true/false, accept/reject, ✓/✗, ...).
    ``accept`` 0 empties the slot (the sample becomes incomplete); ``accept`` 1 on a slot that is
    empty puts the reviewed distractor in (a gate's rejection overruled). Every row that cannot be
    used is named in ``problems`` (kind ``review_row``) with the reason; two rows with different
    decisions for one slot are both refused (the slot keeps the gates' decision). A file without
    ``sample_id``, ``slot`` and ``accept`` columns is an error. Returns the counts for the NearID section."""
    path = Path(review_path)
    rows = read_rows(path, problems)
    missing = [c for c in ("sample_id", "slot", "accept") if rows and c not in rows[0]]
    if not rows or missing:
        raise ManifestError(f"{path}: not a review sheet" + (f" (no {', '.join(repr(c) for c in missing)} column)"
                                                              if missing else " (no rows)")
                            + "; expected the columns sample_id, slot, distractor, accept")
    by_id = {s.sample_id: s for s in samples}
    counts = {"review_file": str(path), "rows": len(rows), "removed": 0, "restored": 0, "unknown_rows": 0,
              "conflicting_rows": 0}

    def skip(line: int, why: str, key: str = "unknown_rows") -> None:
        counts[key] += 1
        if problems is not None:
            problems.add(f"{path}:{line}", "review_row", f"{why}; row not used", "skipped")

    decided: dict[tuple[str, int], list[tuple[int, bool, dict]]] = {}
    for line, r in enumerate(rows, 2):
        s = by_id.get(r.get("sample_id", ""))
        if s is None:
            skip(line, f"sample {r.get('sample_id', '')!r} is not among the samples")
            continue
        flag = review_decision(r.get("accept"))
        if flag is None:
            skip(line, f"accept {r.get('accept', '')!r} is neither a yes (1, yes, true, accept, ✓) nor a no (0, no, "
                       "false, reject, ✗)")
            continue
        try:
            f = float(str(r.get("slot", "")).strip())
            slot = int(f) if f.is_integer() else -1
        except ValueError:
            slot = -1
        if not 0 <= slot < len(s.distractors):
            skip(line, f"slot {r.get('slot', '')!r} is not one of the sample's slots 0-{len(s.distractors) - 1}")
            continue
        decided.setdefault((s.sample_id, slot), []).append((line, flag, r))
    for (sid, slot), entries in decided.items():
        if len({flag for _, flag, _ in entries}) > 1:
            lines = ", ".join(str(line) for line, _, _ in entries)
            for line, _, _ in entries:
                skip(line, f"rows {lines} give different decisions for sample {sid!r} slot {slot}", "conflicting_rows")
            continue
        _, accept, r = entries[-1]
        s = by_id[sid]
        if not accept and s.distractors[slot] is not None:
            s.distractors[slot] = None
            counts["removed"] += 1
        elif accept and s.distractors[slot] is None and r.get("distractor"):
            p = Path(r["distractor"])
            s.distractors[slot] = ImageRecord(f"{s.sample_id}/d{slot}", p if p.is_absolute() else path.parent / p, s.identity)
            counts["restored"] += 1
    return counts
