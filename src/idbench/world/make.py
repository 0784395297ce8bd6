"""Build a synthetic identity world on disk and simulate personalization methods with known drift.

World layout (``make_world``)::

    DIR/world.json                      seed, parameters, the hierarchy
    DIR/gallery.csv                     path,category,subclass,subject,view,role,distractor_of,background_id
    DIR/refs/<subject>/ref<k>.png       references (role=reference)
    DIR/images/<subject>/view<k>.png    gallery views (role=view)
    DIR/distractors/<subject>/view<k>__<other>.png   instance <other> in exactly that view (role=distractor)
    DIR/masks/...                       subject masks of views and distractors (same relative path)

Generations (``simulate_methods``)::

    GEN/<method>/<subject>/<name>.png + <name>.txt (prompt)
    GEN/<method>/method.json            {"drift": d, "copies_context": bool, "description": ...}
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from idbench.world.render import CATEGORIES, Identity, View, random_marks, random_subclass_traits, random_view, render_view

PROMPTS = ("a photo of sks {c} on the beach", "a photo of sks {c} in the snow", "a photo of sks {c} in a city street",
           "a photo of sks {c} on a wooden table", "a photo of sks {c} in the jungle", "a photo of sks {c} at night")


@dataclass(frozen=True)
class WorldSpec:
    seed: int = 0
    categories: int = 3
    subclasses: int = 2
    instances: int = 3
    views: int = 4
    refs: int = 3
    size: int = 224


@dataclass(frozen=True)
class MethodSpec:
    name: str
    drift: float
    copies_context: bool = False
    copy_paste: bool = False
    description: str = ""


DEFAULT_METHODS = (
    MethodSpec("copy-paste", 0.0, True, True, "returns a reference image unchanged"),
    MethodSpec("faithful", 0.1, False, False, "new scene, identity almost intact"),
    MethodSpec("marks-lost", 0.35, False, False, "new scene, instance marks re-drawn"),
    MethodSpec("context-copy", 0.35, True, False, "reference scene and pose copied, instance marks re-drawn"),
    MethodSpec("subclass-drift", 0.65, False, False, "new scene, colours and proportions drift to another subclass"),
    MethodSpec("category-drift", 0.95, False, False, "new scene, body shape of another category"),
)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def build_identities(spec: WorldSpec) -> dict[str, tuple[str, str, Identity]]:
    """subject id -> (category, subclass id, Identity); deterministic for the seed."""
    if spec.categories > len(CATEGORIES):
        raise ValueError(f"at most {len(CATEGORIES)} categories ({', '.join(CATEGORIES)})")
    out = {}
    for ci, cat in enumerate(CATEGORIES[: spec.categories]):
        for si in range(spec.subclasses):
            traits = random_subclass_traits(_rng(spec.seed, 1, ci, si), cat)
            for ii in range(spec.instances):
                marks = random_marks(_rng(spec.seed, 2, ci, si, ii))
                subject = f"{cat}-s{si}-i{ii}"
                out[subject] = (cat, f"{cat}-s{si}", Identity(**traits, **marks))
    return out


def _save(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def make_world(out: str | Path, spec: WorldSpec = WorldSpec(), progress=None) -> Path:
    """Render the world into ``out``; returns the path of ``gallery.csv``."""
    out = Path(out)
    idents = build_identities(spec)
    rows = []
    subjects = sorted(idents)
    by_subclass: dict[str, list[str]] = {}
    for s in subjects:
        by_subclass.setdefault(idents[s][1], []).append(s)
    views_of: dict[str, list[View]] = {}
    for k, s in enumerate(subjects):
        cat, sub, ident = idents[s]
        rng = _rng(spec.seed, 3, k)
        for r in range(spec.refs):
            v = random_view(rng)
            img, _ = render_view(ident, v, spec.size)
            rel = f"refs/{s}/ref{r}.png"
            _save(out / rel, img)
            rows.append({"path": rel, "category": cat, "subclass": sub, "subject": s, "view": f"ref{r}",
                         "role": "reference", "distractor_of": "", "background_id": v.background})
        views_of[s] = [random_view(rng) for _ in range(spec.views)]
        for j, v in enumerate(views_of[s]):
            img, mask = render_view(ident, v, spec.size)
            rel = f"images/{s}/view{j}.png"
            _save(out / rel, img)
            _save_mask(_mask_path(out, rel), mask)
            rows.append({"path": rel, "category": cat, "subclass": sub, "subject": s, "view": f"view{j}",
                         "role": "view", "distractor_of": "", "background_id": v.background})
            # matched-context distractor: the next instance of the same subclass, same scene and pose
            peers = by_subclass[sub]
            other = peers[(peers.index(s) + 1) % len(peers)]
            if other != s:
                dimg, dmask = render_view(idents[other][2], v, spec.size)
                drel = f"distractors/{s}/view{j}__{other}.png"
                _save(out / drel, dimg)
                _save_mask(_mask_path(out, drel), dmask)
                rows.append({"path": drel, "category": cat, "subclass": sub, "subject": other, "view": f"view{j}",
                             "role": "distractor", "distractor_of": rel, "background_id": v.background})
        if progress:
            progress(1)
    with open(out / "gallery.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    world = {"spec": asdict(spec), "hierarchy": {}, "identities": {}}
    for s in subjects:
        cat, sub, ident = idents[s]
        world["hierarchy"].setdefault(cat, {}).setdefault(sub, []).append(s)
        world["identities"][s] = asdict(ident)
    world["views"] = {s: [asdict(v) for v in vs] for s, vs in views_of.items()}
    (out / "world.json").write_text(json.dumps(world, indent=1))
    return out / "gallery.csv"


def _save_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask)


def _mask_path(out: Path, rel: str) -> Path:
    return out / "masks" / rel


# ----------------------------------------------------------------------------- simulated methods


def drift_identity(ident: Identity, d: float, rng: np.random.Generator, donors: dict) -> Identity:
    """Apply identity drift d in [0, 1]: instance marks go first, then subclass traits, then shape.

    ``donors`` has ``"subclass"``: an Identity of another subclass of the same category and
    ``"category"``: an Identity of another category.
    """
    marks_lost = float(np.clip(d / 0.3, 0, 1))
    sub_lost = float(np.clip((d - 0.3) / 0.35, 0, 1))
    cat_lost = float(np.clip((d - 0.65) / 0.3, 0, 1))
    new = random_marks(rng)
    n_keep = int(round((1 - marks_lost) * len(ident.spots)))
    fresh = tuple((float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.5, 0.5)), float(rng.uniform(0.08, 0.16)))
                  for _ in range(len(ident.spots) - n_keep))
    spots = ident.spots[:n_keep] + fresh
    out = replace(
        ident,
        spots=spots,
        patch=ident.patch if marks_lost < 0.5 else new["patch"],
        patch_color=ident.patch_color if marks_lost < 0.5 else new["patch_color"],
        stripes=ident.stripes if marks_lost < 0.75 else new["stripes"],
    )
    if sub_lost > 0:
        o = donors["subclass"]
        mix = lambda a, b: tuple(int(round(x * (1 - sub_lost) + y * sub_lost)) for x, y in zip(a, b))  # noqa: E731
        out = replace(out, primary=mix(out.primary, o.primary), secondary=mix(out.secondary, o.secondary),
                      aspect=out.aspect * (1 - sub_lost) + o.aspect * sub_lost, size=out.size * (1 - sub_lost) + o.size * sub_lost)
    if cat_lost >= 0.5:
        out = replace(out, category=donors["category"].category)
    return out


def simulate_methods(world_dir: str | Path, out: str | Path, methods=DEFAULT_METHODS, *, per_subject: int = 4,
                     seed: int = 0, progress=None) -> list[Path]:
    """Write each method's generations for every subject of the world."""
    world_dir, out = Path(world_dir), Path(out)
    world = json.loads((world_dir / "world.json").read_text())
    spec = WorldSpec(**world["spec"])
    idents = build_identities(spec)
    subjects = sorted(idents)
    with open(world_dir / "gallery.csv", newline="") as f:
        refs = {}
        for r in csv.DictReader(f):
            if r["role"] == "reference":
                refs.setdefault(r["subject"], []).append(r)
    written = []
    for mi, m in enumerate(methods):
        mdir = out / m.name
        mdir.mkdir(parents=True, exist_ok=True)
        (mdir / "method.json").write_text(json.dumps({"drift": m.drift, "copies_context": m.copies_context,
                                                      "copy_paste": m.copy_paste, "description": m.description}))
        for si, s in enumerate(subjects):
            cat, sub, ident = idents[s]
            rng = _rng(seed, 10, mi, si)
            other_sub = [t for t in subjects if idents[t][0] == cat and idents[t][1] != sub]
            other_cat = [t for t in subjects if idents[t][0] != cat]
            donors = {"subclass": idents[other_sub[0]][2] if other_sub else ident,
                      "category": idents[other_cat[0]][2] if other_cat else ident}
            for k in range(per_subject):
                name = f"p{k}"
                prompt = PROMPTS[k % len(PROMPTS)].format(c=cat)
                target = mdir / s / f"{name}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                ref = refs[s][k % len(refs[s])]
                if m.copy_paste:
                    shutil.copyfile(world_dir / ref["path"], target)
                else:
                    if m.copies_context:
                        view = _reference_view(spec, subjects.index(s), k % spec.refs)
                    else:
                        view = random_view(rng)
                    img, _ = render_view(drift_identity(ident, m.drift, rng, donors), view, spec.size)
                    _save(target, img)
                (mdir / s / f"{name}.txt").write_text(prompt)
                written.append(target)
        if progress:
            progress(1)
    return written


def _reference_view(spec: WorldSpec, subject_index: int, r: int) -> View:
    """The view of reference ``r`` of a subject, re-drawn from the same seed as in ``make_world``."""
    rng = _rng(spec.seed, 3, subject_index)
    views = [random_view(rng) for _ in range(r + 1)]
    return views[r]


def method_truth(gen_dir: str | Path) -> dict[str, dict]:
    """``{method: method.json contents}`` for a generations folder written by ``simulate_methods``."""
    out = {}
    for p in sorted(Path(gen_dir).glob("*/method.json")):
        out[p.parent.name] = json.loads(p.read_text())
    return out
