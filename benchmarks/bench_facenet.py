"""FaceNet as the stellar preset uses it (facenet-pytorch's MTCNN with its shipped weights, faces kept at
probability >= 0.9): faces found per photo on faces-small, false faces on the 111 DreamBooth object photos,
and seconds per image. The recognizer is random here (its weights are not on PyPI); detection does not use it.
Run: .venv/bin/python benchmarks/bench_facenet.py"""
import os
import tempfile
import time
from pathlib import Path

import torch
from facenet_pytorch import InceptionResnetV1

from idbench.data.images import load_image
from idbench.encoders.facenet import FaceNetEncoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
weights = os.path.join(tempfile.mkdtemp(), "random.pt")
torch.save(InceptionResnetV1().state_dict(), weights)
enc = FaceNetEncoder(weights, device="cpu")


def faces(paths):
    t = time.perf_counter()
    n = [enc.embed_batch([enc.preprocess(load_image(p))])[0].n for p in paths]
    return n, (time.perf_counter() - t) / len(paths)


people = sorted((DATA / "faces-small" / "images").glob("*/*.jpg"))
objects = sorted((DATA / "dreambooth-objects" / "images").glob("*/*.jpg"))
n, s = faces(people)
print("faces-small:", ", ".join(f"{p.name} {k}" for p, k in zip(people, n)), f"({s:.2f} s per image)")
n, s = faces(objects)
print(f"dreambooth-objects: {sum(k > 0 for k in n)} of {len(objects)} photos with a face ({s:.2f} s per image)")
