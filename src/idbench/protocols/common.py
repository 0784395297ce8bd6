"""Pieces every protocol shares: label tables, embedding matrices, label checks, copy flags."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from idbench.data.content import find_copies, log_copies
from idbench.data.problems import ProblemLog
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


def flag_generation_copies(generations: Sequence[ImageRecord], sources: dict[str, Sequence[ImageRecord]],
                           hashes: dict[str, str], results, problems: ProblemLog) -> dict:
    """Mark generated images that are byte copies of a reference / gallery image.

    Adds the per-image column ``copy_of`` (``"reference:<path>"`` or ``"gallery:<path>"``, empty
    otherwise), logs each as a ``copy`` problem (action ``flagged``) and returns the per-method
    counts for the protocol section. ``hashes``: ``{content_key(record): sha256}`` (see
    :func:`idbench.data.content.content_hashes`).
    """
    copies = find_copies(generations, hashes, sources)
    log_copies(copies, problems, kind="copy", action="flagged",
               what="a generated image that copies its input is flagged and never its own relevant match")
    rows = results.row_index()
    counts: dict[str, int] = {}
    for g in generations:
        counts.setdefault(g.method or "", 0)
    for c in copies:
        m = c.record.method or ""
        counts[m] += 1
        row = rows.get((m, c.record.id))
        if row is not None:
            row["copy_of"] = f"{c.source_set}:{c.source.path}"
    return {"rule": "byte-identical files (same SHA-256)", "per_method": counts}
