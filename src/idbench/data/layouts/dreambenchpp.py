"""DreamBench++ (yuangpeng/dreambench_plus).

* References: ``data/images/<category>/NN.jpg`` with ``data/captions/<category>/NN.txt`` (line 1
  the subject's name, then its prompts), categories ``animal``, ``human``, ``object``, ``style``.
  The subject id is DreamBench++'s collection id: ``live_subject_animal_00_<name>`` (animals and
  humans are live subjects), ``object_03_<name>``, ...; the category is the ``class`` level.
* Generations: ``samples/<method>/tgt_image/<collection>/<p>_<k>.jpg`` (``src_image`` holds the
  reference given to the generator, ``text`` the prompt ``<p>_<k>.txt``).
* GPT scores: per-sample JSON files with ``method``, ``collection_id``, ``prompt_index`` and
  ``score`` (0-4), anywhere under a ``data_gpt_rating`` folder; they become the per-image metric
  ``gpt_cp`` or ``gpt_pf`` (by the folder name: concept preservation / prompt following).
* Human ratings: ``<method>-cp.json`` / ``<method>-pf.json`` mapping ``<collection>-<p>`` to a
  score, one folder per rater group (``group1/``, ``group2/``); concept-preservation ratings are
  read (``-cp``), matched to sample ``k = 0`` (DreamBench++ makes one image per prompt).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from idbench.data.layout import Layout
from idbench.data.manifest import ManifestError
from idbench.data.records import GenerationSet, ImageRecord, ReferenceSet

CATEGORIES = ("animal", "human", "object", "style")


def _data_dir(path: Path) -> Path | None:
    for d in (path, path / "data"):
        if (d / "images").is_dir() and (d / "captions").is_dir() and any((d / "images" / c).is_dir() for c in CATEGORIES):
            return d
    return None


def collection_id(category: str, index: str, subject: str) -> str:
    cat = f"live_subject_{category}" if category in ("animal", "human") else category
    return "_".join([cat, index, subject.lower().replace(" ", "_")])


def _samples_dir(path: Path) -> Path | None:
    for d in (path, path / "samples"):
        if d.is_dir() and any((m / "tgt_image").is_dir() for m in d.iterdir() if m.is_dir()):
            return d
    return None


def _detect(path: Path, role: str) -> bool:
    if not path.is_dir():
        return False
    if role == "refs":
        return _data_dir(path) is not None
    if role == "gen":
        return _samples_dir(path) is not None
    if role == "human":
        return any(path.rglob("*-cp.json")) or any(path.rglob("*-pf.json"))
    return False


def _read_refs(path: Path, problems, context) -> dict:
    d = _data_dir(path)
    recs = []
    for cat in CATEGORIES:
        for img in sorted((d / "images" / cat).glob("*.jpg")) if (d / "images" / cat).is_dir() else []:
            cap = d / "captions" / cat / (img.stem + ".txt")
            if not cap.is_file():
                problems.add(img, "missing_caption", f"no caption file {cap}; image skipped")
                continue
            lines = [x.strip() for x in cap.read_text(encoding="utf-8-sig", errors="replace").splitlines()]
            if not lines or not lines[0]:
                problems.add(cap, "bad_caption", "empty caption file; image skipped")
                continue
            cid = collection_id(cat, img.stem, lines[0])
            context.setdefault("dreambenchpp_prompts", {})[cid] = [x for x in lines[1:] if x]
            recs.append(ImageRecord(cid, img, cid, labels={"class": cat}, extra={"name": lines[0]}))
    if not recs:
        raise ManifestError(f"{d}: no DreamBench++ image with a caption")
    return {"references": ReferenceSet(recs)}


#: the extensions DreamBench++'s evaluation globs (dreambench_plus/utils/image_utils.py: IMAGE_EXT)
SOURCE_EXTS = (".png", ".jpeg", ".jpg")


def source_image(folder: Path, name: str, problems=None) -> Path | None:
    """The source image paired with the generation ``name``, as DreamBench++'s evaluation pairs them
    (``metrics/dino_score.py`` ``multigpu_eval_dino_score``: the relative path up to its first ``.``
    must match, whatever the extension: ``0_1.png`` pairs with ``src_image/.../0_1.jpg``). Two
    candidates with the same stem (which DreamBench++'s count check would refuse) are named; the one with
    the generation's own extension is taken if present.

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = (d / "0_1.jpg").write_bytes(b"x")
    >>> source_image(d, "0_1.png").name
    '0_1.jpg'
    """
    stem = name.split(".")[0]
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.split(".")[0] == stem
                   and p.suffix.lower() in SOURCE_EXTS)
    if len(found) > 1:
        same = [p for p in found if p.name == name]
        if problems is not None:
            problems.add(folder / name, "ambiguous_source", f"{len(found)} source images share the stem {stem!r} "
                         f"({', '.join(p.name for p in found)}); DreamBench++ would refuse the folder. Using "
                         f"{(same or found)[0].name}", "warning")
        return (same or found)[0]
    return found[0] if found else None


def _read_gen(path: Path, problems, context) -> dict:
    root = _samples_dir(path)
    recs = []
    for m in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (m / "tgt_image").is_dir():
            problems.add(m, "empty_method", f"method folder {m.name!r} has no tgt_image/ folder; method left out")
    for mdir in sorted(m for m in root.iterdir() if (m / "tgt_image").is_dir()):
        method = mdir.name
        for img in sorted(p for p in (mdir / "tgt_image").rglob("*") if p.is_file() and not p.name.startswith(".")):
            if img.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
                if img.suffix.lower() not in (".txt", ".json"):
                    problems.add(img, "not_image", "not an image file; skipped")
                continue
            if img.parent.parent != mdir / "tgt_image":
                problems.add(img, "bad_layout", f"expected tgt_image/<collection>/<p>_<k>.jpg, found it "
                                                f"{len(img.relative_to(mdir / 'tgt_image').parts) - 2} folder(s) deeper; "
                                                "skipped")
                continue
            coll = img.parent.name
            m = re.fullmatch(r"(\d+)_(\d+)", img.stem)
            if not m:
                problems.add(img, "bad_name", "expected <prompt>_<sample>.jpg; skipped")
                continue
            txt = mdir / "text" / coll / (img.stem + ".txt")
            prompt = txt.read_text(encoding="utf-8-sig", errors="replace").strip() if txt.is_file() else None
            if prompt is None:
                plist = context.get("dreambenchpp_prompts", {}).get(coll, [])
                p = int(m.group(1))
                prompt = plist[p] if p < len(plist) else None
            extra = {"prompt_index": m.group(1), "sample": m.group(2)}
            src = source_image(mdir / "src_image" / coll, img.name, problems)
            if src is not None:
                extra["source_image"] = str(src)
            recs.append(ImageRecord(f"{method}/{coll}/{img.stem}", img, coll, method=method, prompt=prompt, extra=extra))
    if not recs:
        raise ManifestError(f"{root}: no samples/<method>/tgt_image/<collection>/<p>_<k>.jpg")
    out = {"generations": GenerationSet(recs)}
    gpt = _gpt_scores(path.parent if (path / "tgt_image").exists() else path, problems)
    if gpt:
        out["extra_metrics"] = gpt
    return out


def _gpt_scores(root: Path, problems) -> dict:
    metrics: dict[str, dict] = {}
    for d in [p for p in [root, root.parent] if p.is_dir()]:
        for f in sorted((d / "data_gpt_rating").rglob("*.json")) if (d / "data_gpt_rating").is_dir() else []:
            name = "gpt_pf" if "prompt_following" in str(f) else "gpt_cp"
            try:
                obj = json.loads(f.read_text(encoding="utf-8-sig"))
                items = obj if isinstance(obj, list) else [obj]
                for it in items:
                    if not isinstance(it, dict) or not {"method", "collection_id", "prompt_index", "score"} <= set(it):
                        continue
                    iid = f"{it['method']}/{it['collection_id']}/{int(it['prompt_index'])}_0"
                    metrics.setdefault(name, {"_info": {"description": f"DreamBench++ GPT score ({name[4:]}), 0-4",
                                                        "protocol": "external"}})[iid] = float(it["score"])
            except (ValueError, TypeError, UnicodeDecodeError) as e:
                problems.add(f, "bad_rating", f"unreadable GPT score file ({type(e).__name__}); skipped")
        if metrics:
            break
    return metrics


def _read_human(path: Path, problems, context) -> dict:
    ratings: dict[str, dict[str, float]] = {}
    for f in sorted(path.rglob("*-cp.json")):
        method = f.name[: -len("-cp.json")]
        rater = f.parent.name if f.parent != path else "all"
        try:
            obj = json.loads(f.read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as e:
            problems.add(f, "bad_rating", f"not JSON ({type(e).__name__}); skipped")
            continue
        if not isinstance(obj, dict):
            problems.add(f, "bad_rating", f"expected a JSON object mapping <collection>-<prompt> to a score, found a "
                                          f"{type(obj).__name__}; skipped")
            continue
        for key, score in obj.items():
            coll, _, p = str(key).rpartition("-")
            if not coll or not p.isdigit():
                problems.add(f"{f}:{key}", "bad_rating", "key is not <collection>-<prompt index>; skipped")
                continue
            try:
                ratings.setdefault(f"{method}/{coll}/{int(p)}_0", {})[rater] = float(score)
            except (TypeError, ValueError):
                problems.add(f"{f}:{key}", "bad_rating", f"score {score!r} is not a number; skipped")
    return {"ratings": ratings}


def _read(path: Path, role: str, problems, context: dict) -> dict:
    return {"refs": _read_refs, "gen": _read_gen, "human": _read_human}[role](path, problems, context)


LAYOUT = Layout("dreambenchpp", _detect, _read,
                       "data/images/<category>/NN.jpg + data/captions/...; samples/<method>/tgt_image/<collection>/<p>_<k>.jpg; "
                       "<method>-cp.json human ratings", roles=("refs", "gen", "human"), order=20)
