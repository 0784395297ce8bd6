"""Content identity across inputs: copies and near-copies between references, generations and the
gallery, in every direction, decided once per study.

Two rules (documented in ``docs/data.md``):

* **Copy**: two files with the same SHA-256 of their bytes are the same image, whatever their names.
* **Near-copy**: the same photo resized, re-encoded, converted to another format, slightly
  cropped, mirrored, rotated by 90, 180 or 270 degrees (also by its EXIF tag), letterboxed or padded.
  Each image's *thumbprint* is its grey-level thumbnail (32 x 32, zero mean, unit norm) at four
  centred crops (100, 97, 94, 91 % of each side), taken after a uniform border (letterbox, padding)
  is trimmed; two images are near-copies when the best-aligned pair of thumbnails (one side
  uncropped), over the 8 mirror / rotation images of one of them, has Pearson correlation >=
  ``NEAR_COPY_CORR``.
  Measured on the 111 DreamBooth photos (``benchmarks/bench_copies.py``): 512-px PNG, JPEG q70 of
  a 94 % centre crop and a 256-px re-encode all score >= 0.990; the closest two *distinct* photos of
  one subject score 0.951.

A near-constant image (thumbnail standard deviation < ``FLAT_STD`` grey levels) has no texture to
match: it is never a near-copy, and a flat generation is flagged ``blank``.

What is compared:

* generations against references (any subject) and gallery images (the retrieval gallery and the
  RCA oracle's training images);
* gallery images against references (a *leak*: the real upper bound would retrieve itself);
* references against the other references (a duplicated reference inflates the real baseline).

Thumbprints are cached like embeddings (by the files' content); only the pairs whose uncropped
thumbnails already correlate >= ``PREFILTER`` are aligned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from idbench.data.images import decode_tag, hash_files
from idbench.data.problems import ProblemLog
from idbench.data.records import ImageRecord
from idbench.section import Section

NEAR_COPY_CORR = 0.97
PREFILTER = 0.6
CROPS = (1.0, 0.97, 0.94, 0.91)
THUMB = 32
FLAT_STD = 2.0
GALLERY_CHUNK = 512  # gallery thumbprints held at once by the audit (512 x 32 KB = 16 MB)

RULE = (f"copy: byte-identical file (SHA-256); near-copy: grey {THUMB}x{THUMB} thumbnails correlate >= {NEAR_COPY_CORR} "
        f"at the best of {len(CROPS)} centred crops ({', '.join(f'{c:.0%}' for c in CROPS)}), 8 mirror / rotation images "
        f"and with uniform borders trimmed or not; blank: thumbnail standard deviation < {FLAT_STD:g} grey levels")


def content_key(r: ImageRecord) -> str:
    """The key of a record in a hash table: its path (ids may repeat across sets; paths do not)."""
    return str(r.path)


def content_hashes(records: Sequence[ImageRecord], num_workers: int = 2) -> dict[str, str]:
    """``{str(record.path): sha256}`` for every record whose file can be read (others are left out;
    :func:`idbench.embed.embed_records` names them)."""

    hashes = hash_files([r.path for r in records], num_workers)
    return {content_key(r): h for r, (h, _) in zip(records, hashes) if h is not None}


# ----------------------------------------------------------------------------- thumbprints


def trim_border(grey, tol: float = 8.0, line_std: float = 3.0):
    """``grey`` without uniform borders (a letterbox, bars, a padding): from each side, the lines (rows
    or columns) that are near-uniform (standard deviation < ``line_std``) and within ``tol`` grey
    levels of that side's outermost line are cut. Nothing is cut when less than a tenth of either side
    would be left.

    >>> from PIL import Image
    >>> im = Image.new("L", (100, 60), 0); im.paste(Image.new("L", (40, 60), 200), (30, 0))
    >>> trim_border(im).size   # black bars left and right of a full-height picture
    (40, 60)
    """
    a = np.asarray(grey, np.float32)
    h, w = a.shape[:2]
    if h < 8 or w < 8:
        return grey

    def run(lines) -> int:
        """How many of ``lines`` (outermost first) belong to a uniform border: the leading lines that
        are near-uniform and within ``tol`` of the first line's median (medians only where needed)."""
        flat = lines.std(axis=1) < line_std
        n = len(flat) if flat.all() else int(np.argmin(flat))  # the leading near-uniform lines
        if n == 0:
            return 0
        med = np.median(lines[:n], axis=1)
        near = np.abs(med - med[0]) <= tol
        return n if near.all() else int(np.argmin(near))

    top, bottom = run(a), run(a[::-1])
    left, right = run(a.T), run(a.T[::-1])
    if top + bottom == 0 and left + right == 0:
        return grey
    if h - top - bottom < h / 10 or w - left - right < w / 10:
        return grey
    return grey.crop((left, top, w - right, h - bottom))


def dihedral(rows: np.ndarray) -> np.ndarray:
    """The 8 mirror / 90-degree-rotation images of thumbprint rows ``(..., len(CROPS), THUMB * THUMB)``:
    shape ``(8, ..., len(CROPS), THUMB * THUMB)``, the identity first. Exact: a centred crop and the box
    thumbnail commute with these transforms.

    >>> r = np.arange(THUMB * THUMB, dtype=np.float32)[None]
    >>> d = dihedral(r); d.shape, bool((d[0] == r).all())
    ((8, 1, 1024), True)
    """
    rows = np.asarray(rows)
    g = rows.reshape(*rows.shape[:-1], THUMB, THUMB)
    out = np.empty((8, *rows.shape), rows.dtype)  # each transform written in place: one copy in memory
    grid = out.reshape(8, *g.shape)
    for t, view in enumerate(_dihedral_views(g)):
        grid[t] = view
    return out


def _dihedral_views(g: np.ndarray):
    """The 8 mirror / 90-degree-rotation views of ``(..., THUMB, THUMB)`` thumbnails, the identity
    first: the one order :func:`dihedral` stores and :func:`_symmetrised` sums (views, not copies)."""
    for x in (g, g[..., :, ::-1]):
        for k in range(4):
            yield np.rot90(x, k, axes=(-2, -1))


def _crops(grey) -> tuple[np.ndarray, float]:
    from PIL import Image

    w, h = grey.size
    rows, std = [], 0.0
    for c in CROPS:
        cw, ch = w * c, h * c
        left, top = (w - cw) / 2, (h - ch) / 2
        a = np.asarray(grey.resize((THUMB, THUMB), Image.BOX, box=(left, top, left + cw, top + ch)), np.float32).ravel()
        if c == 1.0:
            std = float(a.std())
        a = a - a.mean()
        n = float(np.linalg.norm(a))
        rows.append(a / n if n > 1e-6 else a)
    return np.stack(rows).astype(np.float32), std


def thumbprint(image) -> tuple[np.ndarray, float]:
    """``(rows, std)``: one zero-mean, unit-norm grey thumbnail per crop of ``CROPS``, then the same of
    the image with its uniform borders trimmed (:func:`trim_border`; a copy of the first rows when it
    has none), shape ``(2 * len(CROPS), THUMB * THUMB)``; and the grey-level standard deviation of the
    uncropped thumbnail. The trimmed rows let a letterboxed or padded copy meet its original.

    >>> from PIL import Image
    >>> rows, std = thumbprint(Image.new("RGB", (64, 48), (90, 90, 90)))
    >>> rows.shape, std
    ((8, 1024), 0.0)
    """
    grey = image.convert("L")
    plain, std = _crops(grey)
    trimmed = trim_border(grey)
    inner = _crops(trimmed)[0] if trimmed is not grey else plain
    return np.concatenate([plain, inner]), std


class Thumbprint:
    """The thumbprint as a cacheable per-image feature, following the encoder interface of
    :mod:`idbench.encoders.base` so that :func:`idbench.embed.embed_records` decodes, caches (by
    content hash) and names failures as for any encoder. It is not an identity embedding and is
    never offered as one. ``scores`` holds the thumbnail's standard deviation."""

    kind = "image"
    name = "thumbprint"
    dim = THUMB * THUMB  # per row: 2 x len(CROPS) rows (plain, then trimmed)
    #: a JPEG is decoded at reduced size (its DCT scaled) while its shorter side stays >= 128 px: a
    #: 32-px box thumbnail needs no more, and a camera-size photo decodes several times faster
    decode_min_side = 4 * THUMB
    cache_id = f"thumbprint{THUMB}@crops{'-'.join(f'{c:g}' for c in CROPS)}-trim-v3{decode_tag(4 * THUMB)}"

    def preprocess(self, image):
        return thumbprint(image)

    def embed_batch(self, items):
        from idbench.embedding import ImageEmbedding

        return [ImageEmbedding(rows, scores=np.full(len(rows), std, np.float32)) for rows, std in items]


def _symmetrised(X: np.ndarray) -> np.ndarray:  # X: (n, rows, D); its row 0 is the uncropped thumbnail
    """The uncropped thumbnails averaged over their 8 mirror / rotation images, unit norm: equal for an
    image and any of its mirrored or rotated copies (the prefilter of :func:`aligned_correlation`)."""
    g = X[:, 0].reshape(-1, THUMB, THUMB)
    m = np.zeros(g.shape, np.float32)  # the 8 transforms summed one at a time, never stacked
    for view in _dihedral_views(g):
        m += view
    m = m.reshape(len(X), -1) / 8
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.maximum(n, 1e-6)).astype(np.float32)


def _aligned_blocks(A: np.ndarray, B: np.ndarray, *, prefilter: float, block: int, geometric: bool,
                    max_cells: int = 1 << 21):
    """``(start, S)`` for consecutive row blocks of A: ``S`` is the block's rows of
    :func:`aligned_correlation` (every view of A already folded in).

    A block's candidate pairs are aligned with matrix products over the columns that hold any
    candidate, a few hundred columns at a time (at most ``max_cells`` products held at once), each
    column's 8 transforms made only then: time follows the candidates, memory stays flat in
    ``len(A)`` and ``len(B)``."""
    C, D = len(CROPS), A.shape[-1]
    T = 8 if geometric else 1
    views = [A[:, :C], A[:, C:]] if A.shape[1] == 2 * C else [A[:, :C]]
    B = B[:, :C]
    symB = _symmetrised(B) if geometric else None
    for s in range(0, len(A), block):
        out = None
        for view in views:
            a = view[s : s + block]
            r = len(a)
            S = a[:, 0] @ B[:, 0].T
            cand = S >= prefilter
            if geometric:
                cand |= (_symmetrised(a) @ symB.T) >= prefilter
            cols = np.flatnonzero(cand.any(0))
            a_crops = a[:, 1:].reshape(-1, D)  # (r * (C - 1), D)
            # columns per product: its scores (r x T x C each) and the columns' transforms (T x C x D
            # each) both within max_cells
            step = max(1, min(max_cells // max(1, r * T * C), max_cells // (T * C * D)))
            for c0 in range(0, len(cols), step):
                J = cols[c0 : c0 + step]
                BJ = dihedral(B[J]) if geometric else B[J][None]  # (T, |J|, C, D)
                # A's uncropped thumbnail against every crop of every transform of B ...
                best = (a[:, 0] @ BJ.reshape(-1, D).T).reshape(r, T, len(J), C).max(axis=(1, 3))
                if C > 1:  # ... and A's crops against B's uncropped transforms
                    m2 = (a_crops @ BJ[:, :, 0].reshape(-1, D).T).reshape(r, C - 1, T, len(J)).max(axis=(1, 2))
                    best = np.maximum(best, m2)
                sub = S[:, J]
                S[:, J] = np.where(cand[:, J], np.maximum(sub, best), sub)
            out = S if out is None else np.maximum(out, S)
        yield s, out


def aligned_correlation(A: np.ndarray, B: np.ndarray, *, prefilter: float = PREFILTER, block: int = 512,
                        geometric: bool = True) -> np.ndarray:
    """``(len(A), len(B))`` best-aligned thumbnail correlation; ``A``, ``B``: ``(n, len(CROPS), D)``.

    ``S[i, j] = max_v max_t max_c max(A_v[i, 0] . T(B[j, c]), A_v[i, c] . T(B[j, 0]))`` over the crops
    ``c``, the views ``v`` of A (plain and border-trimmed, when A's thumbprints hold both) and, with
    ``geometric``, the 8 mirror / rotation transforms ``T`` (else the identity), for the pairs whose
    uncropped correlation, or that of their symmetrised thumbnails, reaches ``prefilter`` (elsewhere
    the uncropped correlation). B is compared plain. The audit needs only each row's best match:
    :func:`best_aligned_match` gives it in memory that does not grow with ``len(A)``."""
    out = np.full((len(A), len(B)), -np.inf, np.float32)
    if len(A) and len(B):
        for s, S in _aligned_blocks(A, B, prefilter=prefilter, block=block, geometric=geometric):
            out[s : s + len(S)] = S
    return out


def best_aligned_match(A: np.ndarray, B: np.ndarray, *, valid_a=None, valid_b=None, later_only: bool = False,
                       prefilter: float = PREFILTER, geometric: bool = True,
                       max_cells: int = 1 << 24) -> tuple[np.ndarray, np.ndarray]:
    """Each row of A's best match in B under :func:`aligned_correlation`: ``(j, score)`` arrays, with
    ``score = -1`` where nothing is allowed. ``valid_a`` / ``valid_b``: rows and columns that may match
    (the others score -1); ``later_only`` (A and B the same set): row i matches only j > i. Computed
    a block of rows at a time, at most ``max_cells`` scores held at once: memory flat in ``len(A)``
    (the full matrix at 10k x 100k would be 4 GB).

    >>> A = np.zeros((3, len(CROPS), THUMB * THUMB), np.float32); A[:, :, 0] = 1
    >>> best_aligned_match(A, A, later_only=True)[0].tolist()
    [1, 2, 0]
    """
    n, m = len(A), len(B)
    best_j, best_s = np.zeros(n, np.int64), np.full(n, -1.0, np.float32)
    if not n or not m:
        return best_j, best_s
    block = int(max(1, min(256, max_cells // m)))
    for s, S in _aligned_blocks(A, B, prefilter=prefilter, block=block, geometric=geometric):
        rows = np.arange(s, s + len(S))
        if valid_b is not None:
            S[:, ~np.asarray(valid_b, bool)] = -1.0
        if valid_a is not None:
            S[~np.asarray(valid_a, bool)[rows]] = -1.0
        if later_only:
            S[np.arange(m)[None, :] <= rows[:, None]] = -1.0
        j = S.argmax(1)
        best_j[rows], best_s[rows] = j, S[np.arange(len(S)), j]
    return best_j, best_s


# ----------------------------------------------------------------------------- the audit


@dataclass(frozen=True)
class CopyMatch:
    """``record`` copies ``source`` (from the set ``source_set``: ``reference`` or ``gallery``)."""

    record: ImageRecord
    source: ImageRecord
    source_set: str
    kind: str  # "copy" (same bytes) or "near-copy"
    score: float  # aligned thumbnail correlation (1.0 for byte copies)

    def describe(self) -> str:
        how = "byte-identical to" if self.kind == "copy" else f"a near-copy (thumbnail correlation {self.score:.3f}) of"
        return f"{how} {self.source_set} image {self.source.path}"

    @property
    def column(self) -> str:
        """The per-image ``copy_of`` value: ``<set>:<path>``."""
        return f"{self.source_set}:{self.source.path}"


@dataclass
class ContentAudit:
    """Which images copy which, decided once per study and read by every protocol."""

    generation_copies: dict[str, CopyMatch] = field(default_factory=dict)  # content_key(generation) -> its source
    gallery_leaks: dict[str, CopyMatch] = field(default_factory=dict)  # content_key(gallery image) -> reference
    reference_duplicates: list[CopyMatch] = field(default_factory=list)
    blank: set[str] = field(default_factory=set)  # content_key of flat generations
    hashes: dict[str, str] = field(default_factory=dict)  # content_key -> sha256

    def copy_of(self, record: ImageRecord) -> CopyMatch | None:
        return self.generation_copies.get(content_key(record))

    def leak_of(self, record: ImageRecord) -> CopyMatch | None:
        return self.gallery_leaks.get(content_key(record))

    def content_id(self, record: ImageRecord) -> str:
        """One id per content: a copy or near-copy takes the id of what it copies (transitively),
        so that a query is never its own relevant match, whatever the bytes."""
        key = content_key(record)
        for _ in range(4):
            m = self.generation_copies.get(key) or self.gallery_leaks.get(key)
            if m is None:
                break
            key = content_key(m.source)
        return self.hashes.get(key, key)

    def per_method(self, generations: Sequence[ImageRecord]) -> dict[str, dict[str, int]]:
        """``{method: {"images", "copies", "near_copies", "blank"}}``."""
        out: dict[str, dict[str, int]] = {}
        for g in generations:
            d = out.setdefault(g.method or "", {"images": 0, "copies": 0, "near_copies": 0, "blank": 0})
            d["images"] += 1
            c = self.copy_of(g)
            if c is not None:
                d["copies" if c.kind == "copy" else "near_copies"] += 1
            if content_key(g) in self.blank:
                d["blank"] += 1
        return out

    def section(self, generations: Sequence[ImageRecord] = ()) -> ContentSection:
        """The ``content`` section of summary.json."""
        return ContentSection.from_dict({"rule": RULE, "per_method": self.per_method(generations),
                "generation_copies": [{"image": str(c.record.path), "method": c.record.method or "",
                                       "copies": str(c.source.path), "set": c.source_set, "kind": c.kind,
                                       "score": round(c.score, 4)} for c in self.generation_copies.values()],
                "gallery_leaks": [{"gallery": str(c.record.path), "reference": str(c.source.path), "kind": c.kind,
                                   "score": round(c.score, 4)} for c in self.gallery_leaks.values()],
                "reference_duplicates": [{"reference": str(c.record.path), "duplicate_of": str(c.source.path),
                                          "kind": c.kind} for c in self.reference_duplicates],
                "blank": sorted(self.blank)})


@dataclass(kw_only=True)
class MethodContent:
    """One method's generations: how many, and how many copy, nearly copy or are blank."""

    images: int = 0
    copies: int = 0
    near_copies: int = 0
    blank: int = 0


@dataclass(kw_only=True)
class GenerationCopy:
    image: str
    method: str
    copies: str  # the path of what it copies
    set: str  # "reference" or "gallery"
    kind: str  # "copy" or "near-copy"
    score: float


@dataclass(kw_only=True)
class GalleryLeak:
    gallery: str
    reference: str
    kind: str
    score: float


@dataclass(kw_only=True)
class ReferenceDuplicate:
    reference: str
    duplicate_of: str
    kind: str


@dataclass(kw_only=True)
class ContentSection(Section):
    """``sections.content``: the copy audit of a study (the rule, counts per method, every copy, leak,
    duplicate reference and blank generation)."""

    NAME = "content"
    rule: str = ""
    per_method: dict[str, MethodContent] = field(default_factory=dict)
    generation_copies: list[GenerationCopy] = field(default_factory=list)
    gallery_leaks: list[GalleryLeak] = field(default_factory=list)
    reference_duplicates: list[ReferenceDuplicate] = field(default_factory=list)
    blank: list[str] = field(default_factory=list)


def audit_content(references: Sequence[ImageRecord] = (), generations: Sequence[ImageRecord] = (),
                  gallery: Sequence[ImageRecord] = (), *, cache=None, problems: ProblemLog | None = None,
                  progress: bool = False, threshold: float = NEAR_COPY_CORR) -> ContentAudit:
    """Find copies and near-copies in every direction (see the module docstring); each one found is
    named in ``problems`` (generations: ``copy`` / ``near_copy``, flagged; gallery: ``leaked_reference``;
    references: ``duplicate_reference``; flat generations: ``blank``)."""
    from idbench.embed import embed_records

    problems = problems if problems is not None else ProblemLog()
    references, generations, gallery = list(references), list(generations), list(gallery)
    audit = ContentAudit(hashes=content_hashes(references + generations + gallery))

    def decide(best, arecs, brecs, *, same_set=False):
        """For each row of A (records ``arecs``): its match in B above the threshold, as (j, score, kind),
        from each row's best-aligned match ``best`` = (j, score); a byte copy first."""
        best_j, best_s = best
        out: dict[int, tuple[int, float, str]] = {}
        # each hash's last index in B; only the hashes A holds when A is the smaller set (the gallery
        # can be 200,000 images: a table of every one of them is 15 MB for a few matches)
        wanted = {audit.hashes.get(content_key(a)) for a in arecs} if len(arecs) < len(brecs) else None
        bh = {h: j for j, b in enumerate(brecs)
              if (h := audit.hashes.get(content_key(b))) is not None and (wanted is None or h in wanted)}
        for i, a in enumerate(arecs):
            h = audit.hashes.get(content_key(a))
            j = bh.get(h) if h is not None else None
            if j is not None and not (same_set and j <= i):
                out[i] = (j, 1.0, "copy")
                continue
            if len(brecs) and best_s[i] >= threshold:
                j = int(best_j[i])
                kind = "copy" if h is not None and audit.hashes.get(content_key(brecs[j])) == h else "near-copy"
                out[i] = (j, float(best_s[i]), kind)
        return out

    def thumbprints(recs) -> dict:
        keyed = list({content_key(r): ImageRecord(content_key(r), r.path, r.subject) for r in recs}.values())
        return embed_records(Thumbprint(), keyed, cache=cache, progress=False, problems=ProblemLog()) if keyed else {}

    def matrix(recs, bar):
        """The readable ones of ``recs``: (thumbprints, records, standard deviations, their indexes in
        ``recs``), made ``GALLERY_CHUNK`` images at a time into one array (no second copy)."""
        rows = np.empty((len(recs), 2 * len(CROPS), THUMB * THUMB), np.float32)  # pages used as filled
        std = np.empty(len(recs), np.float32)
        ok: list[int] = []
        for c0 in range(0, len(recs), GALLERY_CHUNK):
            part = recs[c0 : c0 + GALLERY_CHUNK]
            tp = thumbprints(part)
            for k, r in enumerate(part):
                e = tp.get(content_key(r))
                if e is not None:
                    rows[len(ok)], std[len(ok)] = e.vectors, e.scores[0]
                    ok.append(c0 + k)
            bar.update(len(part))
        return rows[: len(ok)], [recs[k] for k in ok], std[: len(ok)], ok

    def compare() -> dict[str, np.ndarray]:
        """The thumbprints and the four comparisons, as arrays: per comparison (row i, match j, score,
        copy 1 / near-copy 0), i and j indexes into the given lists; ``g_std``: each generation's
        thumbnail standard deviation (NaN: not readable). References and generations are held; the
        gallery passes ``GALLERY_CHUNK`` images at a time, so memory does not grow with its size."""
        from idbench.progress import progress_bar

        n_all = len(references) + len(generations) + len(gallery)
        bar = progress_bar(n_all, "copy check (thumbprints)", enabled=progress and n_all > 0, unit="img")
        R, rrecs, rstd, rk = matrix(references, bar)
        G, grecs, gstd, gk = matrix(generations, bar)
        g_gal = (np.zeros(len(G), np.int64), np.full(len(G), -1.0, np.float32))  # each generation's best so far
        leak_j, leak_s, lrecs, lk = [], [], [], []
        for c0 in range(0, len(gallery), GALLERY_CHUNK):
            L, precs, pstd, pk = matrix(gallery[c0 : c0 + GALLERY_CHUNK], bar)
            if len(L):
                j, sc = best_aligned_match(G, L, valid_a=gstd >= FLAT_STD, valid_b=pstd >= FLAT_STD)
                better = sc > g_gal[1]  # strictly: an earlier image keeps a tie, as one argmax over all would
                g_gal[0][better], g_gal[1][better] = j[better] + len(lrecs), sc[better]
                j, sc = best_aligned_match(L, R, valid_a=pstd >= FLAT_STD, valid_b=rstd >= FLAT_STD)
                leak_j.append(j)
                leak_s.append(sc)
                lrecs += precs
                lk.append(c0 + np.asarray(pk, np.int64))  # indexes as one array per chunk, not an int object each
        bar.close()
        leak = (np.concatenate(leak_j or [np.zeros(0, np.int64)]), np.concatenate(leak_s or [np.zeros(0, np.float32)]))
        index = {"R": rk, "G": gk, "L": np.concatenate(lk or [np.zeros(0, np.int64)])}
        out = {}
        for name, (a, b), found in (
                ("g_ref", "GR", decide(best_aligned_match(G, R, valid_a=gstd >= FLAT_STD, valid_b=rstd >= FLAT_STD),
                                       grecs, rrecs)),
                ("g_gal", "GL", decide(g_gal, grecs, lrecs)),
                ("leak", "LR", decide(leak, lrecs, rrecs)),
                ("dup", "RR", decide(best_aligned_match(R, R, valid_a=rstd >= FLAT_STD, valid_b=rstd >= FLAT_STD,
                                                        later_only=True), rrecs, rrecs, same_set=True))):
            out[name] = np.array([[index[a][i], index[b][j], score, kind == "copy"]
                                  for i, (j, score, kind) in sorted(found.items())], np.float64).reshape(-1, 4)
        g_std = np.full(len(generations), np.nan, np.float32)
        g_std[gk] = gstd
        out["g_std"] = g_std
        return out

    # the result is keyed by the images' contents: a re-run with the same images and thresholds reads it
    # back without reading a thumbprint (the thumbprints are cached too, for a run that changes one set)
    from idbench.cache.results import cached_arrays
    from idbench.cache.store import default_cache_dir

    ids = [np.array([audit.hashes.get(content_key(r), content_key(r)) for r in recs], dtype=object)
           for recs in (references, generations, gallery)]
    found = cached_arrays("content-audit", ["content-audit-v2", Thumbprint.cache_id, threshold, PREFILTER, FLAT_STD, *ids],
                          compare, root=(getattr(cache, "directory", None) or default_cache_dir()) if cache is not None
                          else None)
    rrecs, grecs, lrecs = references, generations, gallery
    for r, s in zip(generations, found["g_std"]):
        if s < FLAT_STD:  # NaN (unreadable) is not blank
            audit.blank.add(content_key(r))
            problems.add(r.path, "blank", f"a near-uniform image (thumbnail standard deviation {s:.2f} grey levels): "
                                          "no subject can be seen in it; scored as it is and counted per method",
                         "flagged")

    def pairs(name):
        return [(int(i), int(j), float(score), "copy" if k else "near-copy") for i, j, score, k in found[name]]

    # generations: references first (the stronger finding), then the gallery
    for set_name, key_name, brecs in (("reference", "g_ref", rrecs), ("gallery", "g_gal", lrecs)):
        for i, j, score, kind in pairs(key_name):
            key = content_key(grecs[i])
            if key not in audit.generation_copies:
                audit.generation_copies[key] = CopyMatch(grecs[i], brecs[j], set_name, kind, score)
    for c in audit.generation_copies.values():
        problems.add(c.record.path, "copy" if c.kind == "copy" else "near_copy",
                     f"{c.describe()}; flagged (column copy_of), counted on its method's row and never scored "
                     "against its own source", "flagged")
    for i, j, score, kind in pairs("leak"):
        audit.gallery_leaks[content_key(lrecs[i])] = CopyMatch(lrecs[i], rrecs[j], "reference", kind, score)
    for i, j, score, kind in pairs("dup"):
        c = CopyMatch(rrecs[j], rrecs[i], "reference", kind, score)
        audit.reference_duplicates.append(c)
        problems.add(c.record.path, "duplicate_reference", f"{c.describe()}: the subject's real baseline compares "
                                                           "them as two photos", "warning")
    return audit


def exclude_by_content(pool: Sequence[ImageRecord], exclude: Sequence, problems: ProblemLog
                       ) -> tuple[list[ImageRecord], int]:
    """``pool`` without the images that copy (bytes or near-copy) a file in ``exclude`` (paths);
    each removed image is named in ``problems`` (kind ``excluded``, action ``removed``)."""
    ex = [ImageRecord(f"exclude/{i}", p, "exclude") for i, p in enumerate(exclude)]
    audit = audit_content(references=ex, gallery=pool, problems=ProblemLog())
    kept, n = [], 0
    for r in pool:
        leak = audit.leak_of(r)
        if leak is not None:
            problems.add(r.path, "excluded", f"{leak.describe().replace('reference image', 'excluded image')}", "removed")
            n += 1
            continue
        kept.append(r)
    return kept, n
