"""The copy audit's memory as the gallery grows: it must stay flat (issue #34: <= 300 MB extra from
20,000 to 200,000 gallery images) while its time grows linearly.

For each gallery size, a fresh process audits --gens generations and --refs references against the
gallery (synthetic 64-px textures, every one distinct; --copies of the generations are edited copies of
gallery images, so the audit has something to find). It prints the audit's time, the resident memory
before it, the peak during it and the difference (peak extra), split into the files' SHA-256 memo
(hashed first, as a run's first stage does; every stage shares it) and the audit's own memory, and
how many copies it found.

    .venv/bin/python benchmarks/bench_audit_memory.py                       # 20,000 and 200,000
    .venv/bin/python benchmarks/bench_audit_memory.py --sizes 20000,60000   # quicker

The images are written once under --workdir (kept between runs). Without --cache the thumbprints are
computed and dropped chunk by chunk; with it they go to an embedding cache (32 KB each on disk), as in
``idbench run``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_images(root: Path, n: int, start: int = 0) -> list[Path]:
    """n distinct 64-px grey textures (smoothed noise), written once."""
    from PIL import Image, ImageFilter

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        p = root / f"{i:07d}.png"
        if not p.exists():
            rng = np.random.default_rng(i)
            a = (rng.random((64, 64)) * 255).astype(np.uint8)
            Image.fromarray(a, "L").filter(ImageFilter.GaussianBlur(1.5)).save(p)
        paths.append(p)
    return paths


def child(args) -> None:
    from PIL import Image

    from idbench.data.content import audit_content, content_hashes
    from idbench.data.problems import ProblemLog
    from idbench.data.records import ImageRecord

    work = Path(args.workdir)
    gallery = [ImageRecord(f"l{i}", p, f"s{i % 1000}") for i, p in enumerate(make_images(work / "gallery", args.size))]
    refs = [ImageRecord(f"r{i}", p, f"s{i}") for i, p in enumerate(make_images(work / "refs", args.refs, 10**6))]
    gens = [ImageRecord(f"g{i}", p, f"s{i % 1000}", method="m")
            for i, p in enumerate(make_images(work / "gens", args.gens - args.copies, 2 * 10**6))]
    (work / "copies").mkdir(exist_ok=True)
    for k in range(args.copies):  # mirrored copies of gallery images spread over the gallery
        src = gallery[(k * 7919) % len(gallery)].path
        dst = work / "copies" / f"{args.size}-{k}.png"
        if not dst.exists():
            Image.open(src).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(dst)
        gens.append(ImageRecord(f"c{k}", dst, "s0", method="copier"))
    cache = None
    if args.cache:
        from idbench.cache.store import EmbeddingCache

        cache = EmbeddingCache(work / f"cache-{args.size}")
    before = _rss_mb("VmRSS")
    t = time.perf_counter()
    # every file's SHA-256, as the run's first stage has it: the process's file-hash memo (shared by the
    # audit and every encoder) is then known, and what follows is the audit's own memory
    content_hashes(refs + gens + gallery)
    hashed = _rss_mb("VmRSS")
    audit = audit_content(refs, gens, gallery, cache=cache, problems=ProblemLog())
    elapsed = time.perf_counter() - t
    peak = _rss_mb("VmHWM")
    found = sum(1 for g in gens if g.method == "copier" and audit.copy_of(g) is not None)
    print(json.dumps({"size": args.size, "seconds": elapsed, "before_mb": before, "hashed_mb": hashed, "peak_mb": peak,
                      "extra_mb": peak - before, "audit_mb": peak - hashed, "copies_found": found,
                      "copies": args.copies}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20000,200000")
    ap.add_argument("--gens", type=int, default=3000)
    ap.add_argument("--refs", type=int, default=300)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--workdir", default="/tmp/idbench-bench-audit")
    ap.add_argument("--cache", action="store_true")
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)  # the child process's one size
    args = ap.parse_args()
    if args.size:
        child(args)
        return
    print(f"{args.gens} generations ({args.copies} copies of gallery images), {args.refs} references")
    for size in [int(s) for s in args.sizes.split(",")]:
        cmd = [sys.executable, __file__, "--size", str(size), "--gens", str(args.gens), "--refs", str(args.refs),
               "--copies", str(args.copies), "--workdir", args.workdir] + (["--cache"] if args.cache else [])
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(f"  gallery {size:>7,}: audit {r['seconds']:7.1f} s ({1e6 * r['seconds'] / size:.0f} us a gallery image), "
              f"RSS before {r['before_mb']:.0f} MB, peak {r['peak_mb']:.0f} MB; peak extra {r['extra_mb']:.0f} MB "
              f"= the files' hashes {r['hashed_mb'] - r['before_mb']:.0f} MB + the audit {r['audit_mb']:.0f} MB; "
              f"copies found {r['copies_found']} / {r['copies']}")


if __name__ == "__main__":
    main()
