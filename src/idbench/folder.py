"""A results folder written as one unit: a lock, a manifest with checksums, and a study identity.

* **Lock.** Every writer takes ``.idbench.lock`` in the folder (``fcntl.flock``); a second writer
  waits (saying so) and then reads what the first wrote before merging, so nothing is lost.
* **Manifest.** ``idbench-manifest.json`` is rewritten around every write: ``"state": "writing"``
  before the first file is replaced, then ``"complete"`` with the SHA-256 of every file the write
  produced. A folder whose manifest says ``writing`` (a write was killed) or whose files do not match
  their checksums is *inconsistent*: readers name it, and nothing merges into it without
  ``--replace``.
* **Identity.** ``summary.json``'s ``sections.study.identity`` records what produced the folder (the
  content of the references, gallery and samples; each encoder's cache id; each protocol's
  options). :func:`same_study` decides whether a new run may add to the folder.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import time
from pathlib import Path

MANIFEST = "idbench-manifest.json"
LOCK = ".idbench.lock"
BACKUP = ".idbench-last-complete"
#: the files a rollback restores (the study's own; report.html and tables are re-derived from them)
KEPT = ("summary.json", "per_image.csv", "per_image.parquet", "problems.csv", "tables.md", "tables.tex",
        "nearid_samples.csv")
#: files a study writes whose checksums the manifest records (others, e.g. report.html, are derived)
VERIFIED = ("summary.json", "per_image.csv")


class FolderError(ValueError):
    """A results folder that cannot be used as asked (inconsistent, another study, locked)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fault_point(what: str) -> None:
    """Test hook: ``IDBENCH_TEST_KILL_AFTER=<n>`` kills the process (SIGKILL) at the n-th fault point
    of a write, to test that an interrupted write leaves a folder readers can judge."""
    n = os.environ.get("IDBENCH_TEST_KILL_AFTER")
    if not n:
        return
    fault_point.count = getattr(fault_point, "count", 0) + 1
    if fault_point.count >= int(n):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


class ResultsFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def lock(self, timeout: float = 1800.0, echo=None):
        """Hold the folder's write lock; wait for another writer (up to ``timeout`` seconds)."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK
        try:  # never through a link: a planted .idbench.lock -> elsewhere would create or truncate its target
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
        except IsADirectoryError:
            raise FolderError(f"{lock} is a folder, not idbench's lock file; remove it (idbench makes the file itself)") from None
        except OSError as e:
            if lock.is_symlink():
                raise FolderError(f"{lock} is a symbolic link; idbench opens only its own lock file inside the folder: "
                                  "remove the link") from None
            if isinstance(e, PermissionError) or e.errno in (errno.EROFS, errno.EACCES):
                raise FolderError(f"{self.path}: cannot write into this folder ({e.strerror}); choose a folder you can "
                                  "write (-o)") from None
            raise
        try:
            t0, told = time.monotonic(), False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not told and echo is not None:
                        echo(f"waiting: another idbench is writing into {self.path}")
                        told = True
                    if time.monotonic() - t0 > timeout:
                        raise FolderError(f"{self.path}: another idbench has been writing into this folder for "
                                          f"{timeout:.0f} s; try again later or choose another folder") from None
                    time.sleep(0.2)
            yield self
        finally:
            os.close(fd)  # releases the lock

    # ------------------------------------------------------------------ manifest

    def manifest(self) -> dict | None:
        p = self.path / MANIFEST
        if not p.is_file():
            return None
        try:
            m = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {"state": "damaged"}
        return m if isinstance(m, dict) else {"state": "damaged"}

    def begin(self) -> None:
        """Mark the folder as being written (before any file is replaced). A folder in a complete state
        keeps a copy of it first (``.idbench-last-complete/``), so that an interrupted write can be rolled
        back (:meth:`recover`) instead of losing the methods it held."""
        m = self.manifest()
        if m is not None and m.get("state") == "complete" and self.problem() is None:
            self._keep_last_complete(m)
        self._write_manifest({"state": "writing", "pid": os.getpid(), "started": time.time()})
        fault_point("begin")

    def commit(self, files: list[Path]) -> None:
        """Record the checksums of ``files`` and mark the folder complete."""
        import shutil

        sums = {p.name: _sha256(p) for p in files if p.is_file()}
        self._write_manifest({"state": "complete", "files": sums, "written": time.time()})
        backup = self.path / BACKUP
        if backup.is_dir() and not backup.is_symlink():
            shutil.rmtree(backup, ignore_errors=True)

    def _keep_last_complete(self, manifest: dict) -> None:
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix=".idbench-keep-", dir=self.path))
        for name in KEPT:
            src = inside(self.path, name)
            if src is not None and src.is_file():
                shutil.copy2(src, tmp / name)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        backup = self.path / BACKUP
        if backup.is_symlink() or backup.is_file():
            backup.unlink()
        elif backup.is_dir():
            shutil.rmtree(backup)
        os.replace(tmp, backup)

    def writer_alive(self) -> bool:
        """Whether another process holds the folder's write lock now."""
        import fcntl

        lock = self.path / LOCK
        if not lock.is_file() or lock.is_symlink():
            return False
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def recover(self) -> str | None:
        """Roll an interrupted write back to the last complete state kept by :meth:`begin`; returns what
        was done, or None when there was nothing to recover. Call under the folder's lock."""
        import shutil

        m = self.manifest()
        backup = self.path / BACKUP
        if m is None or m.get("state") != "writing" or not backup.is_dir() or backup.is_symlink():
            return None
        try:
            kept = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        for name in KEPT:
            src, dst = backup / name, self.path / name
            if dst.is_symlink():
                dst.unlink()
            if src.is_file():
                shutil.copy2(src, dst)
            elif dst.is_file():
                dst.unlink()  # the interrupted write had created it
        self._write_manifest(kept)
        shutil.rmtree(backup, ignore_errors=True)
        return ("an earlier write into this folder was interrupted; rolled back to the last complete state "
                f"(written {time.strftime('%Y-%m-%d %H:%M', time.localtime(kept.get('written', 0)))})")

    def _write_manifest(self, m: dict) -> None:
        from idbench.atomic import atomic_write_bytes

        atomic_write_bytes(self.path / MANIFEST, json.dumps(m, indent=1).encode("utf-8"))

    def problem(self) -> str | None:
        """Why the folder is inconsistent, or None (a folder without a manifest is an older or a
        hand-made one: not checked)."""
        m = self.manifest()
        if m is None:
            return None
        if m.get("state") == "damaged":
            return f"{MANIFEST} is damaged"
        if m.get("state") != "complete":
            if self.writer_alive():
                return "another idbench is writing into it now; wait for it to finish and read it then"
            if (self.path / BACKUP).is_dir():
                return ("a write into it was interrupted; its last complete state is kept: re-running into it, or "
                        "`idbench report`, rolls back to it first (nothing else is lost)")
            return "a write into it was interrupted (its manifest says 'writing')"
        for name in VERIFIED:
            want = (m.get("files") or {}).get(name)
            p = self.path / name
            if want is None:
                continue
            if not p.is_file():
                return f"{name} is missing"
            if _sha256(p) != want:
                return f"{name} does not match the checksum the last complete write recorded"
        return None

    def check(self) -> None:
        why = self.problem()
        if why:
            raise FolderError(f"{self.path}: inconsistent results folder: {why}. Re-run into it with --replace, or "
                              "into another folder")


def check_writable(folder: str | Path, what: str = "the output") -> Path:
    """Create ``folder`` and check that a file can be written in it, *before* any work is done (never
    fail after it); :class:`FolderError` names the folder otherwise."""
    import tempfile

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".idbench-write-test-"):
            pass
    except OSError as e:
        raise FolderError(f"cannot write {what} into {folder}: {e.strerror or e}; choose another folder") from None
    return folder


def inside(folder: str | Path, name: str | Path) -> Path | None:
    """``folder / name`` when it stays inside ``folder`` without following a symbolic link (no ``..``,
    no absolute name, no link on the way down, the file itself not a link), else None. Everything
    idbench reads from a results folder it did not just write goes through this: a received folder
    cannot make the report embed a file from elsewhere.

    >>> import tempfile, os
    >>> d = Path(tempfile.mkdtemp()); os.symlink("/etc", d / "thumbs")
    >>> inside(d, "thumbs/passwd") is None, inside(d, "../x") is None, inside(d, "a.json") == d / "a.json"
    (True, True, True)
    """
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        return None
    p = Path(folder)
    for part in rel.parts:
        p = p / part
        if p.is_symlink():
            return None
    return p


def writable_subfolder(folder: str | Path, name: str) -> Path:
    """``folder / name`` as a real folder for idbench to write in: a symbolic link in its place (a
    received folder's ``thumbs -> elsewhere``) is removed (the link only, never its target) and a
    folder made instead."""
    p = Path(folder) / name
    if p.is_symlink():
        p.unlink()
    p.mkdir(parents=True, exist_ok=True)
    return p


#: files idbench writes into a results folder besides the study's own: derived analyses and figures
DERIVED = ("compare.csv", "agreement.json", "agreement_points.csv", "meta.csv")
DERIVED_GLOBS = ("rca_confusion_*.csv", "rca_confusion_*.png")


def clear_study_files(folder: str | Path, own: tuple[str, ...]) -> list[str]:
    """Remove every file an earlier study wrote into ``folder`` (``--replace``): its own files
    (``own``), the derived ones (:data:`DERIVED`, confusion tables) and ``thumbs/``. Links are removed
    as links, never followed; other files (a user's notes) are left. Returns the names removed."""
    import shutil

    folder = Path(folder)
    gone = []
    names = [n for n in (*own, *DERIVED) if n not in (MANIFEST,)]
    paths = [folder / n for n in names] + [q for g in DERIVED_GLOBS for q in folder.glob(g)]
    for q in paths:
        if q.is_symlink() or q.is_file():
            q.unlink()
            gone.append(q.name)
    thumbs = folder / "thumbs"
    if thumbs.is_symlink():
        thumbs.unlink()
        gone.append("thumbs")
    elif thumbs.is_dir():
        shutil.rmtree(thumbs)
        gone.append("thumbs/")
    return gone


def digest(values) -> str:
    """One short digest of a collection of content hashes (order-free)."""
    h = hashlib.sha256()
    for v in sorted(str(x) for x in values):
        h.update(v.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def same_study(old: dict, new: dict) -> list[str]:
    """The differences that forbid adding ``new`` to a folder written with ``old`` (identities as in
    ``sections.study.identity``); empty when they may be merged. Inputs, encoders and options are
    compared where both runs have them; an identity that records no inputs at all (``{}``, or
    hand-edited) proves nothing and is itself a difference.

    >>> same_study({}, {"inputs": {"references": "ab12"}})
    ['the folder records no inputs of the study that wrote it']
    >>> old = {"inputs": {"references": "ab12"}, "options": {"rca": {"levels": None}}}
    >>> same_study(old, {"options": {"rca": {"levels": None, "repeats": 3}}})  # an option added since
    []
    >>> same_study(old, {"options": {"rca": {"levels": ["class"]}}})
    ["rca options differ (levels: None there, ['class'] now)"]
    """
    if not isinstance(old, dict) or not any((old.get("inputs") or {}).values()):
        return ["the folder records no inputs of the study that wrote it"]
    diffs = []
    for key, v in (new.get("inputs") or {}).items():
        w = (old.get("inputs") or {}).get(key)
        if v and w and v != w:
            diffs.append(f"its {key} differ (content {w} there, {v} now)")
    for name, cid in (new.get("encoders") or {}).items():
        was = (old.get("encoders") or {}).get(name)
        if was and was != cid:
            diffs.append(f"encoder {name} differs ({was} there, {cid} now)")
    for proto, opts in (new.get("options") or {}).items():
        was = (old.get("options") or {}).get(proto)
        if isinstance(was, dict):  # an option one of the two versions does not have is no difference
            changed = sorted(k for k in set(was) & set(opts) if was[k] != opts[k])
            if changed:
                diffs.append(f"{proto} options differ ({', '.join(f'{k}: {was[k]!r} there, {opts[k]!r} now' for k in changed)})")
    return diffs


def merge_identity(old: dict, new: dict) -> dict:
    out = {k: dict(old.get(k) or {}) for k in ("inputs", "encoders", "options")}
    for k in out:
        out[k].update({a: b for a, b in (new.get(k) or {}).items() if b})
    out["idbench_version"] = new.get("idbench_version", old.get("idbench_version"))
    return out


def write_derived(folder: str | Path, name: str, data: bytes) -> Path:
    """Write a file derived from a results folder (compare.csv, agreement.json, ...) under the
    folder's lock, through a temporary file renamed into place."""
    from idbench.atomic import atomic_write_bytes

    f = ResultsFolder(folder)
    with f.lock():
        atomic_write_bytes(f.path / name, data)
    return f.path / name


def csv_bytes(fieldnames: list[str], rows: list) -> bytes:
    """The project's CSV file (UTF-8, ``\\r\\n`` lines as the csv module writes them): the header
    ``fieldnames``, then ``rows``, each a dict (read by field name, other keys ignored) or a
    sequence (written in column order, for tables whose columns are data, such as a confusion
    matrix's labels).

    >>> csv_bytes(["a", "b"], [{"a": 1, "b": "x,y"}, [2, 3]])
    b'a,b\\r\\n1,"x,y"\\r\\n2,3\\r\\n'
    """
    import csv
    import io

    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(fieldnames)
    for row in rows:
        w.writerow([row.get(k, "") for k in fieldnames] if isinstance(row, dict) else row)
    return buf.getvalue().encode("utf-8", "surrogateescape")
