"""How numbers reach a person: one formatting rule for the console, the report and the tables.

Never ``nan``: a figure that cannot be given is shown as ``–`` with the reason beside it (in the
cell when short, else in a footnote). Means come with their interval and counts.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "–"


def is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x)))


def fmt_num(x: Any, digits: int = 3, *, signed: bool = False, why: str | None = None) -> str:
    """``0.712``; ``–`` (or ``– (why)``) for None / NaN / inf.

    >>> fmt_num(float("nan"), why="no references")
    '– (no references)'
    """
    if is_missing(x):
        return f"{DASH} ({why})" if why else DASH
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def fmt_ci(entry: dict | None, digits: int = 3, *, why: str | None = None) -> str:
    """``mean [low, high]`` from a summary entry; ``mean (no interval: 1 subject)`` when there is no
    interval; ``–`` when there is no mean.

    >>> fmt_ci({"mean": 0.5, "ci_low": 0.4, "ci_high": 0.6})
    '0.500 [0.400, 0.600]'
    >>> fmt_ci({"mean": 0.5, "ci_low": None, "ci_high": None, "ci_note": "no interval: 1 subject"})
    '0.500 (no interval: 1 subject)'
    >>> fmt_ci({"mean": 0.48, "ci_low": 0.479, "ci_high": 0.481, "few_subjects": 4})
    '0.480 [0.479, 0.481] (only 4 subjects: indicative)'
    """
    if not entry or is_missing(entry.get("mean")):
        return f"{DASH} ({why})" if why else DASH
    mean = fmt_num(entry["mean"], digits)
    if is_missing(entry.get("ci_low")) or is_missing(entry.get("ci_high")):
        return f"{mean} ({entry.get('ci_note') or 'no interval'})"
    few = entry.get("few_subjects")
    caution = f" (only {few} subjects: indicative)" if few else ""
    return f"{mean} [{entry['ci_low']:.{digits}f}, {entry['ci_high']:.{digits}f}]{caution}"


def fmt_interval(lo: Any, hi: Any, digits: int = 3) -> str:
    if is_missing(lo) or is_missing(hi):
        return ""
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"
