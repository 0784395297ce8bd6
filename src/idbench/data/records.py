"""The data model: references, generations and galleries.

Every image idbench touches is an :class:`ImageRecord`: a stable id, the file it lives in, and the
labels that say what it shows. Three kinds of sets are built from records:

* :class:`ReferenceSet` -- real photos of each subject (``refs/<subject>/*.jpg``);
* :class:`GenerationSet` -- images a method produced for a subject and a prompt
  (``gen/<method>/<subject>/<name>.png``);
* :class:`Gallery` -- real, identity-labelled images with a label hierarchy of any depth
  (e.g. ``class`` then ``subject``), for retrieval and classification.

Records are paired by id and subject, never by sort order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImageRecord:
    """One image and what it shows.

    Attributes
    ----------
    id : str
        Stable identifier, unique within its set (e.g. ``"dog/03"`` or ``"methodA/dog/p1_0"``).
    path : Path
        The image file.
    subject : str
        The identity shown (for a generation: the identity it was conditioned on).
    method : str or None
        For generations: the method that produced it.
    prompt : str or None
        For generations: the text prompt.
    labels : dict
        Label hierarchy, coarse to fine, e.g. ``{"class": "dog", "subject": "dog3"}``. Always
        contains ``"subject"``.
    extra : dict
        Any further manifest columns (kept as strings).
    """

    id: str
    path: Path
    subject: str
    method: str | None = None
    prompt: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    def label(self, level: str) -> str:
        """The label at ``level`` (``"subject"`` is always available)."""
        if level == "subject":
            return self.subject
        try:
            return self.labels[level]
        except KeyError:
            raise KeyError(f"image {self.id!r} ({self.path}) has no label at level {level!r}") from None


@dataclass
class _RecordSet:
    records: list[ImageRecord]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    @property
    def subjects(self) -> list[str]:
        """Sorted distinct subjects."""
        return sorted({r.subject for r in self.records})

    def by_subject(self) -> dict[str, list[ImageRecord]]:
        out: dict[str, list[ImageRecord]] = {}
        for r in self.records:
            out.setdefault(r.subject, []).append(r)
        return out


@dataclass
class ReferenceSet(_RecordSet):
    """Real images of each subject."""


@dataclass
class GenerationSet(_RecordSet):
    """Generated images, each tagged with method, subject and prompt."""

    @property
    def methods(self) -> list[str]:
        return sorted({r.method or "" for r in self.records})

    def by_method(self) -> dict[str, list[ImageRecord]]:
        out: dict[str, list[ImageRecord]] = {}
        for r in self.records:
            out.setdefault(r.method or "", []).append(r)
        return out


@dataclass
class Gallery(_RecordSet):
    """Real, identity-labelled images with a label hierarchy.

    ``levels`` lists the label levels coarse to fine; the last is always ``"subject"``.
    """

    levels: Sequence[str] = ("subject",)

    def labels_at(self, level: str) -> list[str]:
        return [r.label(level) for r in self.records]
