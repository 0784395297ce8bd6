"""The ``baselines`` section: the real and impostor levels that give a score its meaning.

A similarity score means little alone: it is read against what a new real photo of the subject gets
(``real``) and what another identity gets (``impostor``). The similarity protocol writes these for
its image and face columns, and the VLM judge for its concept column; every view reads them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from idbench.section import Section

Estimate = dict[str, Any]  # a mean with its interval: {"mean", "ci_low", "ci_high", "n_subjects", "n_pairs", ...}


@dataclass(kw_only=True)
class BaselineEntry:
    """The real and impostor levels of one column: what a new real photo of the subject gets, and
    what another identity gets; per method over its own subjects when methods cover different ones."""

    how: str = ""
    impostor_from: str = ""
    real: Estimate | None = None
    impostor: Estimate | None = None
    by_method: dict[str, dict[str, Estimate | None]] | None = None  # method -> {"real", "impostor"}
    impostor_pairs: int | None = None
    impostor_cross_class: int | None = None


@dataclass(kw_only=True)
class BaselinesSection(Section):
    """``sections.baselines``: the real and impostor levels of every column that has them."""

    NAME = "baselines"
    VERSION = 2  # 1 (idbench <= 0.1.0 before typed sections): the columns at the top level
    columns: dict[str, BaselineEntry] = field(default_factory=dict)

    @classmethod
    def migrate(cls, data, version):
        return {"columns": {k: v for k, v in data.items() if k != "version"}}


__all__ = ["BaselineEntry", "BaselinesSection", "Estimate"]
