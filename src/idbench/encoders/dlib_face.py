"""``dlib-face``: dlib's HOG face detector, 5-point alignment and 128-d face descriptor. Built in.

dlib comes from the prebuilt ``dlib-bin`` wheel; the models from ``face_recognition_models``,
whose folder is located without importing the package (its ``__init__`` needs pkg_resources).
Every face with a detection score >= ``min_score`` (default 0.5; dlib's HOG detector also returns
low-score false positives) is kept with its box and score. The 128-d descriptors are
L2-normalised so that cosine similarity applies (dlib's own rule, Euclidean distance < 0.6 on raw
descriptors for the same person, corresponds to a high cosine since raw descriptors have norm ~1).
Zero faces is a detection failure (an empty embedding), never an error.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize
from idbench.encoders.builtin import DLIB_PP, dlib_cache_id, dlib_models_dir


def models_dir() -> Path:
    return dlib_models_dir()


class DlibFaceEncoder(Encoder):
    kind = "face"
    preprocess_version = DLIB_PP

    def __init__(self, min_score: float = 0.5, upsample: int = 1, jitters: int = 0, max_side: int = 1024,
                 workers: int | None = None) -> None:
        import dlib

        self._dlib = dlib
        self._local = threading.local()
        self.detector, self.shape, self.net = self._models()  # the calling thread's set; checks the files at once
        self.min_score, self.upsample, self.jitters, self.max_side = min_score, upsample, jitters, max_side
        # dlib releases the GIL, but one model shared by threads gives wrong descriptors: each worker
        # thread loads its own models (_models), and images are spread over the workers
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._pool = None
        self.name, self.dim = "dlib-face", 128
        self._id = dlib_cache_id(min_score, upsample, jitters)

    @property
    def cache_id(self) -> str:
        return self._id

    def preprocess(self, image: Image.Image):
        """uint8 RGB array (downscaled so the longer side is <= max_side) and the scale back."""
        w, h = image.size
        scale = min(1.0, self.max_side / max(w, h))
        if scale < 1.0:
            image = image.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)), scale

    def _models(self):
        """This thread's own detector, shape predictor and descriptor network."""
        if not hasattr(self._local, "models"):
            m = models_dir()
            dlib = self._dlib
            self._local.models = (dlib.get_frontal_face_detector(),
                                  dlib.shape_predictor(str(m / "shape_predictor_5_face_landmarks.dat")),
                                  dlib.face_recognition_model_v1(str(m / "dlib_face_recognition_resnet_model_v1.dat")))
        return self._local.models

    def _embed_one(self, item) -> ImageEmbedding:
        arr, scale = item
        detector, shaper, net = self._models()
        dets, scores, _ = detector.run(arr, self.upsample, 0.0)
        keep = [(d, s) for d, s in zip(dets, scores) if s >= self.min_score]
        if not keep:
            return ImageEmbedding(np.zeros((0, 128), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        vecs, boxes = [], []
        for d, _ in keep:
            shape = shaper(arr, d)
            vecs.append(np.array(net.compute_face_descriptor(arr, shape, self.jitters), dtype=np.float32))
            boxes.append([d.left() / scale, d.top() / scale, d.right() / scale, d.bottom() / scale])
        return ImageEmbedding(l2_normalize(np.stack(vecs)), np.array(boxes, np.float32),
                              np.array([s for _, s in keep], np.float32))

    def embed_batch(self, items):
        if self.workers <= 1 or len(items) <= 1:
            return [self._embed_one(it) for it in items]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="dlib-face")
        return list(self._pool.map(self._embed_one, items))
