"""What an encoder gives for one image: its embedding rows (and, for faces, their boxes and scores).
A leaf: the data layer, the caches and the encoders all pass it along."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ImageEmbedding:
    """The embedding rows of one image.

    Attributes
    ----------
    vectors : ndarray, shape (n, dim), float32
        L2-normalised rows. ``n == 1`` for image encoders; ``n`` = faces found for face encoders.
    boxes : ndarray, shape (n, 4), float32, or None
        For face encoders: ``(left, top, right, bottom)`` in pixels of the original image.
    scores : ndarray, shape (n,), float32, or None
        For face encoders: detection scores.
    """

    vectors: np.ndarray
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.vectors.shape[0])
