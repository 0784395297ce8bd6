"""Safe image decoding: every image an encoder sees goes through :func:`load_image`.

Handles what real folders contain: EXIF rotation, palette / greyscale / alpha / 16-bit modes,
truncated or corrupt files, files that are not images, and images over a pixel limit. Each failure
raises :class:`ImageError` naming the file and the reason, which callers log and skip.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Default limit on decoded pixels (about 8k x 8k); larger images are refused, not downscaled,
#: because decoding them at all is what costs memory.
MAX_PIXELS = 64_000_000

#: Images more elongated than this (long side / short side) are refused: every encoder scales the
#: short side up to its input size, so a 1 x 20000 strip would expand to gigabytes.
MAX_ASPECT = 100.0

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


class ImageError(Exception):
    """An image that cannot be used. ``kind`` is a :class:`~idbench.data.problems.Problem` kind."""

    def __init__(self, path: str | Path, kind: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.kind = kind
        self.reason = reason


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


_HASHES: dict[str, str] = {}
_HASH_LOCK = threading.Lock()


def _stat_key(st) -> str:
    """``"device:inode:size:mtime_ns:ctime_ns"``: the memo's and the hash store's key of a file as it is
    on disk now. One short string (about 110 bytes in memory), not a tuple of five large ints (about
    250): the memo holds one per file a run has seen, 200,000 for a large gallery."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes: the embedding cache's content key.

    Only regular files are read (a FIFO or device named ``x.jpg`` raises ``OSError`` at once
    instead of blocking). Each file is hashed once: the result is remembered by (device, inode,
    size, modification and change times) in this process and, with a hash store
    (:func:`remember_hashes_in`: the embedding cache), across runs, so a warm run reads no file
    it has hashed before; a file changed on disk is hashed again.
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(_not_regular(st.st_mode))
    key = _stat_key(st)
    with _HASH_LOCK:
        hit = _HASHES.get(key)
    if hit is not None:
        return hit
    return _hash_and_remember(path, key)


def _hash_and_remember(path, key: str) -> str:
    """Read and hash ``path``, whose stat key was ``key``, and remember the hash under the key of the
    file as it was opened (``key`` itself, the same string object, when the file has not changed since:
    a large gallery's memo then holds one key string per file, not two)."""
    # opened without blocking (a FIFO put in the file's place since it was looked at is refused, not waited on)
    with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(_not_regular(st.st_mode))
        now = _stat_key(st)
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    key = key if now == key else now
    with _HASH_LOCK:
        _HASHES[key] = digest
        _PENDING.append((key, digest))
    return digest


_STORE = None  # the hash store of this process (an EmbeddingCache), or None
_PENDING: list = []  # hashes computed since the store was last written


def remember_hashes_in(store) -> None:
    """Keep file hashes in ``store`` (``get_hashes(keys) -> {key: sha}``, ``put_hashes([(key, sha)])``)
    across runs: :func:`recall_hashes` reads them back before a batch of files is hashed and
    :func:`save_hashes` writes the new ones after."""
    global _STORE
    _STORE = store


def _stat_keys(paths) -> list[str | None]:
    """Each path's memo key as it is on disk now (None: missing, unreadable or not a regular file;
    the reader names why)."""
    keys: list[str | None] = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            keys.append(None)
            continue
        keys.append(_stat_key(st) if stat.S_ISREG(st.st_mode) else None)
    return keys


def recall_hashes(paths) -> None:
    """Read the store's hashes of ``paths`` (as they are on disk now) into this process's memo."""
    _recall_keys([k for k in _stat_keys(paths) if k is not None])


def _recall_keys(keys: list[str]) -> None:
    store = _STORE
    if store is None:
        return
    with _HASH_LOCK:
        keys = [k for k in keys if k not in _HASHES]
    if keys:
        try:
            found = store.get_hashes(keys)
        except Exception:  # noqa: BLE001 - a closed or damaged store: the files are hashed again
            return
        with _HASH_LOCK:
            _HASHES.update(found)


def save_hashes() -> None:
    """Write the hashes computed since the last call into the store (one transaction)."""
    store = _STORE
    with _HASH_LOCK:
        pending = list(_PENDING)
        _PENDING.clear()
    if store is not None and pending:
        try:
            store.put_hashes(pending)
        except Exception:  # noqa: BLE001 - an unwritable store costs only a re-hash next time
            pass


def hash_files(paths, num_workers: int = 2) -> list[tuple[str | None, str | None]]:
    """``[(sha256, None) or (None, why)]`` for ``paths``, in order. Each file is looked up by its
    (device, inode, size, times) in this process's memo and the hash store (:func:`recall_hashes`);
    only the files found in neither are read, in ``num_workers`` threads, and their hashes stored
    after (:func:`save_hashes`). A warm run therefore stats each file once and reads none."""
    from concurrent.futures import ThreadPoolExecutor

    def one(path, key):
        try:
            return (file_sha256(path) if key is None else _hash_and_remember(path, key)), None
        except OSError as e:  # named as every list of files names it; the system's reason if it is none of those
            return None, unreadable_reason(path) or f"cannot be read ({e.strerror or e})"

    paths = list(paths)
    out: list = [None] * len(paths)
    keys = _stat_keys(paths)  # a path without a key is named by one() below, with its reason
    _recall_keys([key for key in keys if key is not None])
    todo = []
    with _HASH_LOCK:
        for k, key in enumerate(keys):
            hit = _HASHES.get(key) if key is not None else None
            if hit is not None:
                out[k] = (hit, None)
            else:
                todo.append(k)
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
            for c0 in range(0, len(todo), 4096):  # a bounded number of futures at once, however many files
                part = todo[c0 : c0 + 4096]
                for k, r in zip(part, pool.map(one, [paths[k] for k in part], [keys[k] for k in part])):
                    out[k] = r
    save_hashes()
    return out


def unreadable_reason(path) -> str | None:
    """Why ``path`` cannot be read as a file (None: a regular file): ``"does not exist"`` (also a
    broken link), ``"is a FIFO, not a regular file"`` (a folder, device or socket likewise; such a
    file is never opened, so never waited on), or the system's reason. The one wording every list
    of files (manifest, table, folder) reports.

    >>> unreadable_reason("/nonexistent/x.jpg"), unreadable_reason("/")
    ('does not exist', 'is a folder, not a regular file')
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "does not exist (a broken link)" if os.path.islink(path) else "does not exist"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    return None if stat.S_ISREG(st.st_mode) else _not_regular(st.st_mode)


def _not_regular(mode: int) -> str:
    """What a file that is not a regular file is, in the one wording: ``"is a FIFO, not a regular file"``."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return f"is {name}, not a regular file"
    return "is not a regular file"


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    * ``I;16`` / ``I`` / ``F`` (16-bit, 32-bit): rescaled from the full range of the mode to 0..255;
    * ``RGBA`` / ``LA`` / ``P`` with transparency: composited on white (the convention of most
      image viewers; a black background would change the subject's silhouette);
    * ``L``, ``P``, ``CMYK``, ``YCbCr``: plain conversion.
    """
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError(f"{int((~np.isfinite(arr)).sum())} pixel(s) are NaN or infinite")
        top = 65535.0 if im.mode.startswith("I;16") or (im.mode == "I" and arr.max(initial=0) > 255) else 255.0
        if im.mode == "F":
            top = max(float(arr.max(initial=1.0)), 1e-12)
        arr8 = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")


#: How a JPEG is decoded at reduced size for ``min_side`` (:func:`load_image`): libjpeg-turbo's DCT
#: scaling by eighths, at most 4/8. Part of the cache id of every encoder that sets a ``min_side``
#: (:func:`decode_tag`): a change of this rule changes their embeddings.
JPEG_REDUCTION = "e8"
#: Pillow's names for a JPEG file: "MPO" is a camera's multi-picture JPEG, whose first picture is read
JPEG_FORMATS = ("JPEG", "MPO")


def decode_tag(min_side: int | None) -> str:
    """The part of a cache id that names how images are decoded for ``min_side`` ('' when whole).

    >>> decode_tag(512), decode_tag(None)
    ('@d512e8', '')
    """
    return f"@d{min_side}{JPEG_REDUCTION}" if min_side else ""


def _turbo_decode(f, w: int, h: int, min_side: int | None) -> np.ndarray | None:
    """The JPEG in the open file ``f`` (``w`` x ``h`` as stored) decoded by libjpeg-turbo to RGB,
    reduced by 1/8 steps to at most half while the shorter side keeps ``min_side``; None when
    libjpeg-turbo reports any problem (the caller decodes through Pillow) or the file is far
    larger than its pixels could need (trailing data: Pillow reads it as a stream)."""
    import simplejpeg

    if os.fstat(f.fileno()).st_size > 8 * w * h + (1 << 20):
        return None
    f.seek(0)
    data = f.read()
    side = {"min_width": min_side} if w <= h else {"min_height": min_side}
    try:
        if min_side and min(w, h) >= 2 * min_side:
            return simplejpeg.decode_jpeg(data, "RGB", min_factor=2, **side)
        return simplejpeg.decode_jpeg(data, "RGB")
    except ValueError:
        return None


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS, min_side: int | None = None) -> Image.Image:
    """Decode ``path`` into an upright 8-bit RGB ``PIL.Image``.

    A colour or greyscale JPEG (or a camera's multi-picture JPEG, its first picture) is decoded by
    libjpeg-turbo through ``simplejpeg``: the same pixels as Pillow's decoder (the same library and
    settings, tested), without its row-by-row copying. A JPEG that libjpeg-turbo reports anything
    wrong with (a truncated file, a damaged scan) and a CMYK JPEG go through Pillow as every other
    format does, which decides as before whether it is usable.

    ``min_side``: a JPEG may be decoded at a reduced size, by libjpeg-turbo's DCT scaling, as long
    as its shorter side stays at least ``min_side`` pixels; other formats are decoded whole. The
    scale is the smallest of 1/8, 2/8, 3/8 and 4/8 that keeps ``min_side`` (:data:`JPEG_REDUCTION`;
    factors between 1/2 and 1 decode more slowly than the whole image, so none is used). Through
    Pillow the scale is 1/2, 1/4 or 1/8 (``Image.draft``). An encoder that resizes to ``s`` asks for
    ``2 s``, then resizes as before (``Encoder.decode_min_side``): 2-4 times faster on camera-size
    photos, cosine to the full decode's embedding >= 0.99 (tested).

    Raises
    ------
    ImageError
        ``missing_file``, ``not_image``, ``too_large``, ``bad_shape`` or ``corrupt``, with a readable
        reason; a path that is not a readable regular file is named as :func:`unreadable_reason` names it.
    """
    path = Path(path)
    why = unreadable_reason(path)
    if why is not None:
        raise ImageError(path, "not_image" if path.exists() else "missing_file", why)  # there, but no file
    try:
        with warnings.catch_warnings(), open(path, "rb") as f:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageError(path, "too_large", f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
                if min(w, h) < 1 or max(w, h) > MAX_ASPECT * min(w, h):
                    raise ImageError(path, "bad_shape", f"{w}x{h}: aspect ratio over {MAX_ASPECT:.0f}:1 (an image "
                                                        "strip, not a photo; scaling it would need unbounded memory)")
                if im.format in JPEG_FORMATS and im.mode in ("RGB", "L"):
                    arr = _turbo_decode(f, w, h, min_side)
                    if arr is not None:
                        out = Image.fromarray(arr)
                        out.info.update(im.info)  # EXIF and XMP: the orientation, read as for Pillow's decode
                        ImageOps.exif_transpose(out, in_place=True)
                        return out
                if min_side and im.format in JPEG_FORMATS and min(w, h) > 2 * min_side:
                    scale = min_side / min(w, h)
                    im.draft(None, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
                im.load()  # force full decode: truncated files fail here
                im = ImageOps.exif_transpose(im)
                return to_rgb(im)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(path, "not_image", "not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(path, "too_large", f"decompression bomb guard: {e}") from None
    except (OSError, SyntaxError, ValueError, MemoryError, EOFError) as e:
        raise ImageError(path, "corrupt", f"cannot decode ({type(e).__name__}: {e})") from None
