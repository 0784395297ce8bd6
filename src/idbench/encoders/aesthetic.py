"""``aesthetic[:<predictor .pth>]``: the LAION aesthetic predictor (christophschuhmann/
improved-aesthetic-predictor, ``sac+logos+ava1-l14-linearMSE.pth``): an MLP on the L2-normalised
OpenAI CLIP ViT-L/14 image embedding, predicting the 1-10 rating, as its ``simple_inference.py``::

    image_features = clip_model.encode_image(preprocess(image))
    score = mlp(image_features / ||image_features||)

The MLP weights download from the predictor's repository unless a file is given; the CLIP model is
open_clip's ``ViT-L-14`` with OpenAI's weights, or an OpenAI-format state dict given after ``#``:
``aesthetic:<.pth>#clip=<ViT-L-14 state dict .pt>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from idbench.encoders import pick_device
from idbench.encoders.hps import OpenClipScorer, _state_dict, openai_clip
from idbench.encoders.scorer import spec_options, weights_digest
from idbench.weights import check_keys, load_into, load_state_dict

_WHAT = "the LAION aesthetic predictor's MLP (sac+logos+ava1-l14-linearMSE.pth)"

PREDICTOR_URL = ("https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/"
                 "sac%2Blogos%2Bava1-l14-linearMSE.pth")


class AestheticMLP(nn.Module):
    """The predictor's MLP (its ``MLP`` class: the layers and their state-dict names; dropout is off at
    evaluation)."""

    def __init__(self, input_size: int = 768) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_size, 1024), nn.Dropout(0.2), nn.Linear(1024, 128),
                                    nn.Dropout(0.2), nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16),
                                    nn.Linear(16, 1))

    def forward(self, x):
        return self.layers(x)


class AestheticScore(OpenClipScorer):
    metric = "aesthetic"
    needs_prompt = False
    preprocess_version = "clip-val-1"

    def __init__(self, predictor: str | None = None, clip: str | None = None, device: str | None = None) -> None:
        self.device = pick_device(device)
        if predictor:
            if not Path(predictor).is_file():
                raise ValueError(f"aesthetic: no predictor file {predictor!r}")
            mlp_state = load_state_dict(predictor, what=_WHAT)
        else:
            from idbench.cache.store import default_cache_dir
            from idbench.net import download

            path = download(PREDICTOR_URL, default_cache_dir() / "downloads" / "sac+logos+ava1-l14-linearMSE.pth",
                            what="aesthetic: the predictor's weights",
                            local_hint="give the file: aesthetic:/path/to/sac+logos+ava1-l14-linearMSE.pth")
            mlp_state = load_state_dict(path, what=_WHAT)
        src = predictor or PREDICTOR_URL
        check_keys(mlp_state, src, what=_WHAT, required=("layers.0.weight",))
        self.mlp = AestheticMLP(int(mlp_state["layers.0.weight"].shape[1]))
        load_into(self.mlp, mlp_state, src, what=_WHAT)
        self.mlp = self.mlp.to(self.device).eval()
        if clip:
            what = "an OpenAI-format CLIP ViT-L/14 state dict"
            clip_state = _state_dict(clip, what=what)
            model, self.transform = openai_clip(clip_state, clip, what=what)
        else:
            import open_clip

            from idbench.net import hub_offline

            hub_offline()  # open_clip fetches the OpenAI weights from the hub: bounded, or offline after the probe
            try:
                model, _, self.transform = open_clip.create_model_and_transforms("ViT-L-14", pretrained="openai")
            except (OSError, RuntimeError) as e:
                raise ValueError(f"aesthetic: open_clip's ViT-L-14 'openai' weights are not in the local hub cache and "
                                 f"cannot be downloaded ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__}); "
                                 "give an OpenAI-format state dict: aesthetic:<predictor .pth>#clip=/path/to/ViT-L-14.pt") from None
            model = model.float()
            clip_state = model.state_dict()
        self.model = model.to(self.device).eval()
        self.name = "aesthetic" + (f":{predictor}" if predictor else "") + (f"#clip={clip}" if clip else "")
        self._id = weights_digest(mlp_state) + weights_digest(clip_state)

    def score_batch(self, items, prompts):
        with torch.inference_mode():
            f = self.model.encode_image(torch.from_numpy(np.stack(items)).to(self.device)).float()
            f = f / f.norm(dim=-1, keepdim=True)
            return self.mlp(f).reshape(-1).float().cpu().numpy()


def make(arg: str | None = None, device: str | None = None, **kw) -> AestheticScore:
    """aesthetic[:<predictor .pth>][#clip=<state dict>]: LAION aesthetic predictor (MLP on CLIP ViT-L/14)"""
    predictor, opts = spec_options(arg, ("clip",))
    return AestheticScore(predictor, opts.get("clip"), device=device)
