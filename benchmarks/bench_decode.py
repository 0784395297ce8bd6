"""Encoding at published photo sizes: reduced-size JPEG decoding against the full decode, and both
against raw ONNX Runtime on already-preprocessed tensors, in one process with interleaved rounds.

    .venv/bin/python benchmarks/bench_decode.py [--n 64] [--side 1440] [--rounds 3]

Photos: the DreamBooth photos upscaled to ``--side`` px (shorter side, bicubic, sensor-like grain,
JPEG quality 92), as distinct files. Reports images/s for
* ``full``: ``embed_records`` with the whole JPEG decoded (``decode_min_side`` off);
* ``draft``: ``embed_records`` as shipped (decoded at reduced size, shorter side >= 512);
* ``raw``: ``session.run`` on the preprocessed tensors (a session with ONNX Runtime's default options);
the cosine between the full and the reduced decodes' embeddings; and, on one thread, the milliseconds
per image of Pillow's own whole decode (``Image.open``, ``load``, EXIF orientation, RGB) against
``load_image`` whole and at reduced size, and of effnet-lite0's resize and normalisation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from idbench.data.images import load_image
from idbench.data.records import ImageRecord
from idbench.embed import embed_records
from idbench.encoders import create_encoder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _photos import SHARED  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--side", type=int, default=1440)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    enc = create_encoder("effnet-lite0").real()
    rng = np.random.default_rng(0)
    src = sorted((SHARED / "dreambooth-objects" / "images").glob("*/*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k in range(a.n):
            im = Image.open(src[k % len(src)]).convert("RGB")
            w = a.side if im.width <= im.height else round(a.side * im.width / im.height)
            h = round(w * im.height / im.width)
            arr = np.asarray(im.resize((w, h), Image.BICUBIC), np.float32) + rng.normal(0, 6, (h, w, 3))
            p = Path(tmp) / f"{k}.jpg"
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p, quality=92)
            paths.append(p)
        recs = [ImageRecord(str(k), p, "s") for k, p in enumerate(paths)]
        x = np.stack([enc.preprocess(load_image(p)) for p in paths]).astype(np.float32)
        # raw: a session of the same model with ONNX Runtime's default options (its fastest alone)
        import onnxruntime as ort

        raw = ort.InferenceSession(enc._session._model_path, providers=["CPUExecutionProvider"])
        rates = {"full": [], "draft": [], "raw": []}
        embs = {}
        for _ in range(a.rounds):
            for mode in ("full", "draft", "raw"):
                t0 = time.perf_counter()
                if mode == "raw":
                    for i in range(0, len(x), 32):
                        raw.run(None, {"image": x[i:i + 32]})
                else:
                    type(enc).decode_min_side = None if mode == "full" else 512
                    embs[mode] = embed_records(enc, recs, progress=False)
                rates[mode].append(len(paths) / (time.perf_counter() - t0))
        type(enc).decode_min_side = 512
        cos = np.array([float(embs["full"][r.id].vectors[0] @ embs["draft"][r.id].vectors[0]) for r in recs])
        med = {k: float(np.median(v)) for k, v in rates.items()}
        print(f"{a.n} photos, shorter side {a.side} px, {a.rounds} interleaved rounds (median images/s):")
        for k, v in med.items():
            print(f"  {k:5s} {v:7.1f} img/s   raw / {k}: {med['raw'] / v:.2f}x")
        print(f"  draft / full speed-up: {med['draft'] / med['full']:.2f}x")
        print(f"  cosine full vs reduced decode: median {np.median(cos):.5f}, min {cos.min():.5f}")
        print("one thread, ms per image (best of the rounds):")
        reduced = [load_image(p, min_side=enc.decode_min_side) for p in paths]
        stages = {"Pillow's decode, whole": lambda p: ImageOps.exif_transpose(Image.open(p)).convert("RGB"),
                  "load_image, whole": load_image,
                  "load_image, reduced": lambda p: load_image(p, min_side=enc.decode_min_side)}
        for name, fn in stages.items():
            print(f"  {name:24s} {_best_ms(lambda fn=fn: [fn(p) for p in paths], a.rounds, len(paths)):6.2f}")
        ms = _best_ms(lambda: [enc.preprocess(im) for im in reduced], a.rounds, len(paths))
        print(f"  {'resize and normalise':24s} {ms:6.2f}  (from {reduced[0].size[0]} x {reduced[0].size[1]})")


def _best_ms(fn, rounds: int, n: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e3


if __name__ == "__main__":
    main()
