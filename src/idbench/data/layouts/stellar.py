"""Stellar: identities ``<identity>/<k>.jpg`` with ``<k>_attributes.json`` (CelebA attributes, +-1)
and a per-identity ``prompt.json`` (prompts and detectables); generations in a flat folder of
``<identity>-<k>-<prompt>.png``, each with a same-name JSON whose ``image_path`` names its source
photo. Generations are paired with their source by that field, never by sort order: the subject
is the source photo's identity, and the source photo is the generation's ``input_reference``.
A folder of such flat folders is read as one method per sub-folder.
"""

from __future__ import annotations

import json
from glob import escape as glob_escape
from pathlib import Path

from idbench.data.images import is_image_path
from idbench.data.layout import Layout
from idbench.data.manifest import ManifestError
from idbench.data.records import GenerationSet, ImageRecord, ReferenceSet


def _is_identity_dir(d: Path) -> bool:
    return d.is_dir() and any(d.glob("*_attributes.json")) and any(is_image_path(p) for p in d.iterdir())


def _gen_dirs(path: Path) -> list[Path]:
    def flat(d: Path) -> bool:
        return any(any(is_image_path(q) for q in d.glob(glob_escape(p.stem) + ".*")) for p in d.glob("*.json"))

    if flat(path):
        return [path]
    return [d for d in sorted(path.iterdir()) if d.is_dir() and flat(d)]


def _detect(path: Path, role: str) -> bool:
    if not path.is_dir():
        return False
    if role == "refs":
        return any(_is_identity_dir(d) for d in path.iterdir())
    if role == "gen":
        dirs = _gen_dirs(path)
        if not dirs:
            return False
        j = next(dirs[0].glob("*.json"))
        try:
            return "image_path" in json.loads(j.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            return False
    return False


def _read_refs(path: Path, problems, context) -> dict:
    recs = []
    for d in sorted(x for x in path.iterdir() if x.is_dir()):
        if not _is_identity_dir(d):
            continue
        prompts = {}
        pj = d / "prompt.json"
        if pj.is_file():
            try:
                prompts = json.loads(pj.read_text(encoding="utf-8-sig"))
            except (ValueError, UnicodeDecodeError):
                problems.add(pj, "bad_sidecar", "prompt.json is not JSON; ignored", "warning")
        context.setdefault("stellar_prompts", {})[d.name] = prompts
        for img in sorted(p for p in d.iterdir() if is_image_path(p)):
            attrs = d / f"{img.stem}_attributes.json"
            extra = {"attributes": str(attrs)} if attrs.is_file() else {}
            recs.append(ImageRecord(f"{d.name}/{img.stem}", img, d.name, extra=extra))
    if not recs:
        raise ManifestError(f"{path}: no <identity>/<k>.jpg with <k>_attributes.json")
    context["stellar_refs"] = {str(r.path.resolve()): r for r in recs}
    return {"references": ReferenceSet(recs)}


def _read_gen(path: Path, problems, context) -> dict:
    refs = context.get("stellar_refs", {})
    recs = []
    for d in _gen_dirs(path):
        method = d.name
        jsons = sorted(d.glob("*.json"))
        stems = {j.stem for j in jsons}
        for p in sorted(d.iterdir()):
            if is_image_path(p) and p.stem not in stems:
                problems.add(p, "missing_sidecar", f"no {p.stem}.json beside it: its source photo and prompt are "
                                                   "unknown; skipped")
        for j in jsons:
            img = j.with_suffix(".png")
            if not img.is_file():
                other = [p for p in d.glob(f"{glob_escape(j.stem)}.*") if p != j and is_image_path(p)]
                if other:
                    img = other[0]
                else:
                    problems.add(j, "missing_image", f"no image named {j.stem}.png (or another image type) beside it; "
                                                     "skipped")
                    continue
            try:
                meta = json.loads(j.read_text(encoding="utf-8-sig"))
                src = Path(meta["image_path"])
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                problems.add(j, "bad_sidecar", "no readable image_path: the source photo is unknown; skipped")
                continue
            cands = [src] if src.is_absolute() else [j.parent / src, path / src, path.parent / src]
            hit = next((refs[str(c.resolve())] for c in cands if str(c.resolve()) in refs), None)
            if hit is None:  # match by the last two parts: <identity>/<k>.jpg, as written in the JSON
                tail = src.parts[-2:]
                hit = next((r for r in refs.values() if r.path.parts[-2:] == tail), None)
            subject = hit.subject if hit else (src.parent.name or img.stem.split("-")[0])
            if hit is None:
                problems.add(img, "unknown_source", f"image_path {src} is not among the references; subject taken as "
                                                    f"{subject!r}", "warning")
            extra = {"input_reference": hit.path.name if hit else src.name, "source_image": str(src)}
            if "detectables" in meta:
                det = meta["detectables"]
                extra["detectables"] = ";".join(str(x) for x in det) if isinstance(det, list) else str(det)
            recs.append(ImageRecord(f"{method}/{img.stem}", img, subject, method=method, prompt=meta.get("prompt"),
                                    extra=extra))
    if not recs:
        raise ManifestError(f"{path}: no <identity>-<k>-<prompt>.png with a same-name JSON naming image_path")
    return {"generations": GenerationSet(recs)}


def _read(path: Path, role: str, problems, context: dict) -> dict:
    return {"refs": _read_refs, "gen": _read_gen}[role](path, problems, context)


LAYOUT = Layout("stellar", _detect, _read,
                       "<identity>/<k>.jpg + <k>_attributes.json + prompt.json; flat <identity>-<k>-<prompt>.png + .json "
                       "with image_path", roles=("refs", "gen"), order=30)
