"""A second detection pass, on a padded canvas, for images where a face encoder found no face.

Small or stylised faces that fill the frame (close crops, paintings) are often missed by
detectors trained on faces with context around them; ConsisID retries such images padded. The
wrapper keeps every face the first pass finds; for an image with none, it pads the image by
``pad`` x its longer side on every side (black), detects again, and maps the boxes back to the
original pixels. Its cache id names the padding, so retried and plain embeddings never mix.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from idbench.encoders.base import Encoder, ImageEmbedding


class PaddedRetry(Encoder):
    kind = "face"

    def __init__(self, inner: Encoder, pad: float = 0.25) -> None:
        if inner.kind != "face":
            raise ValueError(f"padded retry applies to face encoders, {inner.name} is a {inner.kind} encoder")
        if not 0 < pad <= 2:
            raise ValueError(f"pad must be in (0, 2], got {pad}")
        self.inner, self.pad = inner, float(pad)
        self.name, self.dim = inner.name, inner.dim

    @property
    def cache_id(self) -> str:
        return f"{self.inner.cache_id}+padretry{self.pad:g}"

    def preprocess(self, image: Image.Image):
        return self.inner.preprocess(image), image

    def embed_batch(self, items):
        first = self.inner.embed_batch([a for a, _ in items])
        out = list(first)
        retry = [k for k, e in enumerate(first) if e.n == 0]
        if retry:
            padded, offsets = [], []
            for k in retry:
                im = items[k][1]
                m = int(round(self.pad * max(im.size)))
                canvas = Image.new("RGB", (im.width + 2 * m, im.height + 2 * m), (0, 0, 0))
                canvas.paste(im, (m, m))
                padded.append(self.inner.preprocess(canvas))
                offsets.append(m)
            for k, m, e in zip(retry, offsets, self.inner.embed_batch(padded)):
                if e.n and e.boxes is not None:
                    boxes = e.boxes - np.array([m, m, m, m], np.float32)
                    e = ImageEmbedding(e.vectors, boxes, e.scores)
                out[k] = e
        return out
