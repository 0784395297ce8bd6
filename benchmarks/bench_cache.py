"""Cold vs warm embedding: how much a re-run over cached images costs relative to the first run.

    .venv/bin/python benchmarks/bench_cache.py [--encoder effnet-lite0] [--repeat 2]

Encodes the 111 photos of ../shared/datasets/dreambooth-objects into an empty cache (cold), then
again with everything cached (warm), in the same process, and prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from idbench.cache.store import EmbeddingCache
from idbench.data.records import ImageRecord
from idbench.embed import embed_records
from idbench.encoders import create_encoder

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dreambooth-objects"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="effnet-lite0")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--repeat", type=int, default=2, help="warm runs (the best is reported)")
    args = ap.parse_args()
    with open(args.data / "manifest.csv", newline="") as f:
        recs = [ImageRecord(r["path"], args.data / r["path"], r["subject"]) for r in csv.DictReader(f)]
    enc = create_encoder(args.encoder)
    enc.embed_batch([enc.preprocess(__import__("PIL.Image").Image.new("RGB", (64, 64)))])  # warm-up (model load, ONNX export)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        embed_records(enc, recs, cache=EmbeddingCache(d), progress=False)
        cold = time.perf_counter() - t0
        warm = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            embed_records(enc, recs, cache=EmbeddingCache(d), progress=False)
            warm = min(warm, time.perf_counter() - t0)
    print(f"encoder {enc.name}: {len(recs)} images")
    print(f"cold (empty cache): {cold:.3f} s  ({len(recs) / cold:.1f} images/s)")
    print(f"warm (all cached):  {warm:.3f} s")
    print(f"warm / cold: {warm / cold:.4f}  (warm run is {cold / warm:.0f}x faster)")


if __name__ == "__main__":
    main()
