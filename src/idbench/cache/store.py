"""On-disk embedding cache.

Keyed by ``(encoder.cache_id, sha256 of the image file's bytes)``: renaming or moving a file keeps
its embedding; changing a single byte, the weights, or the preprocessing version does not.

Storage is one SQLite database in WAL mode: each batch is committed in its own transaction, so an
interrupted run keeps every batch it finished, and several processes can share one cache at once
(SQLite serialises writers; readers never see a half-written row).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from idbench.embedding import ImageEmbedding

SCHEMA_VERSION = 1


def default_cache_dir() -> Path:
    """The folder set by :func:`set_cache_root` (``--cache-dir``; a temporary folder with
    ``--no-cache``), else ``$IDBENCH_CACHE``, else ``$XDG_CACHE_HOME/idbench`` or ``~/.cache/idbench``."""
    if _ROOT is not None:
        return _ROOT
    env = os.environ.get("IDBENCH_CACHE")
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return ((Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "idbench").absolute()


def _blob(a: np.ndarray | None) -> bytes | None:
    return None if a is None else np.ascontiguousarray(a, dtype=np.float32).tobytes()


def _unblob(b: bytes | None, n: int, width: int) -> np.ndarray | None:
    if b is None:
        return None
    return np.frombuffer(b, dtype=np.float32).reshape(n, width).copy()


def _valid_entry(n, dim, v, b, s) -> ImageEmbedding | None:
    """The entry as an embedding, or None when it is damaged (wrong sizes, NaN / inf values)."""
    try:
        n, dim = int(n), int(dim)
        if n < 0 or dim < 1 or not isinstance(v, bytes) or len(v) != n * dim * 4:
            return None
        if b is not None and (not isinstance(b, bytes) or len(b) != n * 16):
            return None
        if s is not None and (not isinstance(s, bytes) or len(s) != n * 4):
            return None
        vec = _unblob(v, n, dim)
        if not np.isfinite(vec).all():
            return None
        return ImageEmbedding(vectors=vec, boxes=_unblob(b, n, 4), scores=_unblob(s, n, 1).reshape(n) if s is not None else None)
    except (TypeError, ValueError):
        return None


_ROOT: Path | None = None


def set_cache_root(path: str | Path | None) -> None:
    """Make ``path`` the folder for everything idbench caches in this process (embeddings, exported
    ONNX models, probes); ``None`` restores the default (:func:`default_cache_dir`)."""
    global _ROOT
    _ROOT = Path(path).expanduser().absolute() if path is not None else None  # absolute: child tools ignore relative ones


class EmbeddingCache:
    """A persistent ``(encoder id, content hash) -> ImageEmbedding`` map.

    >>> import tempfile, numpy as np
    >>> from idbench.embedding import ImageEmbedding
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> cache.put_many("enc@1", {"ab12": ImageEmbedding(np.ones((1, 4), np.float32) / 2)})
    >>> cache.get_many("enc@1", ["ab12", "ffff"])["ab12"].vectors.shape
    (1, 4)
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "embeddings.sqlite"
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=60000")
        # Switching a new database to WAL takes an exclusive lock for which SQLite does not always call its
        # busy handler: several processes opening one new cache at once retry it instead of failing.
        self._setup([("PRAGMA journal_mode=WAL", ()), ("PRAGMA synchronous=NORMAL", ()),
                     ("""CREATE TABLE IF NOT EXISTS embeddings (
                 encoder TEXT NOT NULL, content TEXT NOT NULL,
                 n INTEGER NOT NULL, dim INTEGER NOT NULL,
                 vectors BLOB NOT NULL, boxes BLOB, scores BLOB,
                 created REAL NOT NULL,
                 PRIMARY KEY (encoder, content))""", ()),
                     ("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)", ()),
                     ("CREATE TABLE IF NOT EXISTS file_hashes (stat TEXT PRIMARY KEY, sha TEXT NOT NULL)", ()),
                     ("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))])
        from idbench.data.images import remember_hashes_in

        remember_hashes_in(self)  # file hashes kept here too: a warm run reads no file it hashed before

    def _setup(self, statements, patience: float = 60.0) -> None:
        deadline = time.monotonic() + patience
        for sql, args in statements:
            delay = 0.01
            while True:
                try:
                    self._conn.execute(sql, args)
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)

    @classmethod
    def default(cls) -> "EmbeddingCache":
        return cls(default_cache_dir())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------ access

    def _select_in(self, sql: str, keys: list, *args) -> list[tuple]:
        """The rows of ``sql`` (its ``{marks}`` the placeholders of ``keys``, after ``args``), asked
        500 keys at a time (SQLite's limit on parameters)."""
        rows: list[tuple] = []
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                rows += self._conn.execute(sql.format(marks=",".join("?" * len(chunk))), [*args, *chunk]).fetchall()
        return rows

    def _insert_many(self, sql: str, rows: list[tuple]) -> None:
        """``sql`` for every row, in one transaction (all or nothing)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(sql, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def get_many(self, encoder_id: str, contents: Iterable[str]) -> dict[str, ImageEmbedding]:
        """Cached embeddings among ``contents`` (content hashes); missing keys are absent."""
        out: dict[str, ImageEmbedding] = {}
        sql = "SELECT content, n, dim, vectors, boxes, scores FROM embeddings WHERE encoder=? AND content IN ({marks})"
        for content, n, dim, v, b, s in self._select_in(sql, list(dict.fromkeys(contents)), encoder_id):
            e = _valid_entry(n, dim, v, b, s)
            if e is not None:  # a damaged entry is a miss: it is encoded again and replaced
                out[content] = e
        return out

    def put_many(self, encoder_id: str, items: dict[str, ImageEmbedding]) -> None:
        """Store embeddings in one transaction (all or nothing)."""
        now = time.time()
        self._insert_many("INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?,?,?,?,?)", [
            (encoder_id, c, e.n, int(e.vectors.shape[1]), _blob(e.vectors), _blob(e.boxes), _blob(e.scores), now)
            for c, e in items.items()])

    def get_hashes(self, keys: Iterable[str]) -> dict[str, str]:
        """Known SHA-256 of files by their ``"device:inode:size:mtime_ns:ctime_ns"`` key (the file-hash
        memo of :func:`idbench.data.images.file_sha256`)."""
        keys = list(dict.fromkeys(keys))
        rows = self._select_in("SELECT stat, sha FROM file_hashes WHERE stat IN ({marks})", keys)
        return {t: sha for t, sha in rows if isinstance(sha, str) and len(sha) == 64}

    def put_hashes(self, items: Iterable[tuple[str, str]]) -> None:
        self._insert_many("INSERT OR REPLACE INTO file_hashes VALUES (?, ?)", list(items))

    # ------------------------------------------------------------------ maintenance

    def info(self) -> dict:
        """Entries per encoder and the size on disk."""
        with self._lock:
            per = dict(self._conn.execute("SELECT encoder, COUNT(*) FROM embeddings GROUP BY encoder ORDER BY encoder"))
        size = sum(p.stat().st_size for p in self.directory.glob("embeddings.sqlite*") if p.is_file())
        return {"path": str(self.path), "entries": sum(per.values()), "by_encoder": per, "bytes": size}

    def clear(self, encoder_id: str | None = None) -> int:
        """Delete all entries (or one encoder's); returns how many were removed."""
        with self._lock:
            if encoder_id is None:
                cur = self._conn.execute("DELETE FROM embeddings")
            else:
                cur = self._conn.execute("DELETE FROM embeddings WHERE encoder=?", (encoder_id,))
            n = cur.rowcount
            self._conn.execute("VACUUM")
        return n
