"""Cold vs warm full study (similarity, retrieval, RCA, report) on the DreamBooth photos, each in a
fresh process: cold = empty cache folder (includes the one-time ONNX export), warm = the same
command again. Prints both times, their ratio, and which heavy frameworks the warm run imported.

    .venv/bin/python benchmarks/bench_warm_study.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import DREAMBOOTH, write_study_inputs  # noqa: E402

HEAVY = ("torch", "onnxruntime", "dlib", "matplotlib", "faiss", "scipy.stats")


def run(tmp: Path, out: str, cache: Path) -> tuple[float, set[str]]:
    cmd = [sys.executable, "-X", "importtime", "-m", "idbench.cli.main", "run", "--refs", str(tmp / "refs"), "--gen",
           str(tmp / "gen"), "--gallery", str(tmp / "gallery.csv"), "-o", str(tmp / out), "-q"]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "IDBENCH_CACHE": str(cache)})
    dt = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(p.stderr[-3000:])
    mods = {m.group(1) for m in re.finditer(r"\|\s+([\w.]+)\s*$", p.stderr, re.M)}
    return dt, {h for h in HEAVY if h in mods}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rows = list(csv.DictReader(open(DREAMBOOTH / "manifest.csv")))
    ratios = []
    for k in range(a.rounds):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            write_study_inputs(tmp, rows)
            cold, _ = run(tmp, "cold", tmp / "cache")
            warm, imported = run(tmp, "warm", tmp / "cache")
            ratios.append(warm / cold)
            print(f"round {k + 1}: {len(rows)} photos, cold {cold:.2f} s, warm {warm:.2f} s, warm/cold {warm / cold:.3f}; "
                  f"warm imported: {', '.join(sorted(imported)) or 'none of ' + ', '.join(HEAVY)}")
    print(f"median warm/cold over {a.rounds} rounds: {sorted(ratios)[len(ratios) // 2]:.3f}")


if __name__ == "__main__":
    main()
