"""Encoders, created from a spec string through the plug-in registry (entry-point group
``idbench.encoders``).

A spec is ``name`` or ``name:argument``; the factory registered as ``name`` is called as
``factory(argument or None, device=device, **kwargs)``. Built-ins (declared in idbench's
``pyproject.toml``): ``effnet-lite0``, ``dlib-face``, ``hf:<id or dir>``, ``timm:<name or dir>``,
``nearid:<head dir>``, ``arcface:<pack>``.

Adding an encoder is one module with a factory and one entry point naming it, in idbench's
``pyproject.toml`` or in any other installed package::

    [project.entry-points."idbench.encoders"]
    my-encoder = "mypackage.encoders:make"

>>> "effnet-lite0" in available_encoders()
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from idbench.encoders.base import Encoder
from idbench.registry import Registry, UnknownPluginError, first_line

Factory = Callable[..., Encoder]

ENCODERS = Registry("idbench.encoders", "encoder")
_INSTANCES: dict[tuple, Encoder] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Decorator: register ``factory(arg, **kwargs) -> Encoder`` under ``name`` in this process."""
    return ENCODERS.register(name)


def available_encoders() -> list[str]:
    return ENCODERS.names()


def describe_encoder(name: str) -> str:
    """One line: what the encoder is (its factory's docstring), or why it cannot be loaded."""
    try:
        return first_line(ENCODERS.get(name))
    except UnknownPluginError as e:
        return str(e)


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
        If no installed package registers the spec's name (the message names the closest ones).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"an encoder spec is a non-empty string such as 'effnet-lite0', got {spec!r}")
    name, arg = parse_spec(spec)
    key = (name, arg, device, tuple(sorted(kwargs.items())))
    if cached and key in _INSTANCES:
        return _INSTANCES[key]
    factory = ENCODERS.get(name)
    enc = factory(arg, device=device, **kwargs)
    if cached:
        _INSTANCES[key] = enc
    return enc


def hub_kwargs(model_id: str) -> dict:
    """``from_pretrained`` keywords for a hub id or a local folder: a local folder, ``HF_HUB_OFFLINE=1``,
    or a hub that does not answer the network probe (:func:`idbench.net.hub_offline`) loads without the
    network, so nothing waits on a network that never answers.

    >>> hub_kwargs(".")
    {'local_files_only': True}
    """
    from pathlib import Path

    from idbench.net import hub_offline

    return {"local_files_only": True} if Path(model_id).is_dir() or hub_offline() else {}


@contextlib.contextmanager
def hub_loading(model_id: str, local_spec: str):
    """Around ``from_pretrained`` / ``hf_hub_download``: a model that is neither in the local hub cache
    nor downloadable becomes one short ``ValueError`` naming it, the command that fetches it and the
    local-folder spec that replaces it (instead of the hub's generic page of text)."""
    try:
        yield
    except (OSError, ValueError) as e:
        if Path(model_id).is_dir():
            raise
        import os

        from idbench.net import hub_offline

        why = "the hub is not reachable (offline)" if hub_offline() else "it could not be downloaded"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        cache = os.environ.get("HF_HUB_CACHE") or os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub")
        raise ValueError(f"model {model_id!r} is not in the local hub cache ({cache}) and {why}: fetch it where there "
                         f"is a network with `hf download {model_id}` (and copy the cache here), or give a local folder: "
                         f"{local_spec} [{first}]") from None


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``"cuda"`` when a GPU is present, else ``"cpu"``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
