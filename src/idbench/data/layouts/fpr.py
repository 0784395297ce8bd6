"""Finer-Personalization Rank: ``data/<species>/<name>/{train,gallery,generated_images}/`` with
``train_data.csv``, ``gallery_data.csv`` and ``generated_data.csv`` (columns ``name``,
``file_path``, ``species``; ``file_path`` relative to the table's folder, to the given folder or
to the working folder, or absolute). The train
images are the references, the gallery keeps ``species`` as the level above the identity
(``name``), and the generated images are one method (its ``method`` column when present, else
``generated``). Tables are found anywhere below the given folder and concatenated.
"""

from __future__ import annotations

from pathlib import Path

from idbench.data.images import unreadable_reason
from idbench.data.layout import Layout
from idbench.data.manifest import ManifestError, read_rows
from idbench.data.records import Gallery, GenerationSet, ImageRecord, ReferenceSet

TABLES = {"refs": "train_data.csv", "gallery": "gallery_data.csv", "gen": "generated_data.csv"}


def _tables(path: Path, role: str) -> list[Path]:
    name = TABLES.get(role)
    if name is None:
        return []
    if path.is_file():
        return [path] if path.name == name else []
    return sorted(path.rglob(name)) if path.is_dir() else []


def _detect(path: Path, role: str) -> bool:
    return bool(_tables(path, role))


def _read(path: Path, role: str, problems, context: dict) -> dict:
    recs = []
    for t in _tables(path, role):
        rows = read_rows(t, problems)
        if rows and not {"name", "file_path"} <= set(rows[0]):
            raise ManifestError(f"{t}: needs columns name, file_path (and species)")
        for i, r in enumerate(rows, 2):
            p = Path(r["file_path"])
            bases = [t.parent, path if path.is_dir() else path.parent, Path.cwd()]
            full = p if p.is_absolute() else next((b / p for b in bases if (b / p).is_file()), t.parent / p)
            why = unreadable_reason(full)
            if why is not None:
                problems.add(full, "missing_file", f"listed in {t.name}:{i} but {why}")
                continue
            labels = {"species": r["species"]} if r.get("species") else {}
            method = (r.get("method") or "generated") if role == "gen" else None
            rid = f"{method + '/' if method else ''}{r['name']}/{p.with_suffix('').as_posix()}"
            recs.append(ImageRecord(rid, full, r["name"], method=method, prompt=r.get("prompt") or None, labels=labels))
    if not recs:
        raise ManifestError(f"{path}: no usable row in {TABLES[role]}")
    if role == "refs":
        return {"references": ReferenceSet(recs)}
    if role == "gen":
        return {"generations": GenerationSet(recs)}
    levels = ("species", "subject") if all("species" in r.labels for r in recs) else ("subject",)
    return {"gallery": Gallery(recs, levels=levels)}


LAYOUT = Layout("fpr", _detect, _read,
                       "train_data.csv / gallery_data.csv / generated_data.csv (name, file_path, species)",
                       roles=("refs", "gallery", "gen"), order=50)
