"""Encoders whose identity is known before their model is: a warm run loads no model.

:class:`LazyEncoder` carries everything the cache and the protocols need (name, kind, dim,
cache_id, whether it has a text tower) and builds the real encoder only when an image must
actually be encoded. When every embedding is in the cache, neither the model nor its framework
(torch, onnxruntime, dlib) is ever imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from idbench.encoders.base import Encoder


class LazyEncoder(Encoder):
    def __init__(self, build: Callable[[], Encoder], *, name: str, kind: str, dim: int, cache_id: str,
                 has_text: bool = False, decode_min_side: int | None = None) -> None:
        self._build, self._enc, self._lock = build, None, threading.Lock()
        self.name, self.kind, self.dim, self.decode_min_side = name, kind, dim, decode_min_side
        self._cache_id, self._has_text = cache_id, has_text

    @property
    def cache_id(self) -> str:
        return self._cache_id

    @property
    def has_text(self) -> bool:
        return self._has_text

    @property
    def loaded(self) -> bool:
        return self._enc is not None

    def real(self) -> Encoder:
        if self._enc is None:
            with self._lock:
                if self._enc is None:
                    enc = self._build()
                    if enc.cache_id != self._cache_id:  # the declared identity must be the model's own
                        raise RuntimeError(f"{self.name}: cache id {enc.cache_id!r} differs from the declared {self._cache_id!r}")
                    self._enc = enc
        return self._enc

    def preprocess(self, image: Any) -> Any:
        return self.real().preprocess(image)

    def embed_batch(self, items):
        return self.real().embed_batch(items)

    def embed_text(self, texts):
        return self.real().embed_text(texts)

    def __getattr__(self, attr: str):  # anything else (classify, model, ...) belongs to the real encoder
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.real(), attr)
