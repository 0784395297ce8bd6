"""``timm:<name or local dir>``: any timm image model as a pooled-feature encoder.

A hub name is created with ``timm.create_model(name, pretrained=True, num_classes=0)`` (downloads
unless cached); a local dir holds ``config.json`` (``{"architecture": ..., "model_args": {...}}``
as timm's ``save_pretrained`` style) and ``model.safetensors``. Preprocessing follows the model's
data config (resize, centre crop, mean / std).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from idbench.encoders import pick_device
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize


class TimmEncoder(Encoder):
    kind = "image"
    preprocess_version = "timm-dataconfig-1"

    def __init__(self, name: str, device: str | None = None) -> None:
        import timm
        from safetensors.torch import load_file

        p = Path(name)
        if p.is_dir():
            cfg = json.loads((p / "config.json").read_text())
            model = timm.create_model(cfg["architecture"], pretrained=False, num_classes=0, **cfg.get("model_args", {}))
            state = load_file(str(p / "model.safetensors"))
            state = {k: v for k, v in state.items() if not k.startswith(("head.fc.", "fc.", "classifier."))}
            model.load_state_dict(state, strict=True)
            ident = hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()[:12]
        else:
            model = timm.create_model(name, pretrained=True, num_classes=0)
            ident = name
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        dc = timm.data.resolve_data_config({}, model=self.model)
        self.input_size = tuple(dc["input_size"][1:])
        self.crop_pct = float(dc.get("crop_pct", 0.875))
        self.mean = np.array(dc["mean"], np.float32)[:, None, None]
        self.std = np.array(dc["std"], np.float32)[:, None, None]
        self.interp = Image.BICUBIC if dc.get("interpolation", "bicubic") == "bicubic" else Image.BILINEAR
        self.name = f"timm:{name}"
        self.dim = int(self.model.num_features)
        self._id = ident

    @property
    def cache_id(self) -> str:
        return f"{self.name}@{self._id}@pp{self.preprocess_version}"

    def preprocess(self, image):
        h, w = self.input_size
        scale = int(round(min(h, w) / self.crop_pct))
        iw, ih = image.size
        r = scale / min(iw, ih)
        im = image.resize((max(w, round(iw * r)), max(h, round(ih * r))), self.interp)
        left, top = (im.size[0] - w) // 2, (im.size[1] - h) // 2
        arr = np.asarray(im.crop((left, top, left + w, top + h)), np.float32).transpose(2, 0, 1) / 255.0
        return (arr - self.mean) / self.std

    def embed_batch(self, items):
        if not items:
            return []
        with torch.inference_mode():
            f = self.model(torch.from_numpy(np.stack(items)).to(self.device)).float().cpu().numpy()
        return [ImageEmbedding(row[None]) for row in l2_normalize(f)]


def make(arg: str | None = None, device: str | None = None, **kw) -> TimmEncoder:
    """timm:<name or dir>: any timm image model (pooled features)"""
    if not arg:
        raise ValueError("timm needs a model name or folder: timm:<name or dir>")
    return TimmEncoder(arg, device=device)
