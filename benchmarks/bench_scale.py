"""A study at the scale people run, cold and warm: where the time goes, and the peak memory.

    .venv/bin/python benchmarks/bench_scale.py                                  # 3,000 generations, 20,000 gallery
    .venv/bin/python benchmarks/bench_scale.py --gen 1000 --gallery 5000        # smaller

Builds a synthetic study once (in --work, reused): --subjects subjects in --classes classes, each
drawn as a picture of coloured shapes in its own palette and layout (the gallery: --gallery photos,
each subject's shapes moved, resized and recoloured a little; references: 2 per subject;
generations: --methods methods, each a different amount of change), JPEG at --size px. Then runs
``idbench run`` (similarity, retrieval, RCA, report) on it twice, each in a fresh process: cold
(empty cache folder) and warm (the same command again).

Each phase's time is the time spent inside it, the outermost phase counting (a phase nested in
another is part of it):

* decode + encode: ``embed_records`` (hashing, decoding, the encoder, cache reads and writes);
* audit: the copy audit (its thumbprints included);
* ranking: the retrieval protocol's rankings;
* RCA: fitting the oracle and scoring the generations;
* bootstrap: ``Results.summarise`` (intervals and method rankings);
* report: writing the folder (summary, tables, thumbnails, report.html).

Prints each phase's seconds and share of the run, the rest ("other": loading, planning, imports),
the peak resident memory (ru_maxrss) of each run, and how far each phase raised that peak (so the
phase that holds the most memory shows).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PHASES = {  # phase -> the functions whose time it is (module, attribute)
    "decode + encode": [("idbench.embed", "embed_records")],
    "audit": [("idbench.data.content", "audit_content")],
    "ranking": [("idbench.protocols.retrieval", "_ranked_levels"), ("idbench.protocols.retrieval", "_ranked_within"),
                ("idbench.protocols.retrieval", "_ranked")],
    "RCA": [("idbench.protocols.rca", "_oracle"), ("idbench.protocols.rca", "relative_classification_accuracy")],
    "bootstrap": [("idbench.results.Results", "summarise")],
    "report": [("idbench.write", "write_results_folder")],
}


def _picture(rng: np.random.Generator, palette: np.ndarray, layout: np.ndarray, size: int, change: float):
    from PIL import Image, ImageDraw

    bg = tuple(int(v) for v in np.clip(palette[0] + rng.normal(0, 12, 3), 0, 255))
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    for k, (x, y, r, kind) in enumerate(layout):
        x, y = (x + rng.normal(0, 0.04 + change)) * size, (y + rng.normal(0, 0.04 + change)) * size
        r = max(3.0, r * size * (1 + rng.normal(0, 0.1 + change)))
        col = tuple(int(v) for v in np.clip(palette[1 + k % (len(palette) - 1)] + rng.normal(0, 15 + 120 * change, 3),
                                            0, 255))
        box = [x - r, y - r, x + r, y + r]
        (d.ellipse if kind < 0.5 else d.rectangle)(box, fill=col)
    return im


def build(work: Path, args) -> Path:
    """The study's files (reused when --work already holds a study of these sizes)."""
    stamp = work / "study.json"
    want = {k: getattr(args, k) for k in ("gen", "gallery", "subjects", "classes", "methods", "size", "seed")}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return work
    rng = np.random.default_rng(args.seed)
    class_palette = rng.uniform(0, 255, (args.classes, 5, 3))
    subjects = []
    for s in range(args.subjects):
        c = s % args.classes
        palette = np.clip(class_palette[c] + rng.normal(0, 35, (5, 3)), 0, 255)
        layout = np.column_stack([rng.uniform(0.2, 0.8, 6), rng.uniform(0.2, 0.8, 6), rng.uniform(0.06, 0.2, 6),
                                  rng.uniform(0, 1, 6)])
        subjects.append((f"s{s:05d}", f"c{c:03d}", palette, layout))
    t = time.perf_counter()
    gal = [["path", "subject", "class"]]
    for i in range(args.gallery):
        name, cls, palette, layout = subjects[i % args.subjects]
        p = work / "gallery" / name / f"{i}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        _picture(rng, palette, layout, args.size, 0.02).save(p, quality=90)
        gal.append([str(p), name, cls])
    with open(work / "gallery.csv", "w", newline="") as f:
        csv.writer(f).writerows(gal)
    for name, _, palette, layout in subjects:
        for r in range(2):
            p = work / "refs" / name / f"{r}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            _picture(rng, palette, layout, args.size, 0.02).save(p, quality=90)
    per_method = args.gen // args.methods
    for m in range(args.methods):
        change = 0.03 + 0.08 * m
        for i in range(per_method):
            name, _, palette, layout = subjects[i % args.subjects]
            p = work / "gen" / f"method{m}" / name / f"{i}.jpg"
            p.parent.mkdir(parents=True, exist_ok=True)
            _picture(rng, palette, layout, args.size, change).save(p, quality=90)
    stamp.write_text(json.dumps(want))
    print(f"built the study in {time.perf_counter() - t:.0f} s: {work}", flush=True)
    return work


def child(work: Path, out: Path, cache: Path) -> None:
    """One ``idbench run`` in this process, its phases timed; prints one JSON line."""
    os.environ["IDBENCH_CACHE"] = str(cache)
    import importlib

    from idbench.cli.main import cli
    from idbench.protocols.registry import available_protocols, get_protocol

    for p in available_protocols():
        get_protocol(p)
    spent = {k: 0.0 for k in PHASES}
    rise = {k: 0.0 for k in PHASES}  # how far each phase raised the process's peak memory (MB)
    depth = [0]

    def maxrss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def wrap(phase, fn):
        def timed(*a, **kw):
            if depth[0]:
                return fn(*a, **kw)
            depth[0] += 1
            t, m = time.perf_counter(), maxrss_mb()
            try:
                return fn(*a, **kw)
            finally:
                spent[phase] += time.perf_counter() - t
                rise[phase] += maxrss_mb() - m
                depth[0] -= 1
        return timed

    for phase, sites in PHASES.items():
        for modname, attr in sites:
            mod, _, cls = modname.rpartition(".") if modname.endswith(".Results") else (modname, "", "")
            if cls:
                owner = getattr(importlib.import_module(mod), cls)
                setattr(owner, attr, wrap(phase, getattr(owner, attr)))
                continue
            orig = getattr(importlib.import_module(modname), attr)
            timed = wrap(phase, orig)
            for m in list(sys.modules.values()):  # every module that imported it by name
                if getattr(m, "__name__", "").startswith("idbench") and getattr(m, attr, None) is orig:
                    setattr(m, attr, timed)
    t = time.perf_counter()
    cli.main(["run", "--refs", str(work / "refs"), "--gen", str(work / "gen"), "--gallery", str(work / "gallery.csv"),
              "-o", str(out), "-q", "--replace"], standalone_mode=False)
    total = time.perf_counter() - t
    print(json.dumps({"total": total, "phases": spent, "rise": rise, "peak_mb": maxrss_mb()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gen", type=int, default=3000)
    ap.add_argument("--gallery", type=int, default=20000)
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--methods", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/idbench-bench-scale"))
    ap.add_argument("--keep-cache", action="store_true", help="keep the cache of an earlier run: both runs are warm "
                    "(after a change that invalidates part of it, the first run recomputes that part)")
    ap.add_argument("--child", nargs=3, metavar=("WORK", "OUT", "CACHE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*map(Path, args.child))
        return
    work = build(args.work, args)
    cache = args.work / "cache"
    if cache.exists() and not args.keep_cache:
        import shutil

        shutil.rmtree(cache)
    print(f"{args.gen} generations, {args.gallery} gallery images, {args.subjects} subjects in {args.classes} classes, "
          f"{args.size} px; idbench run: similarity, retrieval, RCA, report", flush=True)
    runs = {}
    for which in ("cold", "warm"):
        p = subprocess.run([sys.executable, __file__, "--child", str(work), str(args.work / "results"), str(cache)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(p.stderr[-4000:])
        runs[which] = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"{'phase':16s} {'cold s':>8s} {'share':>6s} {'warm s':>8s} {'share':>6s}   peak memory raised by (cold, warm)")
    for phase in [*PHASES, "other"]:
        cells, rises = [], []
        for which in ("cold", "warm"):
            r = runs[which]
            v = r["phases"][phase] if phase != "other" else r["total"] - sum(r["phases"].values())
            cells += [f"{v:8.1f}", f"{v / r['total']:6.0%}"]
            rises.append(r["rise"][phase] if phase != "other" else r["peak_mb"] - sum(r["rise"].values()))
        print(f"{phase:16s} {' '.join(cells)}   {rises[0]:6.0f} MB {rises[1]:6.0f} MB")
    c, w = runs["cold"], runs["warm"]
    print(f"{'total':16s} {c['total']:8.1f} {'':6s} {w['total']:8.1f}   warm / cold {w['total'] / c['total']:.3f}")
    print(f"peak memory: cold {c['peak_mb']:.0f} MB, warm {w['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
