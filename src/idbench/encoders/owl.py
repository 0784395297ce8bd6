"""The open-vocabulary detector behind GOA (OWL-ViT / OWLv2 through transformers): a model loader,
so it lives with the encoders; the metric itself (:mod:`idbench.metrics.grounding`) stays pure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from idbench.metrics.grounding import goa_from_scores, goa_top_label


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

    def goa(self, image, objects: Sequence[str], rule: str = "any_box") -> float:
        """``rule``: ``"any_box"`` (each object's max over every box) or ``"top_label"`` (Stellar's code:
        a box counts only for its top object, :func:`goa_top_label`)."""
        scores = self.object_scores(image, objects)
        if rule == "top_label":
            return goa_top_label(np.stack(scores, axis=1)) if scores else float("nan")
        return goa_from_scores(scores)
