"""One registry helper for every kind of plug-in: encoders, protocols, layout readers, mask providers.

Plug-ins are found through Python entry points, the way pytest and napari find theirs. idbench's
own built-ins are declared in its ``pyproject.toml`` exactly as a third-party package declares
its own::

    [project.entry-points."idbench.encoders"]
    plugenc = "mypackage.encoders:make"      # make(arg=None, **kw) -> Encoder

=====================  ==========================================================
group                  what the entry point names
=====================  ==========================================================
``idbench.encoders``   a factory ``make(arg=None, *, device=None, **kw) -> Encoder``
``idbench.protocols``  a :class:`idbench.protocols.registry.Protocol`
``idbench.layouts``    a :class:`idbench.data.layout.Layout`
``idbench.masks``      a factory ``make(arg=None) -> provide(rgb, path) -> mask``
=====================  ==========================================================

Nothing is imported until it is used: listing names reads only the installed packages' metadata.
Code may also register an object in-process (tests, notebooks) with :meth:`Registry.register`.

>>> from idbench.registry import Registry
>>> r = Registry("idbench.examples", "example")
>>> _ = r.register("double", lambda x: 2 * x)
>>> r.get("double")(21), r.names()
(42, ['double'])
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import metadata
from typing import Any


class UnknownPluginError(ValueError):
    """A name that no installed package registers (the message names the closest known ones)."""


def did_you_mean(name: str, known: list[str], n: int = 3, cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for near-identical spellings, else ``""``."""
    close = difflib.get_close_matches(name, known, n=n, cutoff=cutoff)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


class Registry:
    """Named plug-ins of one kind, from the entry-point group ``group``."""

    def __init__(self, group: str, kind: str) -> None:
        self.group, self.kind = group, kind
        self._loaded: dict[str, Any] = {}
        self._points: dict[str, metadata.EntryPoint] | None = None
        self._errors: dict[str, str] = {}

    def _entry_points(self) -> dict[str, metadata.EntryPoint]:
        if self._points is None:
            pts: dict[str, metadata.EntryPoint] = {}
            for ep in metadata.entry_points(group=self.group):
                pts.setdefault(ep.name, ep)  # the first installed distribution wins, as with pytest
            self._points = pts
        return self._points

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` under ``name`` in this process (usable as a decorator)."""
        if obj is None:
            def deco(o: Callable) -> Callable:
                self._loaded[name] = o
                return o

            return deco
        self._loaded[name] = obj
        return obj

    def names(self) -> list[str]:
        return sorted(set(self._loaded) | set(self._entry_points()))

    def source(self, name: str) -> str:
        """Where ``name`` comes from: ``"module:attr (distribution)"`` or ``"registered in this process"``."""
        ep = self._entry_points().get(name)
        if ep is None:
            return "registered in this process"
        dist = getattr(ep, "dist", None)
        return f"{ep.value} ({dist.name if dist is not None else 'unknown package'})"

    def get(self, name: str) -> Any:
        """The plug-in registered as ``name``; :class:`UnknownPluginError` with the closest names if none."""
        if name in self._loaded:
            return self._loaded[name]
        ep = self._entry_points().get(name)
        if ep is None:
            known = self.names()
            raise UnknownPluginError(f"unknown {self.kind} {name!r}{did_you_mean(name, known)}; "
                                     f"available: {', '.join(known) or 'none'}")
        try:
            obj = ep.load()
        except Exception as e:  # a broken third-party package must not take idbench down with a traceback
            raise UnknownPluginError(f"{self.kind} {name!r} ({ep.value}) could not be loaded: "
                                     f"{type(e).__name__}: {e}") from None
        self._loaded[name] = obj
        return obj

    def refresh(self) -> None:
        """Read the installed packages' entry points again (after installing a plug-in at run time)."""
        self._points = None


def first_line(obj: Any) -> str:
    """The description of a plug-in: its ``description`` attribute, else its docstring's first line."""
    d = getattr(obj, "description", None)
    if isinstance(d, str) and d:
        return d
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


#: the protocols (:class:`idbench.protocols.registry.Protocol`); here, below every layer, so that a results
#: folder can find the section types of the protocols installed without importing any protocol by name
PROTOCOLS = Registry("idbench.protocols", "protocol")
