"""Encoder throughput (images/s) for each built-in encoder, measured in one process.

    .venv/bin/python benchmarks/bench_encoders.py [--n 64] [--batch 32]

effnet-lite0 runs with both backends (ONNX Runtime and eager PyTorch) on the same images, so their
ratio is a same-process comparison; dlib-face runs on the astronaut photo (one face per image).
Decoding and preprocessing are included (the same path `embed_records` takes, without the cache).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from idbench.data.images import load_image
from idbench.encoders import create_encoder

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dreambooth-objects"


def _rate(enc, images, batch: int) -> float:
    enc.embed_batch([enc.preprocess(images[0])])  # warm-up
    t0 = time.perf_counter()
    for s in range(0, len(images), batch):
        enc.embed_batch([enc.preprocess(im) for im in images[s : s + batch]])
    return len(images) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    with open(DATA / "manifest.csv", newline="") as f:
        paths = [DATA / r["path"] for r in csv.DictReader(f)]
    photos = [load_image(p) for p in (paths * 2)[: args.n]]
    onnx = _rate(create_encoder("effnet-lite0", backend="onnx"), photos, args.batch)
    torch_ = _rate(create_encoder("effnet-lite0", backend="torch"), photos, args.batch)
    import skimage.data
    from PIL import Image

    faces = [Image.fromarray(skimage.data.astronaut())] * max(8, args.n // 8)
    dlib = _rate(create_encoder("dlib-face"), faces, args.batch)
    print(f"effnet-lite0 (onnxruntime): {onnx:7.1f} images/s  ({args.n} DreamBooth photos, batch {args.batch})")
    print(f"effnet-lite0 (torch eager): {torch_:7.1f} images/s")
    print(f"  onnx / torch speed ratio: {onnx / torch_:.2f}x")
    print(f"dlib-face:                  {dlib:7.1f} images/s  (512x512 astronaut, 1 face each)")


if __name__ == "__main__":
    main()
