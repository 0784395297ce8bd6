"""RFS approximation: relation fidelity scored by a CLIP-like encoder (not the published metric).

Stellar's RFS (how faithfully "who does what to what" is depicted) has no public code. idbench
approximates it for prompts with a relation triple (subject, relation, object): the image is
scored against the prompt with the true relation and with the relation swapped for contrast
relations; RFS is the softmax probability of the true relation:

    RFS = exp(s * cos(img, t_true)) / sum_r exp(s * cos(img, t_r)),   s = logit scale (100, CLIP's)

0.5 means "no better than one contrast relation"; chance level is 1 / (1 + #contrasts). CLIP-like
text towers are weak at relations, so read it as a coarse signal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_CONTRASTS = ("on", "under", "next to", "behind", "in front of", "holding")


def relation_prompts(template: str, subject: str, relation: str, obj: str,
                     contrasts: Sequence[str] = DEFAULT_CONTRASTS) -> list[str]:
    """The true prompt first, then one per contrast relation (the true one excluded).

    >>> relation_prompts("a photo of {s} {r} {o}", "a dog", "on", "a sofa", ["on", "under"])
    ['a photo of a dog on a sofa', 'a photo of a dog under a sofa']
    """
    rels = [relation] + [c for c in contrasts if c != relation]
    return [template.format(s=subject, r=r, o=obj) for r in rels]


def relation_fidelity(image_emb: np.ndarray, text_embs: np.ndarray, logit_scale: float = 100.0) -> float:
    """Softmax probability of the first (true) text among ``text_embs`` for one image."""
    sims = np.asarray(text_embs, np.float64) @ np.asarray(image_emb, np.float64)
    z = logit_scale * sims
    z -= z.max()
    p = np.exp(z) / np.exp(z).sum()
    return float(p[0])


def rfs_for_images(image_embs: np.ndarray, triples: Sequence[tuple[str, str, str]], embed_text: Callable,
                   template: str = "a photo of {s} {r} {o}", contrasts: Sequence[str] = DEFAULT_CONTRASTS) -> np.ndarray:
    out = []
    for img, (s, r, o) in zip(image_embs, triples):
        out.append(relation_fidelity(img, embed_text(relation_prompts(template, s, r, o, contrasts))))
    return np.array(out)
