"""Choose a retrieval gallery from a labelled pool (the published construction).

* groups of look-alike subjects: subjects sharing a parent label (``group_by="parent"``), or each
  subject with its nearest subjects by mean embedding (``group_by="nearest"``);
* N subjects per group, M images per subject, disjoint from the references;
* images chosen at random (seeded) or by k-means: M clusters of a subject's embeddings, and the
  image nearest each centroid (``choice="kmeans"``, as published).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans

from idbench.data.records import ImageRecord


def build_gallery(
    pool: Sequence[ImageRecord],
    *,
    images_per_subject: int,
    subjects_per_group: int | None = None,
    exclude_paths: set | None = None,
    choice: str = "random",
    group_by: str = "parent",
    parent_level: str | None = None,
    embeddings: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    keep_subjects: Sequence[str] = (),
) -> list[tuple[ImageRecord, str]]:
    """Returns ``[(record, group)]``. ``embeddings`` (id -> (D,) row) is needed for k-means and
    nearest-subject groups. ``keep_subjects`` (e.g. the subjects that have generations) are chosen
    first when a group has more subjects than ``subjects_per_group``."""
    if choice not in ("random", "kmeans") or group_by not in ("parent", "nearest"):
        raise ValueError("choice must be random|kmeans and group_by parent|nearest")
    if (choice == "kmeans" or group_by == "nearest") and embeddings is None:
        raise ValueError(f"choice={choice!r} / group_by={group_by!r} need embeddings")
    rng = np.random.default_rng(seed)
    exclude = {str(p) for p in (exclude_paths or set())}
    by_subject: dict[str, list[ImageRecord]] = {}
    for r in pool:
        if str(r.path) not in exclude and str(r.path.resolve()) not in exclude:
            by_subject.setdefault(r.subject, []).append(r)
    subjects = sorted(by_subject)
    if group_by == "parent":
        if parent_level is None:
            raise ValueError("group_by='parent' needs parent_level (e.g. 'class')")
        groups: dict[str, list[str]] = {}
        for s in subjects:
            groups.setdefault(by_subject[s][0].label(parent_level), []).append(s)
    else:
        k = subjects_per_group or 5
        means = np.stack([np.mean([embeddings[r.id] for r in by_subject[s]], axis=0) for s in subjects])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        sims = means @ means.T
        groups, used = {}, set()
        for i in np.argsort(-np.sort(sims, axis=1)[:, -2]):  # most crowded subjects first
            if subjects[i] in used:
                continue
            members = [subjects[j] for j in np.argsort(-sims[i]) if subjects[j] not in used][:k]
            used.update(members)
            groups[f"group-{subjects[i]}"] = members
    out = []
    for g, members in sorted(groups.items()):
        if subjects_per_group is not None and len(members) > subjects_per_group:
            keep = [m for m in members if m in set(keep_subjects)]
            rest = [m for m in members if m not in set(keep_subjects)]
            if len(keep) >= subjects_per_group:
                members = sorted(rng.choice(keep, subjects_per_group, replace=False).tolist())
            else:
                members = sorted(keep + rng.choice(rest, subjects_per_group - len(keep), replace=False).tolist())
        for s in members:
            recs = by_subject[s]
            m = min(images_per_subject, len(recs))
            if choice == "random":
                idx = sorted(rng.choice(len(recs), m, replace=False).tolist())
            else:
                X = np.stack([embeddings[r.id] for r in recs])
                km = KMeans(n_clusters=m, n_init=4, random_state=seed).fit(X)
                idx = []
                for c in km.cluster_centers_:
                    order = np.argsort(((X - c) ** 2).sum(1))
                    idx.append(next(int(j) for j in order if int(j) not in idx))
                idx = sorted(idx)
            out += [(recs[j], g) for j in idx]
    return out
