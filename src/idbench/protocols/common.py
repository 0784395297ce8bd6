"""Pieces every protocol shares: label tables, embedding matrices, label checks, copy flags."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from idbench.data.records import ImageRecord
from idbench.metrics.labels import describe_missing


class UnknownLabelError(ValueError):
    """Query labels that the gallery / oracle does not have, named with the closest existing ones."""


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


def check_query_labels(queries: dict[str, Sequence[ImageRecord]], labels_of: dict[str, dict[str, str]],
                       known: dict[str, set[str]], where: str) -> None:
    """Raise :class:`UnknownLabelError` when a query's label at some level is not among ``known[level]``.

    ``queries``: ``{"generation": records, "reference": records}``. Labels are compared as written;
    the message names each missing label with the closest existing ones (``'1.0' ... did you mean '1'?``).
    """
    msgs = []
    for what, recs in queries.items():
        for lv, have in known.items():
            missing = {labels_of.get(r.subject, {}).get(lv, r.subject if lv == "subject" else "") for r in recs}
            missing = {m for m in missing if m not in have}
            if missing:
                msgs.append(f"{what} {lv} label(s): " + describe_missing(missing, have, where))
    if msgs:
        raise UnknownLabelError("; ".join(msgs) + ". Labels are compared as written: fix the manifest so they match.")


def content_audit(content, references=None, generations=None, gallery=None, *, cache=None, problems=None,
                  progress=False):
    """The study's :class:`~idbench.data.content.ContentAudit`, or one computed now (a protocol
    called on its own, outside a study)."""
    if content is not None:
        return content
    from idbench.data.content import audit_content

    return audit_content(list(references or ()), list(generations or ()), list(gallery or ()), cache=cache,
                         problems=problems, progress=progress)


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


def flagged_methods(sections: dict) -> dict[str, str]:
    """``{method: "n of N images copy ..."}`` for methods with copies or near-copies: such a method is
    marked on its row and never bold or ranked first."""
    out = {}
    for m, d in (sections.get("content", {}).get("per_method") or {}).items():
        n = d.get("copies", 0) + d.get("near_copies", 0)
        if n:
            out[m] = f"{n} of {d.get('images', n)} images copy a reference or gallery image"
    return out
