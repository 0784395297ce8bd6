"""Typed, versioned sections of ``summary.json``.

Each protocol declares the sections it writes (``Protocol.sections``: a tuple of types), each a
dataclass deriving from :class:`Section` with its ``NAME``; a type is known by that name once its
module is imported (:data:`SECTION_TYPES`). A protocol fills an instance while it runs and puts it in
``Results.sections[name]``; :meth:`idbench.results.Results.write` writes ``to_dict()`` (with its
``version``), and :meth:`idbench.results.Results.read` reads each section back into its type with
:meth:`Section.from_dict`, which validates every field (pydantic), so a view reads attributes, never
string keys, and a damaged or hand-edited section is refused by name instead of failing in a view.

A section type with a ``NAME`` is known by that name as soon as its module is imported;
:meth:`Section.of` gives a results object's section as its type (converting, once, a section read
before its type was known), or None when the results have no such section.

A section written by a newer idbench (a higher ``version`` than its type declares) is refused with a
message that says so; an older one is passed through :meth:`Section.migrate` first. A section whose
protocol is not installed here (a plug-in) is kept as the plain mapping it was written as.

>>> from dataclasses import dataclass
>>> @dataclass(kw_only=True)
... class Counts(Section):
...     VERSION = 1
...     n_images: int = 0
>>> Counts.from_dict({"version": 1, "n_images": "3"})
Counts(version=1, n_images=3)
>>> Counts(n_images=2).to_dict()
{'version': 1, 'n_images': 2}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar


class SectionError(ValueError):
    """A section of a results folder that does not have its declared form (named, with the reason)."""


@dataclass(kw_only=True)
class Section:
    """The base of every section type: a ``version`` written with it, and the two conversions."""

    #: the version this type reads and writes; raise it when a field changes meaning or form
    VERSION: ClassVar[int] = 1
    #: its key in ``summary.json["sections"]`` (a part of another section has none)
    NAME: ClassVar[str] = ""
    version: int = 1

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        if cls.__dict__.get("NAME"):
            SECTION_TYPES[cls.NAME] = cls

    @classmethod
    def of(cls, results):
        """``results.sections[NAME]`` as this type (a plain mapping is converted and put back), else None."""
        return section_of(results.sections, cls.NAME)

    @classmethod
    def ensure(cls, results):
        """:meth:`of`, or an empty section of this type put in ``results`` (for a protocol filling it)."""
        sec = cls.of(results)
        if sec is None:
            sec = results.sections[cls.NAME] = cls()
        return sec

    def __post_init__(self) -> None:
        self.version = type(self).VERSION

    def to_dict(self) -> dict[str, Any]:
        """The section as plain JSON-ready data (nested sections and dataclasses included)."""
        return dataclasses.asdict(self)

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """``data`` of an older ``version`` in this version's form (override when ``VERSION`` rises)."""
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "section"):
        """``data`` (as read from ``summary.json``) as this type, every field checked; a
        :class:`SectionError` names the first field that is wrong."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise SectionError(f"{where}: expected a JSON object, got {type(data).__name__}")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SectionError(f"{where}: version {version!r} is not a positive whole number")
        if version > cls.VERSION:
            raise SectionError(f"{where}: written by a newer idbench (section version {version}; this idbench reads up "
                               f"to {cls.VERSION}); upgrade idbench to read it")
        data = cls.migrate(dict(data), version) if version < cls.VERSION else dict(data)
        data["version"] = cls.VERSION
        return validate(cls, data, where=where)


def validate(kind: type, data: Any, *, where: str):
    """``data`` as ``kind`` (a dataclass, or any type pydantic validates), every field checked; a
    :class:`SectionError` names the first field that is wrong."""
    from pydantic import ValidationError

    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as e:
        first = e.errors()[0]
        at = ".".join(str(p) for p in first.get("loc", ()))
        raise SectionError(f"{where}.{at}: {first.get('msg', 'invalid')} (got {first.get('input')!r:.80})"
                           if at else f"{where}: {first.get('msg', 'invalid')}") from None


#: ``{name: type}`` of every section type imported so far (filled by ``Section.__init_subclass__``)
SECTION_TYPES: dict[str, type[Section]] = {}


def load_section_types() -> None:
    """Load every installed protocol (entry points ``idbench.protocols``), so that the section types
    each declares are known; a plug-in that cannot be loaded is named where protocols are listed, and
    its sections stay mappings."""
    from idbench.registry import PROTOCOLS

    for name in PROTOCOLS.names():
        try:
            PROTOCOLS.get(name)
        except Exception:  # noqa: BLE001, S112 - a third party's import error of any kind
            continue


def section_of(sections: dict[str, Any], name: str) -> Any:
    """``sections[name]`` as its type when that type is known (a mapping is converted and put back),
    else as it is; None when there is no such section."""
    value = sections.get(name)
    if value is not None and name not in SECTION_TYPES:
        load_section_types()
    kind = SECTION_TYPES.get(name)
    if value is None or kind is None or isinstance(value, kind):
        return value
    typed = sections[name] = kind.from_dict(value, where=f"sections.{name}")
    return typed


def typed_sections(raw: Mapping[str, Any], *, where: str = "sections") -> dict[str, Any]:
    """Every section of ``raw`` whose type is known as that type (:meth:`Section.from_dict`); one
    whose type is not (a plug-in that is not installed here) stays the mapping it was written as."""
    load_section_types()
    out = {}
    for name, value in raw.items():
        t = SECTION_TYPES.get(name)
        out[name] = t.from_dict(value, where=f"{where}.{name}") if t is not None else value
    return out


@cache
def _adapter(cls: type):
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def section_to_dict(value: Any) -> Any:
    """A section as written: ``to_dict()`` of a :class:`Section`, a plain mapping as it is."""
    return value.to_dict() if isinstance(value, Section) else value


__all__ = ["SECTION_TYPES", "Section", "SectionError", "section_of", "section_to_dict", "typed_sections", "validate"]
