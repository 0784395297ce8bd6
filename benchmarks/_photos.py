"""Benchmark inputs: n distinct image files made from the DreamBooth photos (bytes appended after
the JPEG end marker, ignored by decoders, so the content-hash cache cannot dedupe them)."""

from __future__ import annotations

import csv
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def distinct_photos(n: int, folder: Path) -> list[Path]:
    with open(SHARED / "dreambooth-objects" / "manifest.csv", newline="") as f:
        paths = [SHARED / "dreambooth-objects" / r["path"] for r in csv.DictReader(f)]
    out = []
    for i in range(n):
        p = Path(folder) / f"{i}.jpg"
        p.write_bytes(paths[i % len(paths)].read_bytes() + str(i).encode())
        out.append(p)
    return out
