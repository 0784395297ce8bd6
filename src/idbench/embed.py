"""Encode image records: content-hash cache, batching, decode/forward overlap, progress bar.

This is the only place that turns files into embeddings; every protocol calls it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from idbench.cache.store import EmbeddingCache
from idbench.data.images import MAX_PIXELS, ImageError, hash_files, load_image
from idbench.data.problems import ProblemLog
from idbench.data.records import ImageRecord
from idbench.embedding import ImageEmbedding
from idbench.progress import progress_bar

if TYPE_CHECKING:
    from idbench.encoders.base import Encoder


def _load_and_preprocess(encoder: Encoder, path, max_pixels: int) -> Any:
    return encoder.preprocess(load_image(path, max_pixels=max_pixels, min_side=getattr(encoder, "decode_min_side", None)))


def embed_records(
    encoder: Encoder,
    records: Sequence[ImageRecord],
    *,
    cache: EmbeddingCache | None = None,
    batch_size: int = 32,
    progress: bool = True,
    problems: ProblemLog | None = None,
    max_pixels: int = MAX_PIXELS,
    num_workers: int = 2,
    desc: str | None = None,
    context: dict[str, str] | None = None,
) -> dict[str, ImageEmbedding]:
    """Embed ``records`` with ``encoder``; returns ``{record.id: ImageEmbedding}``.

    ``context`` (record id -> text, e.g. a learned scorer's prompt): the output depends on the
    image *and* its text. The cache key is then the file's hash with the text's, and the encoder's
    ``embed_batch`` receives ``(preprocessed image, text)`` pairs, so images with different texts
    are batched together.

    * Files are keyed by the SHA-256 of their bytes; identical files are encoded once, and files
      already in ``cache`` are not encoded at all.
    * Images are decoded and preprocessed in ``num_workers`` threads while the previous batch runs
      through the model.
    * Each finished batch is written to the cache in its own transaction: an interrupted run keeps
      everything it finished.
    * A record whose file cannot be read or decoded is absent from the result and logged in
      ``problems`` with its reason.
    """
    problems = problems if problems is not None else ProblemLog()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    # 1. content hashes (also catches missing / unreadable files early)
    content_of: dict[str, str] = {}
    path_of_content: dict[str, Any] = {}
    hashes = hash_files([r.path for r in records], num_workers)
    text_of: dict[str, str] = {}
    for rec, (h, err) in zip(records, hashes):
        if err is not None:
            problems.add(rec.path, "missing_file", err)
            continue
        text = (context or {}).get(rec.id)
        if text is not None:
            h = f"{h}|{hashlib.sha256(text.encode('utf-8')).hexdigest()[:20]}"
            text_of[h] = text
        content_of[rec.id] = h
        path_of_content.setdefault(h, rec.path)

    # 2. cache look-up
    found: dict[str, ImageEmbedding] = cache.get_many(encoder.cache_id, path_of_content) if cache is not None else {}
    todo = [c for c in path_of_content if c not in found]

    # 3. encode the misses: decode batch k+1 in threads while batch k runs through the model
    failed: dict[str, ImageError] = {}
    if todo:
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        bar = progress_bar(len(todo), desc or f"encoding [{encoder.name}]", enabled=progress, unit="img")
        with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:

            def submit(batch: list[str]) -> list[Future]:
                return [pool.submit(_load_and_preprocess, encoder, path_of_content[c], max_pixels) for c in batch]

            pending = submit(batches[0])
            for k, batch in enumerate(batches):
                futures = pending
                pending = submit(batches[k + 1]) if k + 1 < len(batches) else []
                items, keys = [], []
                for c, fut in zip(batch, futures):
                    try:
                        items.append((fut.result(), text_of[c]) if c in text_of else fut.result())
                        keys.append(c)
                    except ImageError as e:
                        failed[c] = e
                    except Exception as e:  # an encoder's preprocessing failed on this image only
                        failed[c] = ImageError(path_of_content[c], "encoder_error",
                                               f"{encoder.name} cannot preprocess it ({type(e).__name__}: {e})")
                new = _embed_isolating_failures(encoder, keys, items, path_of_content, failed)
                if cache is not None and new:
                    cache.put_many(encoder.cache_id, new)
                found.update(new)
                bar.update(len(batch))
        bar.close()

    # 4. back to record ids
    out: dict[str, ImageEmbedding] = {}
    for rec in records:
        c = content_of.get(rec.id)
        if c is None:
            continue
        if c in failed:
            e = failed[c]
            problems.add(rec.path, e.kind, e.reason)
            continue
        out[rec.id] = found[c]
    return out


def _embed_isolating_failures(encoder, keys, items, path_of_content, failed) -> dict[str, ImageEmbedding]:
    """Embed a batch; if the batch fails, embed its items one by one so one bad image costs only itself."""
    if not items:
        return {}
    try:
        return _finite(encoder, dict(zip(keys, _one_per_item(encoder, items))), path_of_content, failed)
    except Exception as e:
        if len(items) == 1:  # the one image is the failure: no need to run it again
            failed[keys[0]] = ImageError(path_of_content[keys[0]], "encoder_error",
                                         f"{encoder.name} failed on it ({type(e).__name__}: {e})")
            return {}
    out = {}
    for c, item in zip(keys, items):
        try:
            out[c] = _one_per_item(encoder, [item])[0]
        except Exception as e:
            failed[c] = ImageError(path_of_content[c], "encoder_error", f"{encoder.name} failed on it ({type(e).__name__}: {e})")
    return _finite(encoder, out, path_of_content, failed)


def _one_per_item(encoder, items) -> list:
    """``encoder.embed_batch(items)``, refusing a result whose length is not the batch's (a plug-in that
    drops or adds an item would otherwise pair every later image with another image's embedding)."""
    res = list(encoder.embed_batch(items))
    if len(res) != len(items):
        raise ValueError(f"{encoder.name} returned {len(res)} results for {len(items)} images")
    return res


def _finite(encoder, embs: dict, path_of_content, failed) -> dict:
    """The embeddings / scores without NaN or inf; the others are named (``non_finite``) and left out."""
    out = {}
    for c, e in embs.items():
        v = getattr(e, "vectors", None)
        if v is not None and v.size and not np.isfinite(v).all():
            failed[c] = ImageError(path_of_content[c], "non_finite", f"{encoder.name} gave NaN or inf for it; left out")
            continue
        out[c] = e
    return out


def stack_single(embeddings: dict[str, ImageEmbedding], ids: Sequence[str]) -> np.ndarray:
    """(len(ids), dim) matrix of single-row (image encoder) embeddings, in ``ids`` order."""
    if not ids:
        raise ValueError("no ids to stack")
    rows = [embeddings[i].vectors for i in ids]
    bad = [i for i, r in zip(ids, rows) if r.shape[0] != 1]
    if bad:
        raise ValueError(f"{len(bad)} embeddings do not have exactly one row (face encoder?), e.g. {bad[0]!r}")
    return np.concatenate(rows, axis=0)
