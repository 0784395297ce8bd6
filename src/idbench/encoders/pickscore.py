"""``pickscore[:<model id or dir>]``: PickScore (Kirstain et al., 2023), a CLIP-H/14 fine-tuned on
Pick-a-Pic preferences, loaded through transformers exactly as its authors' README does::

    processor = AutoProcessor.from_pretrained("laion/CLIP-ViT-H-14-laion2B-s32B-b79K")
    model = AutoModel.from_pretrained("yuvalkirstain/PickScore_v1")
    score = model.logit_scale.exp() * cos(text embedding, image embedding)

The processor repo is given after ``#``: ``pickscore:yuvalkirstain/PickScore_v1#processor=<id or dir>``;
``#scale=cosine`` reports the plain cosine instead, as Stellar's ``pick_score.py`` does
(``pickscore:yuvalkirstain/PickScore_v1#scale=cosine``).
"""

from __future__ import annotations

import numpy as np
import torch

from idbench.encoders import hub_kwargs, hub_loading, pick_device
from idbench.encoders.hf import _features
from idbench.encoders.scorer import Scorer, prompt_cosines, spec_options, weights_digest

MODEL, PROCESSOR = "yuvalkirstain/PickScore_v1", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


class PickScore(Scorer):
    metric = "pickscore"
    preprocess_version = "clip-processor-1"

    def __init__(self, model_id: str = MODEL, processor_id: str = PROCESSOR, device: str | None = None,
                 scale: str = "logit") -> None:
        if scale not in ("logit", "cosine"):
            raise ValueError(f"pickscore: scale must be logit (the authors' README) or cosine (Stellar), got {scale!r}")
        self.scale = scale
        from transformers import AutoModel, AutoProcessor

        self.device = pick_device(device)
        with hub_loading(model_id, "pickscore:/path/to/PickScore_v1#processor=/path/to/CLIP-ViT-H-14"):
            self.model = AutoModel.from_pretrained(model_id, **hub_kwargs(model_id)).to(self.device).eval()
        with hub_loading(processor_id, "pickscore:<model>#processor=/path/to/CLIP-ViT-H-14-processor-folder"):
            self.processor = AutoProcessor.from_pretrained(processor_id, **hub_kwargs(processor_id))
        opts = ",".join(x for x in ("" if processor_id == PROCESSOR else f"processor={processor_id}",
                                    "" if scale == "logit" else f"scale={scale}") if x)
        self.name = "pickscore" + ("" if (model_id, opts) == (MODEL, "") else f":{model_id}" + (f"#{opts}" if opts else ""))
        self._id = weights_digest(self.model.state_dict())

    def preprocess(self, image):
        return self.processor(images=image, return_tensors="np")["pixel_values"][0]

    def score_batch(self, items, prompts):
        uniq = sorted(set(prompts))
        with torch.inference_mode():
            img = _features(self.model.get_image_features(
                pixel_values=torch.from_numpy(np.stack(items)).to(self.device)))
            tok = self.processor(text=uniq, padding=True, truncation=True, max_length=77, return_tensors="pt")
            txt = _features(self.model.get_text_features(input_ids=tok["input_ids"].to(self.device),
                                                         attention_mask=tok["attention_mask"].to(self.device)))
            cos = prompt_cosines(img, txt, uniq, prompts)
            return (cos if self.scale == "cosine" else self.model.logit_scale.exp() * cos).float().cpu().numpy()


def make(arg: str | None = None, device: str | None = None, **kw) -> PickScore:
    """pickscore[:<model id or dir>][#processor=<id or dir>,scale=logit|cosine]: PickScore (prompt-image preference)"""
    model_id, opts = spec_options(arg, ("processor", "scale"))
    return PickScore(model_id or MODEL, opts.get("processor", PROCESSOR), device=device, scale=opts.get("scale", "logit"))
