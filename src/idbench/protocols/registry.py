"""Protocols, created by name through one registry (as encoders are).

A protocol declares the inputs it needs (``references``, ``generations``, ``gallery``,
``samples``, ``ratings``) and a ``run(data, ctx)`` that adds per-image columns and its section to
``ctx.results``. :class:`idbench.study.Study` runs every protocol its inputs allow. Adding a
protocol is adding one module that calls :func:`register_protocol`, and one line in ``_MODULES``.

>>> [p for p in available_protocols()][:3]
['similarity', 'retrieval', 'rca']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

#: name -> module that registers it, in the order a study runs them
_MODULES: dict[str, str] = {
    "similarity": "idbench.protocols.similarity",
    "retrieval": "idbench.protocols.retrieval",
    "rca": "idbench.protocols.rca",
    "nearid": "idbench.protocols.nearid",
    "distribution": "idbench.protocols.distribution",
    "agreement": "idbench.protocols.agreement",
}
_REGISTRY: dict[str, "Protocol"] = {}


@dataclass
class StudyData:
    """The loaded inputs of a study (any may be None)."""

    references: Any = None  # ReferenceSet
    generations: Any = None  # GenerationSet
    gallery: Any = None  # Gallery
    samples: Any = None  # list[NearIDSample]
    ratings: Any = None  # {image_id: {rater: score}}
    extra_metrics: dict = field(default_factory=dict)  # {metric: {image_id: value, "_info": {...}}} shipped by a layout

    def has(self, name: str) -> bool:
        v = getattr(self, name)
        return v is not None and (len(v) > 0 if hasattr(v, "__len__") else True)


@dataclass
class RunContext:
    """What a protocol runs with: encoders, cache, the problem log, the results it fills, options."""

    encoders: list
    results: Any
    problems: Any
    cache: Any = None
    progress: bool = True
    seed: int = 0
    n_resamples: int = 2000
    options: dict[str, dict] = field(default_factory=dict)

    def opt(self, protocol: str, key: str, default=None):
        return self.options.get(protocol, {}).get(key, default)

    @property
    def image_encoder(self):
        """The first image encoder (retrieval, RCA, NearID, FID use one backbone)."""
        for e in self.encoders:
            if e.kind == "image":
                return e
        return None


@dataclass(frozen=True)
class Protocol:
    name: str
    needs: tuple[str, ...]
    run: Callable[[StudyData, RunContext], None]
    description: str
    opt_in: bool = False  # runs only when asked for (FID / KID)
    after_summary: bool = False  # runs on the summarised results (agreement with humans)
    needs_image_encoder: bool = False


def register_protocol(p: Protocol) -> Protocol:
    _REGISTRY[p.name] = p
    return p


def available_protocols() -> list[str]:
    return list(_MODULES)


def get_protocol(name: str) -> Protocol:
    if name not in _REGISTRY:
        if name not in _MODULES:
            raise ValueError(f"unknown protocol {name!r}; available: {', '.join(_MODULES)}")
        importlib.import_module(_MODULES[name])
    return _REGISTRY[name]
