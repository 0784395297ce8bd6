"""Encoding throughput through idbench's pipeline against the raw runtime, in one process.

    .venv/bin/python benchmarks/bench_encoders.py [--n 222] [--batch 32]

* effnet-lite0: ``embed_records`` on the DreamBooth photo files (hashing, decoding and resizing in
  worker threads overlapped with inference, no cache) vs raw ONNX Runtime ``session.run`` on the
  same images already decoded and preprocessed into one tensor. The ratio raw / pipeline is the
  pipeline's overhead (target: within 1.3x).
* dlib-face: images/s on the DreamBooth-size faces-small photos with 1 worker vs one per core.
Files are distinct copies (so the content-hash dedup does not skip any).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from idbench.data.images import load_image
from idbench.data.records import ImageRecord
from idbench.embed import embed_records
from idbench.encoders import create_encoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _photos import SHARED, distinct_photos  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=222)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = distinct_photos(args.n, Path(tmp))
        enc = create_encoder("effnet-lite0").real()
        recs = [ImageRecord(str(i), p, "s") for i, p in enumerate(files)]
        embed_records(enc, recs[:4], progress=False)  # warm-up (session created)
        t = time.perf_counter()
        embed_records(enc, recs, cache=None, batch_size=args.batch, progress=False)
        pipe = args.n / (time.perf_counter() - t)
        x = np.stack([enc.preprocess(load_image(p)) for p in files])
        sess = enc._session
        t = time.perf_counter()
        for s in range(0, len(x), args.batch):
            sess.run(None, {"image": x[s:s + args.batch]})
        raw = args.n / (time.perf_counter() - t)
        print(f"effnet-lite0, {args.n} DreamBooth photos (256 x 256 JPEG), batch {args.batch}:")
        print(f"  idbench pipeline (files -> embeddings): {pipe:6.1f} images/s")
        print(f"  raw onnxruntime (pre-decoded tensors):  {raw:6.1f} images/s   raw / pipeline = {raw / pipe:.2f}x")
        faces = sorted((SHARED / "faces-small" / "images").glob("*/*.jpg"))
        from idbench.encoders.dlib_face import DlibFaceEncoder

        items = [DlibFaceEncoder(workers=1).preprocess(load_image(p)) for p in faces] * 4
        rates = {}
        for w in (1, 2):
            d = DlibFaceEncoder(workers=w)
            d.embed_batch(items[:2])
            t = time.perf_counter()
            d.embed_batch(items)
            rates[w] = len(items) / (time.perf_counter() - t)
        print(f"dlib-face, {len(items)} faces-small photos: 1 worker {rates[1]:.1f} images/s, 2 workers "
              f"{rates[2]:.1f} images/s ({rates[2] / rates[1]:.2f}x)")


if __name__ == "__main__":
    main()
