"""Whole-command cold vs warm run of `idbench evaluate` (and `idbench run` with a gallery), in
fresh processes: cold = empty cache folder, warm = the same command again.

    .venv/bin/python benchmarks/bench_warm.py --images 150
    .venv/bin/python benchmarks/bench_warm.py --images 3000 --methods 5

Images are distinct files (random crops of the DreamBooth photos, so no two share bytes and the
content-hash cache cannot dedupe them): references 2 per subject, the rest split over methods.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DREAMBOOTH = ROOT.parent / "shared" / "datasets" / "dreambooth-objects"


def make_tree(dst: Path, n_images: int, n_methods: int, seed: int = 0) -> None:
    rows = list(csv.DictReader(open(DREAMBOOTH / "manifest.csv")))
    rng = np.random.default_rng(seed)
    subjects = sorted({r["subject"] for r in rows})
    by = {s: [DREAMBOOTH / r["path"] for r in rows if r["subject"] == s] for s in subjects}
    for s in subjects:
        (dst / "refs" / s).mkdir(parents=True)
        for k, p in enumerate(by[s][:2]):
            shutil.copy(p, dst / "refs" / s / f"{k}.jpg")
    per_method = max(1, (n_images - 2 * len(subjects)) // n_methods)
    for m in range(n_methods):
        for i in range(per_method):
            s = subjects[i % len(subjects)]
            im = Image.open(by[s][rng.integers(len(by[s]))]).convert("RGB")
            w, h = im.size
            c = rng.uniform(0.6, 0.95)
            x, y = rng.integers(0, int(w * (1 - c)) + 1), rng.integers(0, int(h * (1 - c)) + 1)
            d = dst / "gen" / f"m{m}" / s
            d.mkdir(parents=True, exist_ok=True)
            im.crop((x, y, x + int(w * c), y + int(h * c))).resize((384, 384)).save(d / f"{i}.jpg", quality=90)


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(p.stderr[-2000:])
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=150)
    ap.add_argument("--methods", type=int, default=1)
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "idbench")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_tree(tmp / "data", args.images, args.methods)
        n = sum(1 for _ in (tmp / "data").rglob("*.jpg"))
        cmd = [exe, "evaluate", "--refs", str(tmp / "data" / "refs"), "--gen", str(tmp / "data" / "gen"),
               "-o", str(tmp / "out"), "-q", "--cache-dir", str(tmp / "cache")]
        cold = timed(cmd)
        warm = min(timed(cmd) for _ in range(2))
        print(f"idbench evaluate, {n} images ({args.methods} method(s)), whole command in a fresh process:")
        print(f"  cold {cold:.2f} s, warm {warm:.2f} s, warm/cold = {warm / cold:.3f}")


if __name__ == "__main__":
    main()
