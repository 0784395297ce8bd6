"""File hashing, the content key of every cached embedding: ``hashlib.file_digest`` against the Python
loop of 1 MiB ``update`` calls that ``idbench.data.images.file_sha256`` uses, on the DreamBooth photos
and on 16 MB files, interleaved rounds in one process (page cache warm). Measured here (2 cores, another
job running): file_digest took 1.59x the loop's time on the photos and 0.93x on 16 MB files, so the loop
stays.

    .venv/bin/python benchmarks/bench_hashing.py
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import DREAMBOOTH  # noqa: E402


def loop(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def main() -> None:
    photos = sorted((DREAMBOOTH / "images").rglob("*.jpg"))
    big_dir = Path(tempfile.mkdtemp())
    big = []
    for k in range(4):
        p = big_dir / f"{k}.bin"
        p.write_bytes(bytes(range(256)) * (1 << 16))
        big.append(p)
    for name, files in (("DreamBooth photos", photos), ("16 MB files", big)):
        t = {"loop": 0.0, "file_digest": 0.0}
        for _ in range(5):
            for label, fn in (("loop", loop), ("file_digest", digest)):
                t0 = time.perf_counter()
                for p in files:
                    fn(p)
                t[label] += time.perf_counter() - t0
        assert all(loop(p) == digest(p) for p in files)
        print(f"{name} ({len(files)}): loop {t['loop']:.3f} s, file_digest {t['file_digest']:.3f} s, "
              f"ratio {t['file_digest'] / t['loop']:.2f}")


if __name__ == "__main__":
    main()
