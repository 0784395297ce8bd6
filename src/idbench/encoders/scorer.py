"""Learned scorers: models that give one number per generated image (with its prompt) instead of an
embedding -- PickScore, HPSv1, HPSv2, ImageReward and the LAION aesthetic predictor.

They are created from a spec through the same registry as encoders (``-e pickscore``, ``-e hpsv2``,
``encoders = ["imagereward"]`` in a study file, a preset's encoder list) and have ``kind = "score"``:
the similarity protocol writes their per-image column ``<metric>[<spec>]`` (``pickscore[pickscore]``),
the other protocols, which need an embedding backbone, pass them over.

A scorer implements two steps, like an encoder, so that decoding overlaps the forward pass:

* :meth:`Scorer.preprocess` -- one ``PIL.Image`` (RGB) to the model's input (thread-safe);
* :meth:`Scorer.score_batch` -- preprocessed images and their prompts to one float each.

Scores are cached like embeddings, keyed on the scorer's ``cache_id``, the image's content hash
and (for prompt scorers) the prompt: :func:`score_records`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from idbench.encoders.base import Encoder, ImageEmbedding


class Scorer(Encoder):
    """Base class of learned scorers. Subclasses set ``metric`` (the catalogue id), ``needs_prompt``,
    ``name`` and ``_id`` (a digest of the weights, :func:`weights_digest`) and implement
    :meth:`preprocess` and :meth:`score_batch`."""

    kind: ClassVar[str] = "score"
    metric: ClassVar[str]
    needs_prompt: ClassVar[bool] = True
    dim = 1
    _id: str

    @property
    def cache_id(self) -> str:
        return f"{self.name}@{self._id}@pp{self.preprocess_version}"

    @property
    def has_text(self) -> bool:  # a scorer never gives CLIP-T: its text use is its own score
        return False

    def score_batch(self, items: Sequence[Any], prompts: Sequence[str | None]) -> np.ndarray:
        raise NotImplementedError

    def embed_batch(self, items):
        raise TypeError(f"{self.name} is a learned scorer: it scores images (score_batch), it does not embed them")


class _Scores(Encoder):
    """A scorer seen by :func:`~idbench.embed.embed_records` as an encoder whose one-value 'embedding'
    is the score, so that caching, threads, failure isolation and batching are shared with embeddings.
    A prompt scorer receives ``(image, prompt)`` pairs (``embed_records(..., context=prompts)``)."""

    kind = "image"

    def __init__(self, scorer: Scorer) -> None:
        self.scorer, self.name, self.dim = scorer, scorer.name, 1

    @property
    def cache_id(self) -> str:
        return self.scorer.cache_id

    def preprocess(self, image):
        return self.scorer.preprocess(image)

    def embed_batch(self, items):
        if self.scorer.needs_prompt:
            images, prompts = [i for i, _ in items], [p for _, p in items]
        else:
            images, prompts = list(items), [None] * len(items)
        s = np.asarray(self.scorer.score_batch(images, prompts), np.float32).reshape(-1)
        return [ImageEmbedding(np.array([[v]], np.float32)) for v in s]


def score_records(scorer: Scorer, records: Sequence, prompts: dict[str, str] | None = None, *, cache=None,
                  problems=None, progress: bool = True, batch_size: int = 16) -> dict[str, float]:
    """``{record.id: score}`` for ``records`` (a prompt scorer scores only records with a prompt in
    ``prompts``; images with different prompts share batches). Unreadable images are named in
    ``problems`` and left out, as for embeddings; scores are cached per image content and prompt."""
    from idbench.embed import embed_records

    if scorer.needs_prompt:
        records = [r for r in records if (prompts or {}).get(r.id)]
    emb = embed_records(_Scores(scorer), records, cache=cache, problems=problems, progress=progress,
                        batch_size=batch_size, desc=f"scoring [{scorer.name}]",
                        context=prompts if scorer.needs_prompt else None)
    return {k: float(e.vectors[0, 0]) for k, e in emb.items()}


def prompt_cosines(image_features, text_features, texts: Sequence[str], prompts: Sequence[str]):
    """cos(image i, the text of prompt i): ``image_features`` (n, d) and ``text_features`` (len(texts), d)
    torch tensors, ``prompts[i]`` one of ``texts``; returns an (n,) tensor."""
    row = {t: k for k, t in enumerate(texts)}
    img = image_features / image_features.norm(dim=-1, keepdim=True)
    txt = text_features / text_features.norm(dim=-1, keepdim=True)
    return (img * txt[[row[p] for p in prompts]]).sum(-1)


def spec_options(arg: str | None, known: Sequence[str]) -> tuple[str | None, dict[str, str]]:
    """``"value#k=v,k=v"`` -> ``("value", {k: v})``, refusing keys not in ``known``.

    >>> spec_options("v2.1#arch=ViT-H-14", ("arch",))
    ('v2.1', {'arch': 'ViT-H-14'})
    """
    if arg is None:
        return None, {}
    value, _, frag = arg.partition("#")
    opts = {}
    for part in filter(None, frag.split(",")):
        k, eq, v = part.partition("=")
        if not eq or k.strip() not in known:
            raise ValueError(f"unknown option {part!r}; known: {', '.join(known) or 'none'}")
        opts[k.strip()] = v.strip()
    return value or None, opts


def weights_digest(state: dict) -> str:
    """A short digest of a state dict (its keys, shapes and the first values of each tensor): part of
    a scorer's cache id, so other weights never reuse its cached scores."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k]
        h.update(k.encode())
        if hasattr(v, "shape"):
            h.update(str(tuple(v.shape)).encode())
            h.update(np.ascontiguousarray(v.detach().float().flatten()[:32].cpu().numpy()).tobytes())
    return h.hexdigest()[:12]
