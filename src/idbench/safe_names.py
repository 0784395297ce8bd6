"""File names derived from user labels (subjects, methods, levels) that always stay inside the
output folder: no separators, no ``..``, no control characters, bounded length, and distinct
labels give distinct names."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_filename(label: str, max_len: int = 120) -> str:
    """A single path component for ``label``.

    Characters other than letters, digits and ``._+-`` become ``_``; leading dots are dropped (no
    ``..``, no hidden files). When anything was changed, a short hash of the original keeps
    different labels apart (``sd/v1.5`` and ``sd_v1.5`` differ).

    >>> safe_filename("dog3")
    'dog3'
    >>> safe_filename("../../x")
    'x-9cdf6a50'
    >>> safe_filename("sd/v1.5")
    'sd_v1.5-ddd0beb1'
    """
    text = str(label)
    clean = re.sub(r"\.{2,}", "_", _UNSAFE.sub("_", text)).lstrip("._") or "_"
    if clean != text or len(clean) > max_len:
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        clean = f"{clean[: max_len - 9].strip('._') or '_'}-{digest}"
    return clean
