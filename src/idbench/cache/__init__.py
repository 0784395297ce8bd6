"""Persistent caches: embeddings keyed by encoder and image content."""

from idbench.cache.store import EmbeddingCache, default_cache_dir

__all__ = ["EmbeddingCache", "default_cache_dir"]
