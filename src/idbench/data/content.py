"""Content identity across inputs: byte copies and near-duplicates between references, generations
and galleries.

Two rules, both documented in ``docs/data.md``:

* **Copy**: two files with the same SHA-256 of their bytes (the embedding cache's key) are the same
  image, whatever their names. A gallery image that is a copy of a reference is a *leak* (the real
  upper bound would retrieve itself); a generated image that is a copy of a reference or gallery
  image is flagged as a copy and never counts as its own relevant match.
* **Near-duplicate** (the same photo re-encoded, resized or lightly cropped): embedding cosine
  >= ``NEAR_COS`` *and* a 64-bit difference hash (``imagehash.dhash``) within ``NEAR_HAMMING``
  bits. The embedding pre-filter keeps the check cheap (only candidate pairs are hashed, and the
  hashes are cached like embeddings); the perceptual hash decides, independent of the encoder
  (measured: a photo resized to 3/4 and re-saved at JPEG quality 70 keeps effnet-lite0 cosine
  0.87 but dHash distance 0). Near-duplicates are reported as warnings, not removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from idbench.data.images import file_sha256
from idbench.data.problems import ProblemLog
from idbench.data.records import ImageRecord

NEAR_COS = 0.75
NEAR_HAMMING = 6


def content_key(r: ImageRecord) -> str:
    """The key of a record in a hash table: its path (ids may repeat across sets; paths do not)."""
    return str(r.path)


def content_hashes(records: Sequence[ImageRecord], num_workers: int = 2) -> dict[str, str]:
    """``{str(record.path): sha256}`` for every record whose file can be read (others are left out;
    :func:`idbench.embed.embed_records` names them)."""

    def one(r):
        try:
            return content_key(r), file_sha256(r.path)
        except OSError:
            return content_key(r), None

    with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
        return {i: h for i, h in pool.map(one, records) if h is not None}


@dataclass(frozen=True)
class CopyMatch:
    record: ImageRecord  # the image that is a copy
    source: ImageRecord  # what it copies
    source_set: str  # "reference" or "gallery"


def find_copies(items: Sequence[ImageRecord], hashes: dict[str, str], sources: dict[str, Sequence[ImageRecord]]
                ) -> list[CopyMatch]:
    """Items whose bytes equal those of an image in one of ``sources`` (``{set name: records}``),
    the first matching set in the given order winning."""
    index: dict[str, tuple[str, ImageRecord]] = {}
    for name, recs in sources.items():
        for r in recs:
            h = hashes.get(content_key(r))
            if h is not None:
                index.setdefault(h, (name, r))
    out = []
    for r in items:
        hit = index.get(hashes.get(content_key(r), ""))
        if hit is not None:
            out.append(CopyMatch(r, hit[1], hit[0]))
    return out


class DHashFeature:
    """The 64-bit difference hash as a cacheable per-image feature: a (1, 64) row of 0/1 bits.

    It follows the encoder interface of :mod:`idbench.encoders.base` so that
    :func:`idbench.embed.embed_records` decodes, caches (by content hash) and names failures as for
    any encoder; it is not an identity embedding and is never offered as one."""

    kind = "image"
    name = "dhash8"
    dim = 64
    cache_id = "dhash8@imagehash-1"

    def preprocess(self, image):
        import imagehash

        return imagehash.dhash(image, hash_size=8).hash.ravel().astype(np.float32)

    def embed_batch(self, items):
        from idbench.encoders.base import ImageEmbedding

        return [ImageEmbedding(np.asarray(b, np.float32)[None]) for b in items]


def find_near_duplicates(A: np.ndarray, a_recs: Sequence[ImageRecord], B: np.ndarray, b_recs: Sequence[ImageRecord],
                         *, exclude_same_content: dict[str, str] | None = None, near_cos: float = NEAR_COS,
                         max_hamming: int = NEAR_HAMMING, cache=None, block: int = 1024
                         ) -> list[tuple[ImageRecord, ImageRecord, float, int]]:
    """Pairs (a, b, cosine, hamming) that pass both near-duplicate tests; byte copies (same hash in
    ``exclude_same_content``) are left to :func:`find_copies`. ``A``, ``B``: L2-normalised rows."""
    from idbench.embed import embed_records

    if len(A) == 0 or len(B) == 0:
        return []
    cands = []
    for s in range(0, len(A), block):
        S = A[s : s + block] @ B.T
        ii, jj = np.nonzero(S >= near_cos)
        cands += [(s + int(i), int(j), float(S[i, j])) for i, j in zip(ii, jj)]
    hashes = exclude_same_content or {}
    same = lambda a, b: hashes.get(content_key(a)) is not None and hashes.get(content_key(a)) == hashes.get(content_key(b))  # noqa: E731
    cands = [(i, j, c) for i, j, c in cands if not same(a_recs[i], b_recs[j])]
    if not cands:
        return []
    recs = {content_key(r): r for r in [a_recs[i] for i, _, _ in cands] + [b_recs[j] for _, j, _ in cands]}
    keyed = [ImageRecord(k, r.path, r.subject) for k, r in recs.items()]
    bits = embed_records(DHashFeature(), keyed, cache=cache, progress=False, problems=ProblemLog())
    out = []
    for i, j, c in cands:
        ha, hb = bits.get(content_key(a_recs[i])), bits.get(content_key(b_recs[j]))
        if ha is None or hb is None:
            continue
        ham = int((ha.vectors[0] != hb.vectors[0]).sum())
        if ham <= max_hamming:
            out.append((a_recs[i], b_recs[j], c, ham))
    return out


def log_copies(copies: Sequence[CopyMatch], problems: ProblemLog, *, kind: str, action: str, what: str) -> None:
    for c in copies:
        problems.add(c.record.path, kind, f"byte-identical to {c.source_set} image {c.source.path}; {what}", action)


def exclude_by_content(pool: Sequence[ImageRecord], exclude: Sequence, problems: ProblemLog
                       ) -> tuple[list[ImageRecord], int]:
    """``pool`` without the images whose bytes equal those of a file in ``exclude`` (paths); each
    removed image is named in ``problems`` (kind ``excluded``, action ``removed``)."""
    banned: dict[str, str] = {}
    for p in exclude:
        try:
            banned.setdefault(file_sha256(p), str(p))
        except OSError:
            continue
    hashes = content_hashes(pool)
    kept, n = [], 0
    for r in pool:
        h = hashes.get(content_key(r))
        if h is not None and h in banned:
            problems.add(r.path, "excluded", f"byte-identical to excluded image {banned[h]}", "removed")
            n += 1
            continue
        kept.append(r)
    return kept, n
