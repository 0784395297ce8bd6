"""GOA (grounding object accuracy, Stellar): does the image contain the objects the prompt names?

An open-vocabulary detector (OWL-ViT / OWLv2 through transformers) scores each named object; per
image, GOA = mean over objects of the max detection score (sigmoid of the detector's logits) over
all predicted boxes. Objects come from a ``detectables`` list per prompt, or from the prompt by
:func:`parse_objects` (nouns after "with", "and", "holding", "on", "next to", ...; documented, crude).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

_SPLIT = r"\b(?:with|and|holding|on|next to|beside|near|in front of|behind|under|wearing)\b"


def parse_objects(prompt: str) -> list[str]:
    """Phrases after relation words, articles stripped.

    >>> parse_objects("a photo of sks dog holding a red ball next to a tree")
    ['red ball', 'tree']
    """
    parts = re.split(_SPLIT, prompt, flags=re.IGNORECASE)[1:]
    out = []
    for p in parts:
        p = re.sub(r"^\s*(a|an|the|some)\s+", "", p.strip(), flags=re.IGNORECASE).strip(" ,.")
        if p:
            out.append(p)
    return out


def goa_from_scores(scores_per_object: Sequence[np.ndarray]) -> float:
    """Mean over objects of the max score over boxes (an object with no box scores 0)."""
    if not scores_per_object:
        return float("nan")
    return float(np.mean([float(np.max(s)) if len(s) else 0.0 for s in scores_per_object]))


class OwlDetector:
    """OWL-ViT / OWLv2 through transformers, loaded like a user's model id (or a local folder)."""

    def __init__(self, model_id: str, device: str | None = None) -> None:
        from transformers import AutoConfig, AutoProcessor

        from idbench.encoders import hub_kwargs, hub_loading

        kw = hub_kwargs(model_id)
        with hub_loading(model_id, "goa_detector = \"/path/to/owlvit-folder\""):
            cfg = AutoConfig.from_pretrained(model_id, **kw)
            if cfg.model_type == "owlv2":
                from transformers import Owlv2ForObjectDetection as Model
            else:
                from transformers import OwlViTForObjectDetection as Model
            self.model = Model.from_pretrained(model_id, **kw).eval()
            self.processor = AutoProcessor.from_pretrained(model_id, **kw)
        self.device = device or "cpu"
        self.model.to(self.device)

    def object_scores(self, image, objects: Sequence[str]) -> list[np.ndarray]:
        """Per object, the sigmoid scores of all predicted boxes."""
        if not objects:
            return []
        inputs = self.processor(text=[list(objects)], images=image, return_tensors="pt", padding=True,
                                truncation=True).to(self.device)
        with torch.inference_mode():
            out = self.model(**inputs)
        probs = torch.sigmoid(out.logits[0]).cpu().numpy()  # (n_boxes, n_objects)
        return [probs[:, j] for j in range(len(objects))]

    def goa(self, image, objects: Sequence[str]) -> float:
        return goa_from_scores(self.object_scores(image, objects))
