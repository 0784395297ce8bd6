"""Published benchmark layouts, read as they are: one reader per layout, created by name through one
registry, auto-detected from the folder (``--layout NAME`` overrides).

A reader is a module in :mod:`idbench.data.layouts` that defines ``LAYOUT = Layout(...)`` with:

* ``detect(path, role) -> bool`` -- whether ``path`` (given as ``role``: refs, gen, gallery,
  samples or human) is in this layout;
* ``read(path, role, problems, context) -> dict`` -- the study inputs it holds
  (``references``, ``generations``, ``gallery``, ``samples``, ``ratings``, ``extra_metrics``).
  ``context`` is shared by the reads of one study, so that e.g. DreamBench's prompt lists read
  with the references name the prompts of generations read later.

Adding a layout is adding one module that defines ``LAYOUT = Layout(...)`` and one entry point
(group ``idbench.layouts``) naming it, in idbench's ``pyproject.toml`` or in another package.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from idbench.data.manifest import ManifestError
from idbench.data.problems import ProblemLog
from idbench.registry import Registry, UnknownPluginError

LAYOUTS = Registry("idbench.layouts", "layout")


@dataclass(frozen=True)
class Layout:
    name: str
    detect: Callable[[Path, str], bool]
    read: Callable[[Path, str, ProblemLog, dict], dict]
    description: str
    roles: tuple[str, ...] = ("refs", "gen", "gallery", "samples", "human")
    order: int = 100  # auto-detection tries layouts in this order


def available_layouts() -> list[str]:
    """Every registered layout, in the order auto-detection tries them."""
    return sorted(LAYOUTS.names(), key=lambda n: (get_layout(n).order, n))


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS.get(name)
    except UnknownPluginError as e:
        raise ManifestError(str(e)) from None


def detect_layout(path: str | Path, role: str) -> str | None:
    """The first layout that recognises ``path`` in ``role``, or None (idbench's own layout)."""
    path = Path(path)
    for name in available_layouts():
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
