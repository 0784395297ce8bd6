"""Text-side metrics for CLIP-like encoders: CLIP-T, clip_n, and Stellar's prompt-following gate.

* ``clip_t`` = cos(text(prompt'), image(generated)), where prompt' is the prompt with the subject
  placeholder replaced: ``{}`` becomes the class noun, and identifier tokens such as ``sks`` are
  dropped ("a photo of sks dog" -> "a photo of dog"), so the text describes the scene, not a
  token the text tower never learnt.
* ``clip_n`` = cos(text(prompt'), image(reference)) for each of the subject's references.
* Gate: a generated image follows its prompt when ``clip_t > mean(clip_n) + k * std(clip_n)``
  (k = 2 as published), mean and std over the subject's references for that prompt. The gate can
  flag images (default) or filter them out of identity metrics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

DEFAULT_IDENTIFIERS = ("sks", "<sks>", "[v]", "<v>")


def fill_prompt(prompt: str, class_noun: str, identifiers: Sequence[str] = DEFAULT_IDENTIFIERS) -> str:
    """Replace the placeholder by the class noun and drop identifier tokens.

    >>> fill_prompt("a photo of sks dog on the beach", "dog")
    'a photo of dog on the beach'
    >>> fill_prompt("a {} wearing a hat", "cat")
    'a cat wearing a hat'
    """
    text = prompt.replace("{}", class_noun)
    for tok in identifiers:
        text = re.sub(rf"(?<!\w){re.escape(tok)}(?!\w)\s*", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip()


def clip_t(text_emb: np.ndarray, image_emb: np.ndarray) -> np.ndarray:
    """Row-wise cosine of L2-normalised text and image embeddings, (N,)."""
    t = np.asarray(text_emb, np.float64)
    i = np.asarray(image_emb, np.float64)
    if t.shape != i.shape:
        raise ValueError(f"text {t.shape} and image {i.shape} embeddings must match row for row")
    return np.einsum("nd,nd->n", t, i)


def prompt_gate(clip_t_value: float, clip_n_values: Sequence[float], k: float = 2.0) -> bool:
    """True when ``clip_t > mean(clip_n) + k * std(clip_n)`` (population std over the references).

    >>> prompt_gate(0.30, [0.20, 0.22, 0.24])
    True
    """
    n = np.asarray(clip_n_values, np.float64)
    if n.size == 0:
        raise ValueError("clip_n needs at least one reference")
    return bool(clip_t_value > n.mean() + k * n.std())
