"""``nearid:<dir>``: a trained NearID identity head applied on top of its frozen backbone.

``<dir>`` holds ``head.safetensors`` and ``config.json`` (written by ``idbench nearid train``);
the config names the backbone spec, which is created through the same registry.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from idbench.encoders import create_encoder
from idbench.encoders.base import Encoder, ImageEmbedding


class NearIDEncoder(Encoder):
    kind = "image"

    def __init__(self, head_dir: str, device: str | None = None) -> None:
        from idbench.nearid.head import load_head

        p = Path(head_dir)
        if not (p / "head.safetensors").is_file():
            raise FileNotFoundError(f"{p}: no head.safetensors (train one with `idbench nearid train`)")
        self.head, self.cfg = load_head(p)
        self.backbone = create_encoder(self.cfg.backbone, device=device)
        self.name = f"nearid:{p.name}"
        self.dim = self.cfg.out_dim
        self._hash = hashlib.sha256((p / "head.safetensors").read_bytes()).hexdigest()[:12]

    @property
    def cache_id(self) -> str:
        return f"nearid@{self._hash}+{self.backbone.cache_id}"

    def preprocess(self, image):
        return self.backbone.preprocess(image)

    def embed_batch(self, items):
        base = self.backbone.embed_batch(items)
        x = np.concatenate([e.vectors for e in base]) if base else np.zeros((0, self.cfg.in_dim), np.float32)
        with torch.no_grad():
            y = self.head(torch.from_numpy(x)).numpy().astype(np.float32)
        return [ImageEmbedding(row[None]) for row in y]


def make(arg: str | None = None, device: str | None = None, **kw) -> NearIDEncoder:
    """nearid:<dir>: a trained NearID identity head on its backbone (idbench nearid train)"""
    if not arg:
        raise ValueError("nearid needs a head folder: nearid:<dir>")
    return NearIDEncoder(arg, device=device)
