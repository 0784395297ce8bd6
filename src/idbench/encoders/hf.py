"""``hf:<model id or local dir>``: transformers image (and text) encoders, loaded by their own loaders.

Families, by ``config.model_type``: CLIP, SigLIP / SigLIP2 (image + text towers:
``get_image_features`` / ``get_text_features``), DINO (ViT) and DINOv2 (image only: the CLS token of
``last_hidden_state``, after the final norm, by default; ``pooling="mean"`` for mean-pooled patch
tokens; never the untrained pooler head). A local directory loads with ``local_files_only=True``;
a hub id downloads unless ``HF_HUB_OFFLINE=1``.

Preprocessing: the repo's own image processor by default. A torchvision pipeline instead, as
benchmark code often uses, is given after ``#``::

    hf:facebook/dino-vits8#resize=256,crop=224,interp=bicubic,norm=imagenet

(``torchvision.transforms``: ``Resize(resize, interp)`` of the shorter side, ``CenterCrop(crop)``,
``ToTensor``, ``Normalize`` with ImageNet's or CLIP's mean and std; ``pool=mean`` sets the pooling).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from idbench.encoders import hub_kwargs, hub_loading, pick_device
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


NORMS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
         "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))}


def parse_spec(arg: str) -> tuple[str, dict[str, str]]:
    """``"id#k=v,k=v"`` -> ``("id", {k: v})``.

    >>> parse_spec("facebook/dino-vits8#resize=256,crop=224")
    ('facebook/dino-vits8', {'resize': '256', 'crop': '224'})
    """
    model_id, _, frag = arg.partition("#")
    opts = {}
    for part in filter(None, frag.split(",")):
        k, eq, v = part.partition("=")
        if not eq or k.strip() not in ("resize", "crop", "interp", "norm", "pool", "pos_interp"):
            raise ValueError(f"hf: unknown preprocessing option {part!r}; known: resize=N, crop=N, "
                             "interp=bicubic|bilinear|nearest, norm=imagenet|clip, pool=cls|mean, "
                             "pos_interp=size|scale_factor")
        opts[k.strip()] = v.strip()
    return model_id, opts


def scale_factor_pos_encoding(embeddings_module):
    """A DINOv2 ``interpolate_pos_encoding`` by the rule of transformers before 4.42 (DreamBench++ pins
    4.35.2): the patch grid's target size plus 0.1, turned into a ``scale_factor`` of the stored grid
    for a bicubic ``interpolate`` (align_corners False, in float32). transformers 5 passes the target
    ``size`` instead; the two differ slightly (the 0.1 shifts the sampling positions). Returns the
    function to bind in place of the module's own."""
    import math

    def interpolate(embeddings: torch.Tensor, height: int, width: int) -> torch.Tensor:
        pos = embeddings_module.position_embeddings
        n_patches, n_pos = embeddings.shape[1] - 1, pos.shape[1] - 1
        if n_patches == n_pos and height == width:
            return pos
        ph, pw = embeddings_module.patch_embeddings.patch_size if isinstance(
            embeddings_module.patch_embeddings.patch_size, (tuple, list)) else (embeddings_module.patch_embeddings.patch_size,) * 2
        h, w = height // ph + 0.1, width // pw + 0.1
        side = math.sqrt(n_pos)
        grid = pos[:, 1:].reshape(1, int(side), int(side), pos.shape[-1]).permute(0, 3, 1, 2)
        out = torch.nn.functional.interpolate(grid.to(torch.float32), scale_factor=(float(h / side), float(w / side)),
                                              mode="bicubic", align_corners=False).to(pos.dtype)
        if int(h) != out.shape[-2] or int(w) != out.shape[-1]:
            raise ValueError("DINOv2 position grid: the interpolated size does not match the image's patch grid")
        return torch.cat((pos[:, :1], out.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])), dim=1)

    return interpolate


def torchvision_pipeline(opts: dict[str, str]):
    """The torchvision transform an ``hf:<id>#...`` spec names (see the module docstring)."""
    from torchvision import transforms as T

    interp = T.InterpolationMode[opts.get("interp", "bicubic").upper()]
    steps = []
    if "resize" in opts:
        steps.append(T.Resize(int(opts["resize"]), interpolation=interp))
    if "crop" in opts:
        steps.append(T.CenterCrop(int(opts["crop"])))
    mean, std = NORMS[opts.get("norm", "imagenet")]
    return T.Compose(steps + [T.ToTensor(), T.Normalize(mean, std)])


class HFEncoder(Encoder):
    kind = "image"
    preprocess_version = "hf-processor-1"

    def __init__(self, model_id: str, device: str | None = None, pooling: str = "cls") -> None:
        from transformers import AutoConfig, AutoImageProcessor, AutoModel

        model_id, self.opts = parse_spec(model_id)
        pooling = self.opts.get("pool", pooling)
        self.pipeline = None
        if any(k in self.opts for k in ("resize", "crop", "interp", "norm")):
            if "norm" in self.opts and self.opts["norm"] not in NORMS:
                raise ValueError(f"hf: norm must be one of {', '.join(NORMS)}, got {self.opts['norm']!r}")
            self.pipeline = torchvision_pipeline(self.opts)
            self.preprocess_version = "tv-" + "-".join(f"{k}{v}" for k, v in sorted(self.opts.items()))

        kw = hub_kwargs(model_id)
        with hub_loading(model_id, "hf:/path/to/model-folder"):
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
        pos_interp = self.opts.get("pos_interp", "size")
        if pos_interp not in ("size", "scale_factor"):
            raise ValueError(f"hf: pos_interp must be size (transformers 5) or scale_factor (transformers < 4.42), "
                             f"got {pos_interp!r}")
        if pos_interp == "scale_factor":
            emb = getattr(self.model, "embeddings", None)
            if self.family != "dinov2" or emb is None:
                raise ValueError(f"hf: pos_interp applies to DINOv2 models, not {self.family}")
            emb.interpolate_pos_encoding = scale_factor_pos_encoding(emb)
            self.preprocess_version += "-posSF"
        frag = ",".join(f"{k}={v}" for k, v in self.opts.items())
        self.name = f"hf:{model_id}" + (f"#{frag}" if frag else "")
        with torch.no_grad():
            probe = self._image_features(torch.zeros(1, 3, *self._size()))
        self.dim = int(probe.shape[-1])
        cfg = json.dumps(self.config.to_dict(), sort_keys=True, default=str)
        first = next(iter(self.model.state_dict().values()))
        self._id = hashlib.sha256((cfg + str(first.flatten()[:64].tolist())).encode()).hexdigest()[:12]

    @property
    def cache_id(self) -> str:
        return f"{self.name}@{self._id}@{self.pooling}@pp{self.preprocess_version}"

    @property
    def has_text(self) -> bool:
        """Only CLIP-like families have a text tower (DINO / DINOv2 never score prompts)."""
        return self.tokenizer is not None

    def _size(self) -> tuple[int, int]:
        if self.pipeline is not None and "crop" in self.opts:
            return (int(self.opts["crop"]),) * 2
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
        if self.pipeline is not None:
            return self.pipeline(image).numpy()
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
