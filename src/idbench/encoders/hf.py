"""``hf:<model id or local dir>``: transformers image (and text) encoders, loaded by their own loaders.

Families, by ``config.model_type``: CLIP, SigLIP / SigLIP2 (image + text towers:
``get_image_features`` / ``get_text_features``), DINOv2 (image only: the CLS token by default,
``pooling="mean"`` for mean-pooled patch tokens). A local directory loads with
``local_files_only=True``; a hub id downloads unless ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from idbench.encoders import pick_device
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize

TEXT_FAMILIES = {"clip", "siglip", "siglip2"}


def _features(out) -> torch.Tensor:
    """transformers >= 5 may return a model output instead of a tensor from get_*_features."""
    if isinstance(out, torch.Tensor):
        return out
    for attr in ("pooler_output", "image_embeds", "text_embeds"):
        v = getattr(out, attr, None)
        if isinstance(v, torch.Tensor):
            return v
    raise TypeError(f"unexpected feature output {type(out).__name__}")


class HFEncoder(Encoder):
    kind = "image"
    preprocess_version = "hf-processor-1"

    def __init__(self, model_id: str, device: str | None = None, pooling: str = "cls") -> None:
        from transformers import AutoConfig, AutoImageProcessor, AutoModel

        local = Path(model_id).is_dir()
        kw = {"local_files_only": True} if local or os.environ.get("HF_HUB_OFFLINE") == "1" else {}
        self.config = AutoConfig.from_pretrained(model_id, **kw)
        self.family = self.config.model_type
        self.device = pick_device(device)
        self.model = AutoModel.from_pretrained(model_id, **kw).to(self.device).eval()
        self.processor = AutoImageProcessor.from_pretrained(model_id, use_fast=False, **kw)
        self.tokenizer = None
        if self.family in TEXT_FAMILIES:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(model_id, **kw)
        self.pooling = pooling
        self.name = f"hf:{model_id}"
        with torch.no_grad():
            probe = self._image_features(torch.zeros(1, 3, *self._size()))
        self.dim = int(probe.shape[-1])
        cfg = json.dumps(self.config.to_dict(), sort_keys=True, default=str)
        first = next(iter(self.model.state_dict().values()))
        self._id = hashlib.sha256((cfg + str(first.flatten()[:64].tolist())).encode()).hexdigest()[:12]

    @property
    def cache_id(self) -> str:
        return f"{self.name}@{self._id}@{self.pooling}@pp{self.preprocess_version}"

    def _size(self) -> tuple[int, int]:
        vc = getattr(self.config, "vision_config", self.config)
        s = getattr(vc, "image_size", 224)
        return (s, s) if isinstance(s, int) else tuple(s)

    def _image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.family in TEXT_FAMILIES:
            return _features(self.model.get_image_features(pixel_values=pixel_values))
        out = self.model(pixel_values=pixel_values)
        h = out.last_hidden_state
        return h[:, 1:].mean(dim=1) if self.pooling == "mean" else h[:, 0]

    def preprocess(self, image):
        return self.processor(images=image, return_tensors="np")["pixel_values"][0]

    def embed_batch(self, items):
        if not items:
            return []
        x = torch.from_numpy(np.stack(items)).to(self.device)
        with torch.inference_mode():
            f = self._image_features(x).float().cpu().numpy()
        return [ImageEmbedding(row[None]) for row in l2_normalize(f)]

    def embed_text(self, texts):
        if self.tokenizer is None:
            raise NotImplementedError(f"{self.name} ({self.family}) has no text tower")
        padding = "max_length" if self.family.startswith("siglip") else True
        tok = self.tokenizer(list(texts), padding=padding, truncation=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            f = _features(self.model.get_text_features(**tok)).float().cpu().numpy()
        return l2_normalize(f)


def make(arg: str | None = None, device: str | None = None, **kw) -> HFEncoder:
    """hf:<model id or dir>: transformers CLIP / SigLIP / SigLIP2 (image + text), DINO / DINOv2 (image only)"""
    if not arg:
        raise ValueError("hf needs a model id or folder: hf:<id or dir>")
    return HFEncoder(arg, device=device, **kw)
