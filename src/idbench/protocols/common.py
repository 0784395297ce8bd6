"""Pieces every protocol shares: label tables, embedding matrices, label checks, copy flags."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from idbench.data.content import ContentSection  # noqa: F401 - the content section's type, known to every protocol
from idbench.data.records import ImageRecord
from idbench.metrics.labels import UnknownLabelError


def base_rows(generations) -> list[dict]:
    """One per-image row per generated image: method, subject, image id, path, prompt."""
    return [
        {"method": g.method or "", "subject": g.subject, "image_id": g.id, "path": str(g.path), "prompt": g.prompt or ""}
        for g in generations
    ]


def subject_labels(*sets) -> dict[str, dict[str, str]]:
    """subject -> {level: label} from any records that carry labels (first seen wins)."""
    out: dict[str, dict[str, str]] = {}
    for s in sets:
        for r in s or ():
            d = out.setdefault(r.subject, {"subject": r.subject})
            for k, v in r.labels.items():
                d.setdefault(k, v)
    return out


def embedding_matrix(emb, recs: Sequence[ImageRecord]) -> tuple[np.ndarray, list[ImageRecord]]:
    """Rows of single-vector embeddings in ``recs`` order, and the records that have one."""
    kept = [r for r in recs if r.id in emb and emb[r.id].n == 1]
    if not kept:
        return np.zeros((0, 0), np.float32), []
    return np.concatenate([emb[r.id].vectors for r in kept]), kept


def scored_by_gallery(generations: Sequence[ImageRecord], references: Sequence[ImageRecord],
                      labels_of: dict[str, dict[str, str]], known: dict[str, set[str]], problems, protocol: str,
                      keep: bool = False) -> tuple[list[ImageRecord], list[ImageRecord], dict[str, str]]:
    """The generations and references of the subjects the gallery can score (every ranked level's
    label present), and ``{subject: why}`` for the others. Each subject left out is named once in
    ``problems`` (kind ``not_in_gallery``), with a did-you-mean only for near-identical labels.
    With ``keep`` (a benchmark whose code scores such a query as having no relevant item: AP 0) they
    are kept, and named as scored with nothing to find.

    Raises :class:`UnknownLabelError` when no generated subject is left."""
    from idbench.metrics.labels import closest_labels

    left_out: dict[str, str] = {}
    for subject in sorted({r.subject for r in generations} | {r.subject for r in references}):
        missing = []
        for lv, have in known.items():
            lab = labels_of.get(subject, {}).get(lv, subject if lv == "subject" else "")
            if lab not in have:
                sugg = closest_labels(lab, have)
                missing.append((f"{lv} {lab!r}" if lab else f"no {lv} label") + (f" (did you mean {' or '.join(map(repr, sugg))}? labels are "
                                                   "compared as written)" if sugg else ""))
        if missing:
            left_out[subject] = "not in the gallery: " + ", ".join(missing)
    gens = [r for r in generations if keep or r.subject not in left_out]
    refs = [r for r in references if keep or r.subject not in left_out]
    with_gen = {r.subject for r in generations}
    for subject, why in left_out.items():
        if subject in with_gen:
            n = sum(r.subject == subject for r in generations)
            if keep:
                problems.add(f"subject {subject}", "not_in_gallery", f"{protocol}: {why}; its {n} generated image(s) "
                             "are scored with no relevant gallery image (AP 0), as not_in_gallery = 'zero' asks",
                             "warning")
            else:
                problems.add(f"subject {subject}", "not_in_gallery", f"{protocol}: {why}; its {n} generated image(s) "
                             "are not scored and its references leave the upper bound", "skipped")
    if generations and not gens:
        raise UnknownLabelError("no generated subject is in the gallery: "
                                + "; ".join(f"{s}: {w}" for s, w in list(left_out.items())[:8]))
    return gens, refs, {s: w for s, w in left_out.items() if s in with_gen}


def content_audit(content, references=None, generations=None, gallery=None, *, results, cache=None, problems=None,
                  progress=False):
    """The study's :class:`~idbench.data.content.ContentAudit`, or one computed now (a protocol
    called on its own, outside a study), whose copies are then marked in ``results`` (the study
    marks its own once, for every protocol)."""
    if content is not None:
        return content
    from idbench.data.content import audit_content

    generations = list(generations or ())
    content = audit_content(list(references or ()), generations, list(gallery or ()), cache=cache, problems=problems,
                            progress=progress)
    mark_copies(results, content, generations)
    return content


def mark_copies(results, content, generations: Sequence[ImageRecord]) -> dict:
    """Per-image columns ``copy_of`` (``<set>:<path>``) and ``copy_kind`` (``copy`` / ``near-copy``
    / ``blank``) from the content audit, and the ``content`` section (counts per method)."""
    from idbench.data.content import content_key

    rows = results.row_index()
    for g in generations:
        row = rows.get((g.method or "", g.id))
        if row is None:
            continue
        c = content.copy_of(g)
        if c is not None:
            row["copy_of"], row["copy_kind"] = c.column, c.kind
        elif content_key(g) in content.blank:
            row["copy_kind"] = "blank"
    section = content.section(generations)
    results.sections["content"] = section
    return section
