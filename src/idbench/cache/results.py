"""Computed results cached by content: a warm study refits no oracle and re-ranks no gallery.

An entry is a set of named numpy arrays stored as ``.npz`` (never pickled), keyed by the SHA-256
of everything the computation depends on (its input arrays' bytes, shapes and dtypes, labels,
options and a version tag). A damaged or unreadable entry is a miss; writes are atomic.

>>> import numpy as np, tempfile
>>> d = tempfile.mkdtemp()
>>> calls = []
>>> f = lambda: calls.append(1) or {"x": np.arange(3)}
>>> a = cached_arrays("demo", [np.ones(2), "opt"], f, root=d)
>>> b = cached_arrays("demo", [np.ones(2), "opt"], f, root=d)
>>> len(calls), b["x"].tolist()
(1, [0, 1, 2])
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from idbench.atomic import atomic_write_bytes


def content_key(parts: Iterable[Any]) -> str:
    """SHA-256 over arrays (dtype, shape, bytes) and any other values (their ``repr``)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            a = np.ascontiguousarray(p)
            if a.dtype == object:  # hashed as its fixed-width text array, converted a slice at a time
                flat = a.reshape(-1)
                width = max((len(str(v)) for v in flat), default=0)
                h.update(f"array:{np.dtype(f'<U{max(width, 1)}').str}:{a.shape}:".encode())
                for s in range(0, len(flat), 4096):
                    h.update(np.ascontiguousarray(flat[s : s + 4096].astype(f"<U{max(width, 1)}")).view(np.uint8))
                continue
            h.update(f"array:{a.dtype.str}:{a.shape}:".encode())
            h.update(a.reshape(-1).view(np.uint8) if a.size else b"")  # the array's bytes, not a copy of them
        else:
            h.update(f"value:{p!r}:".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def cached_arrays(kind: str, key_parts: Iterable[Any], compute: Callable[[], dict[str, Any]], *,
                  root: str | Path | None) -> dict[str, np.ndarray]:
    """``compute()`` (a dict of arrays / scalars / strings), or its stored copy for the same key.

    ``root`` None: no caching (``--no-cache``)."""
    if root is None:
        return {k: np.asarray(v) for k, v in compute().items()}
    path = Path(root) / "results" / kind / f"{content_key(key_parts)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # damaged entry: recompute  # noqa: BLE001
            pass
    out = {k: np.asarray(v) for k, v in compute().items()}
    buf = io.BytesIO()
    np.savez(buf, **{k: (v.astype(str) if v.dtype == object else v) for k, v in out.items()})
    _store(path, buf.getvalue())
    return out


def cached_png(key_parts: Iterable[Any], draw: Callable[[], bytes], *, root: str | Path | None) -> bytes:
    """A figure's PNG bytes, drawn once per content (a warm report imports no matplotlib)."""
    if root is None:
        return draw()
    path = Path(root) / "results" / "figures" / f"{content_key(key_parts)}.png"
    try:
        data = path.read_bytes()
        if data.startswith(b"\x89PNG"):
            return data
    except OSError:
        pass
    data = draw()
    _store(path, data)
    return data


def _store(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError:
        pass  # an unwritable cache never fails the run
