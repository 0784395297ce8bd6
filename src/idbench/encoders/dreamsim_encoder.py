"""``dreamsim[:ensemble|dino_vitb16|open_clip_vitb32|clip_vitb32|dinov2_vitb14|...]``: DreamSim (Fu et
al., 2023), the ``dreamsim`` package's own model and preprocessing (``dreamsim(pretrained=True)``:
resize to 224 x 224, bicubic; the LoRA-tuned backbones; the mean-centred, L2-normalised embedding).

It is an image encoder: DreamSim's distance between two images is ``1 - cos`` of these embeddings
(``PerceptualModel.forward``), so the similarity protocol's column ``dreamsim[<spec>]`` is the mean
over the subject's references of ``1 - DreamSim distance`` (higher = closer), with the same
leave-one-out for copies, baselines and intervals as CLIP-I or DINO. Stellar reports the distance.

Weights download into ``<torch hub dir>/dreamsim`` on first use, or are read from the folder given
after ``#``: ``dreamsim:ensemble#cache_dir=<folder with the unzipped checkpoints>``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from idbench.encoders import pick_device
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize
from idbench.encoders.scorer import spec_options, weights_digest


class DreamSimEncoder(Encoder):
    kind = "image"
    similarity_metric = "dreamsim"
    preprocess_version = "dreamsim-224-bicubic-1"

    def __init__(self, dreamsim_type: str = "ensemble", cache_dir: str | None = None, device: str | None = None):
        from dreamsim import dreamsim

        self.device = pick_device(device)
        cache_dir = Path(cache_dir or Path(torch.hub.get_dir()) / "dreamsim")
        cache_dir.mkdir(parents=True, exist_ok=True)  # dreamsim makes only the last folder of the path
        try:
            self.model, self._preprocess = dreamsim(pretrained=True, device=self.device, cache_dir=str(cache_dir),
                                                    dreamsim_type=dreamsim_type)
        except OSError as e:  # no network, and the checkpoints are not in the folder yet
            raise ValueError(f"dreamsim: the {dreamsim_type} checkpoints are not in {cache_dir} and cannot be downloaded "
                             f"({e}); unzip them there, or give their folder: dreamsim:{dreamsim_type}#cache_dir=<folder>") from None
        self.name = "dreamsim" + ("" if dreamsim_type == "ensemble" else f":{dreamsim_type}")
        self._id = weights_digest(self.model.state_dict())
        with torch.inference_mode():
            self.dim = int(self.model.embed(torch.zeros(1, 3, 224, 224, device=self.device)).shape[-1])

    @property
    def cache_id(self) -> str:
        return f"{self.name}@{self._id}@pp{self.preprocess_version}"

    def preprocess(self, image):
        return self._preprocess(image)[0].numpy()

    def embed_batch(self, items):
        if not items:
            return []
        import numpy as np

        with torch.inference_mode():
            e = self.model.embed(torch.from_numpy(np.stack(items)).to(self.device)).float().cpu().numpy()
        return [ImageEmbedding(row[None]) for row in l2_normalize(e.reshape(len(items), -1))]


def make(arg: str | None = None, device: str | None = None, **kw) -> DreamSimEncoder:
    """dreamsim[:<type>][#cache_dir=<dir>]: DreamSim embeddings (1 - DreamSim distance to references)"""
    kind, opts = spec_options(arg, ("cache_dir",))
    return DreamSimEncoder(kind or "ensemble", opts.get("cache_dir"), device=device)
