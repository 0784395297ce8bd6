"""Published benchmark layouts, read as they are: one reader per layout, created by name through one
registry, auto-detected from the folder (``--layout NAME`` overrides).

A reader is a module in :mod:`idbench.data.layouts` that calls :func:`register_layout` with:

* ``detect(path, role) -> bool`` -- whether ``path`` (given as ``role``: refs, gen, gallery,
  samples or human) is in this layout;
* ``read(path, role, problems, context) -> dict`` -- the study inputs it holds
  (``references``, ``generations``, ``gallery``, ``samples``, ``ratings``, ``extra_metrics``).
  ``context`` is shared by the reads of one study, so that e.g. DreamBench's prompt lists read
  with the references name the prompts of generations read later.

Adding a layout is adding one module and one line in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from idbench.data.manifest import ManifestError
from idbench.data.problems import ProblemLog

_MODULES = {
    "dreambench": "idbench.data.layouts.dreambench",
    "dreambenchpp": "idbench.data.layouts.dreambenchpp",
    "stellar": "idbench.data.layouts.stellar",
    "nearid": "idbench.data.layouts.nearid",
    "fpr": "idbench.data.layouts.fpr",
}
_REGISTRY: dict[str, "Layout"] = {}


@dataclass(frozen=True)
class Layout:
    name: str
    detect: Callable[[Path, str], bool]
    read: Callable[[Path, str, ProblemLog, dict], dict]
    description: str
    roles: tuple[str, ...] = ("refs", "gen", "gallery", "samples", "human")


def register_layout(layout: Layout) -> Layout:
    _REGISTRY[layout.name] = layout
    return layout


def available_layouts() -> list[str]:
    return list(_MODULES)


def get_layout(name: str) -> Layout:
    if name not in _MODULES:
        raise ManifestError(f"unknown layout {name!r}; available: {', '.join(_MODULES)}")
    if name not in _REGISTRY:
        importlib.import_module(_MODULES[name])
    return _REGISTRY[name]


def detect_layout(path: str | Path, role: str) -> str | None:
    """The first layout that recognises ``path`` in ``role``, or None (idbench's own layout)."""
    path = Path(path)
    for name in _MODULES:
        try:
            if get_layout(name).detect(path, role):
                return name
        except OSError:
            continue
    return None


def read_layout(path: str | Path, problems: ProblemLog, *, name: str | None = None, role: str,
                context: dict | None = None) -> dict | None:
    """Inputs read from a published layout; None when ``path`` is in idbench's own layout."""
    path = Path(path)
    name = name if name not in (None, "auto", "idbench") else detect_layout(path, role)
    if name is None:
        return None
    layout = get_layout(name)
    if role not in layout.roles:
        return None  # this input is in idbench's own layout
    if not layout.detect(path, role):
        raise ManifestError(f"{path} is not in the {name} layout as {role}: {layout.description}")
    return layout.read(path, role, problems, context if context is not None else {})
