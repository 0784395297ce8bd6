"""MultiID-Bench (WithAnyone): one folder per sample, ``<sample>/{ori.jpg, output_0.jpg, ref_1.jpg,
ref_2.jpg[, ref_3.jpg, ref_4.jpg], meta.json}``.

``ref_k`` are the references (one person each; the sample is the subject), ``output_*`` the generated
images of the method (the given folder's name), ``ori`` the ground-truth photo a generation is
compared with (``extra["ground_truth"]``), ``meta.json``'s ``caption_en`` the prompt. Given as
``--refs DIR --gen DIR`` (the same folder, or a generated copy of the tree holding the outputs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from idbench.data.images import is_image_path
from idbench.data.layout import Layout
from idbench.data.manifest import ManifestError
from idbench.data.records import GenerationSet, ImageRecord, ReferenceSet

_REF = re.compile(r"ref_(\d+)")
_OUT = re.compile(r"output_(\d+)")


def _files(d: Path, pattern: re.Pattern) -> list[tuple[int, Path]]:
    out = [(int(m.group(1)), p) for p in d.iterdir() if p.is_file() and is_image_path(p)
           for m in [pattern.fullmatch(p.stem)] if m]
    return sorted(out)


def _samples(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".") and _files(d, _REF)
                  and (_files(d, _OUT) or (d / "meta.json").is_file()))


def _detect(path: Path, role: str) -> bool:
    return role in ("refs", "gen") and bool(_samples(path))


def _meta(d: Path, problems) -> dict:
    p = d / "meta.json"
    if not p.is_file():
        return {}
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
        return m if isinstance(m, dict) else {}
    except (OSError, UnicodeDecodeError, ValueError) as e:
        problems.add(p, "unreadable", f"meta.json not read ({e}); no prompt for this sample", "warning")
        return {}


def _read(path: Path, role: str, problems, context: dict) -> dict:
    samples = _samples(path)
    if role == "refs":
        recs = [ImageRecord(f"{d.name}/ref_{k}", p, d.name) for d in samples for k, p in _files(d, _REF)]
        if not recs:
            raise ManifestError(f"{path}: no <sample>/ref_<k>.jpg")
        return {"references": ReferenceSet(recs)}
    method = path.name
    recs = []
    for d in samples:
        meta = _meta(d, problems)
        ori = next((p for p in sorted(d.iterdir()) if p.is_file() and p.stem == "ori" and is_image_path(p)), None)
        outs = _files(d, _OUT)
        if not outs:
            problems.add(d, "empty", "no output_<k> image in this sample; skipped")
        for k, p in outs:
            extra = {"ground_truth": str(ori)} if ori is not None else {}
            recs.append(ImageRecord(f"{d.name}/output_{k}", p, d.name, method=method,
                                    prompt=meta.get("caption_en") or None, extra=extra))
    if not recs:
        raise ManifestError(f"{path}: no <sample>/output_<k>.jpg")
    return {"generations": GenerationSet(recs)}


LAYOUT = Layout("multiid", _detect, _read, "MultiID-Bench: <sample>/{ori.jpg, output_0.jpg, ref_1.jpg, ref_2.jpg, meta.json}",
                roles=("refs", "gen"), order=35)
