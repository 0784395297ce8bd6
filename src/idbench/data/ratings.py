"""Human ratings: a CSV with ``image_id``, ``score`` and optionally ``rater`` (or ``group``).

Read as UTF-8 (a byte-order mark is fine); a file that is not UTF-8 is read as Latin-1 and says
so. Every row that is not used is named in the problem log: a score that is not a finite number,
an empty image id, or a second rating of one image by one rater (the first is kept).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from idbench.data.manifest import ManifestError
from idbench.data.problems import ProblemLog


def rating_aspects(path: str | Path) -> list[str]:
    """The values of the ratings file's ``aspect`` column (``overall``, ``object``, ``relation``, ...),
    ``overall`` first; ``[]`` when it has no such column."""
    import csv as _csv

    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        rows = list(_csv.DictReader(f))
    if not rows or "aspect" not in {(c or "").strip() for c in rows[0]}:
        return []
    vals = sorted({(r.get("aspect") or "").strip() for r in rows} - {""})
    return sorted(vals, key=lambda v: (v != "overall", v))


def read_ratings(path: str | Path, problems: ProblemLog, aspect: str | None = None) -> dict[str, dict[str, float]]:
    """``{image_id: {rater: score}}`` (rater ``"all"`` when the file has no rater column). A file with
    an ``aspect`` column is read for one aspect: ``aspect``, else ``overall``, else its first one."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        problems.add(path, "encoding", "not UTF-8; read as Latin-1 (check accented names)", "warning")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    cols = {c.strip() for c in (rows[0].keys() if rows else []) if c is not None}
    if not rows or not {"image_id", "score"} <= cols:
        raise ManifestError(f"{path}: needs columns image_id and score (and optionally rater); "
                            f"found: {', '.join(sorted(cols)) or 'no rows'}")
    rows = [{(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in r.items()} for r in rows]
    rater_col = "rater" if "rater" in cols else ("group" if "group" in cols else None)
    if "aspect" in cols:
        have = rating_aspects(path)
        want = aspect or (have[0] if have else "")
        blank = [i for i, r in enumerate(rows, 2) if not r.get("aspect", "")]
        if blank and have and want == have[0]:  # named once, with the first aspect read
            problems.add(f"{path}:{blank[0]}", "bad_rating", f"{len(blank)} row(s) have an empty aspect (first at line "
                         f"{blank[0]}); they belong to no aspect and were not used")
        rows = [r for r in rows if r.get("aspect", "") == want]
    out: dict[str, dict[str, float]] = {}
    for i, r in enumerate(rows, 2):
        where = f"{path}:{i}"
        img, rater = r["image_id"], (r.get(rater_col) or "all") if rater_col else "all"
        if not img:
            problems.add(where, "bad_rating", "empty image_id; row skipped")
            continue
        try:
            score = float(r["score"])
        except ValueError:
            problems.add(where, "bad_rating", f"score {r['score']!r} for {img!r} is not a number; row skipped")
            continue
        if not math.isfinite(score):
            problems.add(where, "bad_rating", f"score {r['score']!r} for {img!r} is not finite; row skipped")
            continue
        have = out.setdefault(img, {})
        if rater in have:
            problems.add(where, "duplicate_rating", f"rater {rater!r} rated {img!r} again ({score:g}; first was "
                                                    f"{have[rater]:g}); kept the first")
            continue
        have[rater] = score
    return out
