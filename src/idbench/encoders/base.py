"""The encoder protocol every metric consumes.

An encoder turns decoded RGB images into float32, L2-normalised embedding rows. It is split into
two steps so that decoding and preprocessing (CPU, threads) overlap with the forward pass:

* :meth:`Encoder.preprocess` -- one ``PIL.Image`` (RGB) to whatever the model needs (runs in worker
  threads, must be thread-safe and deterministic);
* :meth:`Encoder.embed_batch` -- a list of preprocessed items to a list of :class:`Faces`-style
  row blocks, one per image.

Image encoders return exactly one row per image. Face encoders return one row per detected face
(possibly zero: a *detection failure*, which metrics must count, never score as silently zero).

``cache_id`` names everything that changes the output (model, weights, preprocessing version), so
the embedding cache can be keyed on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from idbench.data.images import decode_tag
from idbench.embedding import ImageEmbedding  # noqa: F401  (part of the encoder API)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation, returned as float32."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norm, eps)).astype(np.float32, copy=False)


class Encoder:
    """Base class for all encoders.

    Subclasses set ``kind``, ``dim``, ``name`` and ``cache_id`` and implement :meth:`preprocess`
    and :meth:`embed_batch`. CLIP-like encoders also implement :meth:`embed_text`.
    """

    kind: ClassVar[str] = "image"  # "image" or "face"
    #: The similarity protocol's column for an image encoder: ``<similarity_metric>[<name>]``.
    similarity_metric: ClassVar[str] = "cos"
    #: Bump when preprocessing changes: it is part of the cache key.
    preprocess_version: ClassVar[str] = "1"
    #: the shorter side a JPEG must keep when decoded at reduced size before :meth:`preprocess`
    #: (None: decoded whole, as a benchmark's own code does; part of :attr:`cache_id` when set)
    decode_min_side: ClassVar[int | None] = None

    name: str
    dim: int

    @property
    def cache_id(self) -> str:
        """Everything that determines the output: model, weights, preprocessing."""
        return f"{self.name}@pp{self.preprocess_version}{decode_tag(self.decode_min_side)}"

    @property
    def has_text(self) -> bool:
        return type(self).embed_text is not Encoder.embed_text

    def preprocess(self, image: Any) -> Any:  # PIL.Image.Image (RGB) -> model input
        raise NotImplementedError

    def embed_batch(self, items: Sequence[Any]) -> list[ImageEmbedding]:
        raise NotImplementedError

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 L2-normalised text embeddings (CLIP-like encoders only)."""
        raise NotImplementedError(f"encoder {self.name!r} has no text tower")

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        """Convenience: PIL images -> (N, dim) rows (image encoders only, no cache, no threads)."""
        if self.kind != "image":
            raise TypeError(f"{self.name} is a face encoder: use embed_batch to get faces per image")
        out = self.embed_batch([self.preprocess(im) for im in images])
        return np.concatenate([e.vectors for e in out], axis=0) if out else np.zeros((0, self.dim), np.float32)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={getattr(self, 'dim', '?')}>"
