"""NearID sample sets: positive rows ``id, category, img1..imgN`` and distractor rows
``nimg1..nimgN``, aligned by ``id`` -- in one table, or in two tables (one holding the ``img``
columns, one the ``nimg`` columns) in one folder. Distractor k sits on the background of view k.
Paths are relative to the table's folder."""

from __future__ import annotations

import re
from pathlib import Path

from idbench.data.layout import Layout
from idbench.data.manifest import ManifestError, read_rows
from idbench.data.records import ImageRecord

_TABLES = (".csv", ".tsv", ".jsonl")


def _cols(rows, prefix):
    if not rows:
        return []
    cs = [c for c in rows[0] if re.fullmatch(rf"{prefix}\d+", c)]
    return sorted(cs, key=lambda c: int(c[len(prefix):]))


def _tables(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix.lower() in _TABLES)
    return []


def _detect(path: Path, role: str) -> bool:
    if role != "samples":
        return False
    for t in _tables(path):
        try:
            rows = read_rows(t)
        except ManifestError:
            continue
        if rows and "id" in rows[0] and (_cols(rows, "img") or _cols(rows, "nimg")):
            return True
    return False


def _read(path: Path, role: str, problems, context: dict) -> dict:
    from idbench.data.nearid import NearIDSample

    pos: dict[str, dict] = {}
    neg: dict[str, dict] = {}
    bases: dict[str, Path] = {}
    for t in _tables(path):
        rows = read_rows(t, problems)
        if not rows or "id" not in rows[0]:
            continue
        for i, r in enumerate(rows, 2):
            for kind, table, prefix, key in (("positive", pos, "img", r["id"]), ("distractor", neg, "nimg", r["id"] + "#n")):
                if not any(r.get(c) for c in _cols([r], prefix)):
                    continue
                if r["id"] in table:
                    problems.add(f"{t}:{i}", "duplicate", f"sample id {r['id']!r} has a second {kind} row; kept the "
                                                          "first, this one is not used")
                    continue
                table[r["id"]] = r
                bases[key] = t.parent
    if not pos:
        raise ManifestError(f"{path}: no positive rows (id, category, img1..imgN)")
    out = []
    for sid, r in pos.items():
        vcols = _cols([r], "img")
        n = neg.get(sid, {})
        base, nbase = bases[sid], bases.get(sid + "#n", bases[sid])
        full = lambda p, b: (Path(p) if Path(p).is_absolute() else b / p)  # noqa: E731
        views, dists = [], []
        for c in vcols:  # view k and distractor k are paired by column, never by position after dropping empties
            p = n.get("n" + c, "")
            if not r.get(c):
                if p:
                    problems.add(f"{path}:{sid}", "unpaired_distractor", f"n{c} is given but {c} is empty: the "
                                                                          "distractor has no view; not used", "warning")
                continue
            k = len(views)
            views.append(ImageRecord(f"{sid}/v{k}", full(r[c], base), sid))
            dists.append(ImageRecord(f"{sid}/d{k}", full(p, nbase), sid) if p else None)
        if not n:
            problems.add(f"{path}:{sid}", "incomplete_sample", "no distractor row with this id; the sample is incomplete",
                         "warning")
        out.append(NearIDSample(sid, sid, r.get("category") or "nearid", views, dists))
    for sid in sorted(set(neg) - set(pos)):
        problems.add(f"{path}:{sid}", "orphan_distractors", "distractor row with no positive row of the same id; skipped")
    return {"samples": out}


LAYOUT = Layout("nearid", _detect, _read,
                       "NearID tables: id, category, img1..imgN (+ nimg1..nimgN, same id)", roles=("samples",), order=40)
