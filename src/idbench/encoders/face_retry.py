"""A second detection pass, on a padded canvas, for images where a face encoder found no face.

Small or stylised faces that fill the frame (close crops, paintings) are often missed by
detectors trained on faces with context around them; ConsisID retries such images padded. The
wrapper keeps every face the first pass finds; for an image with none, it pads the image, detects
again, and maps the boxes back to the original pixels. ``geometry``:

* ``"longer_side"``: ``round(pad x longer side)`` on every side;
* ``"per_axis"``: ``int(pad x height)`` above and below, ``int(pad x width)`` left and right
  (ConsisID's ``pad_np_bgr_image``, scale 1.25, grey 128).

``fill`` is the grey level of the border (0 black). Its cache id names the padding, so retried and
plain embeddings never mix.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from idbench.encoders.base import Encoder, ImageEmbedding


class PaddedRetry(Encoder):
    kind = "face"

    def __init__(self, inner: Encoder, pad: float = 0.25, geometry: str = "longer_side", fill: int = 0) -> None:
        if inner.kind != "face":
            raise ValueError(f"padded retry applies to face encoders, {inner.name} is a {inner.kind} encoder")
        if not 0 < pad <= 2:
            raise ValueError(f"pad must be in (0, 2], got {pad}")
        if geometry not in ("longer_side", "per_axis"):
            raise ValueError(f"geometry must be 'longer_side' or 'per_axis', got {geometry!r}")
        if not 0 <= int(fill) <= 255:
            raise ValueError(f"fill must be a grey level 0..255, got {fill}")
        self.inner, self.pad, self.geometry, self.fill = inner, float(pad), geometry, int(fill)
        self.name, self.dim = inner.name, inner.dim

    @property
    def cache_id(self) -> str:
        extra = "" if (self.geometry, self.fill) == ("longer_side", 0) else f"-{self.geometry}-f{self.fill}"
        return f"{self.inner.cache_id}+padretry{self.pad:g}{extra}"

    def margins(self, width: int, height: int) -> tuple[int, int]:
        """(left/right, top/bottom) border in pixels."""
        if self.geometry == "per_axis":
            return int(width * self.pad), int(height * self.pad)
        m = int(round(self.pad * max(width, height)))
        return m, m

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
                mx, my = self.margins(im.width, im.height)
                canvas = Image.new("RGB", (im.width + 2 * mx, im.height + 2 * my), (self.fill,) * 3)
                canvas.paste(im.convert("RGB"), (mx, my))
                padded.append(self.inner.preprocess(canvas))
                offsets.append((mx, my))
            for k, (mx, my), e in zip(retry, offsets, self.inner.embed_batch(padded)):
                if e.n and e.boxes is not None:
                    boxes = e.boxes - np.array([mx, my, mx, my], np.float32)
                    e = ImageEmbedding(e.vectors, boxes, e.scores)
                out[k] = e
        return out


class PaddedSquare(Encoder):
    """A face encoder that sees each image centred on a black square of ``ratio`` x its longer side
    (``int(ratio * longer side)``, offsets ``(side - w) // 2`` and ``(side - h) // 2``): MultiID-Bench's
    ``pad_image`` for the reference photos, which are close crops. Boxes are mapped back to the
    image's own pixels; its cache id names the padding."""

    kind = "face"

    def __init__(self, inner: Encoder, ratio: float = 1.5) -> None:
        if inner.kind != "face":
            raise ValueError(f"square padding applies to face encoders, {inner.name} is a {inner.kind} encoder")
        if not 1.0 <= ratio <= 4.0:
            raise ValueError(f"ratio must be in [1, 4], got {ratio}")
        self.inner, self.ratio = inner, float(ratio)
        self.name, self.dim = inner.name, inner.dim

    @property
    def cache_id(self) -> str:
        return f"{self.inner.cache_id}+square{self.ratio:g}"

    def canvas(self, image: Image.Image) -> tuple[Image.Image, tuple[int, int]]:
        w, h = image.size
        side = int(max(w, h) * self.ratio)
        out = Image.new("RGB", (side, side), (0, 0, 0))
        off = ((side - w) // 2, (side - h) // 2)
        out.paste(image.convert("RGB"), off)
        return out, off

    def preprocess(self, image: Image.Image):
        canvas, off = self.canvas(image)
        return self.inner.preprocess(canvas), off

    def embed_batch(self, items):
        out = []
        for (_, (dx, dy)), e in zip(items, self.inner.embed_batch([x for x, _ in items])):
            if e.n and e.boxes is not None:
                e = ImageEmbedding(e.vectors, e.boxes - np.array([dx, dy, dx, dy], np.float32), e.scores)
            out.append(e)
        return out
