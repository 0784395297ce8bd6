"""``dreamsim[:ensemble|dino_vitb16|open_clip_vitb32|clip_vitb32|dinov2_vitb14|...]``: DreamSim (Fu et
al., 2023), the ``dreamsim`` package's own model and preprocessing (``dreamsim(pretrained=True)``:
resize to 224 x 224, bicubic; the LoRA-tuned backbones; the mean-centred, L2-normalised embedding).

It is an image encoder: DreamSim's distance between two images is ``1 - cos`` of these embeddings
(``PerceptualModel.forward``), so the similarity protocol's column ``dreamsim[<spec>]`` is the mean
over the subject's references of ``1 - DreamSim distance`` (higher = closer), with the same
leave-one-out for copies, baselines and intervals as CLIP-I or DINO. Stellar reports the distance.

Weights download into idbench's cache (``<cache>/dreamsim/<type>``, with a time limit) on first use,
or are read from the folder given after ``#``: ``dreamsim:ensemble#cache_dir=<folder with the
unzipped checkpoints>`` (its checkpoints are linked into idbench's folder; code in it is never run).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from idbench.encoders import pick_device
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize
from idbench.encoders.scorer import spec_options, weights_digest


def _link_checkpoints(src: Path, work: Path) -> None:
    """The checkpoints of a user's folder, linked into idbench's own working folder for dreamsim. Only
    checkpoint files and LoRA folders are linked: dreamsim points torch hub at its folder, and torch hub
    runs the ``hubconf.py`` of a repository folder it finds there, so a received folder's code folders
    are never offered to it (torch hub fetches its own copy into idbench's folder)."""
    if not src.is_dir():
        raise ValueError(f"dreamsim: cache_dir {str(src)!r} is not a folder")
    for entry in src.iterdir():
        code = entry.is_dir() and any(entry.rglob("*.py"))  # a repository torch hub would import (hubconf.py)
        if code or entry.name in ("trusted_list", "pretrained.zip") or entry.name.startswith("."):
            continue
        link = work / entry.name
        if link.is_symlink() or link.exists():
            if link.is_symlink() and link.resolve() == entry.resolve():
                continue
            if link.is_symlink() or link.is_file():
                link.unlink()
            else:
                continue
        link.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())


class DreamSimEncoder(Encoder):
    kind = "image"
    similarity_metric = "dreamsim"
    preprocess_version = "dreamsim-224-bicubic-1"

    def __init__(self, dreamsim_type: str = "ensemble", cache_dir: str | None = None, device: str | None = None):
        from dreamsim import dreamsim

        from idbench.cache.store import default_cache_dir
        from idbench.net import bounded_sockets

        self.device = pick_device(device)
        work = default_cache_dir() / "dreamsim" / dreamsim_type
        work.mkdir(parents=True, exist_ok=True)  # dreamsim makes only the last folder of the path
        if cache_dir:
            _link_checkpoints(Path(cache_dir), work)
        hub_dir = torch.hub.get_dir()  # dreamsim sets torch hub's folder to its cache folder: put it back after
        try:
            with bounded_sockets():
                self.model, self._preprocess = dreamsim(pretrained=True, device=self.device, cache_dir=str(work),
                                                        dreamsim_type=dreamsim_type)
        except (OSError, RuntimeError, zipfile.BadZipFile) as e:  # no network, and the checkpoints are not here yet
            for part in work.glob("pretrained.zip*"):  # a download cut short is not left behind
                part.unlink(missing_ok=True)
            raise ValueError(f"dreamsim: the {dreamsim_type} checkpoints are not in {cache_dir or work} and cannot be "
                             f"downloaded ({str(e)[:160]}); give the folder with the unzipped checkpoints: "
                             f"dreamsim:{dreamsim_type}#cache_dir=<folder>") from None
        finally:
            torch.hub.set_dir(hub_dir)
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
