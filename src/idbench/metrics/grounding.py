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


def goa_top_label(probs: np.ndarray) -> float:
    """GOA as Stellar's ``object_faithfulness.py`` computes it from the detector's (boxes x objects)
    sigmoid scores: each box counts only for its top object (``post_process_object_detection``: its
    label is the argmax, its score the max); an object scores the max over the boxes labelled with it
    (0 if none); GOA is the mean over objects.

    >>> goa_top_label(np.array([[0.9, 0.8], [0.2, 0.3]]))   # box 0 is labelled 0, box 1 labelled 1
    0.6
    """
    p = np.atleast_2d(np.asarray(probs, np.float64))
    n_obj = p.shape[1]
    if n_obj == 0:
        return float("nan")
    if p.shape[0] == 0:
        return 0.0
    label, score = p.argmax(axis=1), p.max(axis=1)
    per = [float(score[label == j].max()) if (label == j).any() else 0.0 for j in range(n_obj)]
    return float(np.mean(per))


def goa_from_scores(scores_per_object: Sequence[np.ndarray]) -> float:
    """Mean over objects of the max score over boxes (an object with no box scores 0)."""
    if not scores_per_object:
        return float("nan")
    return float(np.mean([float(np.max(s)) if len(s) else 0.0 for s in scores_per_object]))
