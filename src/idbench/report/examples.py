"""The report's example images, chosen when a study writes its folder (failures first) and stored
there as thumbnails (``thumbs/``): the report then shows them without reading any file outside
its folder.

* similarity: per method, its worst and best subject: two references | the generation, with its score;
* faces: per face encoder, generations with their detected face boxes drawn (lowest and highest
  IPS) and the images where no face was found;
* retrieval: queries with their top 5 (chosen by the protocol, failures first);
* RCA: generations the oracle names as another identity, beside a real photo of that identity;
* NearID: the samples with the smallest margins: views above their distractors, with the margins.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from idbench.metrics.catalogue import MetricId
from idbench.results import _num

THUMB = 112


def thumbnail_jpeg(path: str | Path, size: int = THUMB, boxes: list | None = None) -> bytes | None:
    """A small JPEG of an image the study read (None when it cannot be read); ``boxes`` (face boxes
    in the image's pixels) are drawn on it."""
    from PIL import Image, ImageDraw

    try:
        with Image.open(path) as im:
            full = im.size
            im.draft("RGB", (2 * size, 2 * size))  # a JPEG decoded at reduced size: a thumbnail needs no more
            im = im.convert("RGB")
            k = im.width / full[0]  # the boxes are in the full image's pixels
            scale = min(1.0, size / max(im.size))
            if boxes:
                draw = ImageDraw.Draw(im)
                for b in boxes:
                    draw.rectangle([float(v) * k for v in b[:4]], outline=(0, 220, 0), width=max(2, int(3 / scale)))
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
        return buf.getvalue()
    except Exception:
        return None


def _metric(res, protocol: str, ident: str | None = None) -> str | None:
    for m, info in res.metrics.items():
        if info.protocol == protocol and (ident is None or MetricId.parse(m).id == ident):
            return m
    return None


def _extreme_rows(res, method: str, metric: str, n_worst: int = 1, n_best: int = 1) -> list[tuple[str, dict]]:
    rows = [r for r in res.rows if r["method"] == method and _num(r.get(metric)) == _num(r.get(metric))]
    if not rows:
        return []
    rows.sort(key=lambda r: _num(r.get(metric)))
    picked = [("worst", r) for r in rows[:n_worst]]
    picked += [("best", r) for r in rows[-n_best:] if r not in [p[1] for p in picked]]
    return picked


def build_examples(res) -> dict:
    """The ``examples`` section (paths, scores, captions), from the per-image rows and the sections."""
    sec = res.sections
    out: dict = {}
    from idbench.stats.ranking import flagged_methods

    flagged = flagged_methods(sec)
    # methods that copy their inputs come last, in every example block (never leading the cards)
    methods = [m for m in res.methods if m not in flagged] + [m for m in res.methods if m in flagged]
    cos = _metric(res, "similarity", "cos")
    refs = (sec.get("similarity") or {}).get("reference_paths") or {}
    if cos and refs:
        items = []
        for m in methods:
            for which, r in _extreme_rows(res, m, cos):
                items.append({"method": m, "subject": r["subject"],
                              "caption": f"{which}: {_num(r[cos]):.3f}" + (" (copies its inputs)" if m in flagged else ""),
                              "images": [{"path": p, "role": "reference"} for p in refs.get(r["subject"], [])[:2]]
                              + [{"path": r["path"], "role": "generation"}]})
        out["similarity"] = {"metric": cos, "items": items}
    for enc, f in (sec.get("face") or {}).items():
        ips = f"ips[{enc}]"
        found = f"face_found[{enc}]"
        boxes = f.get("boxes") or {}
        ref_boxes = f.get("reference_boxes") or {}

        def with_refs(r, boxes=boxes, ref_boxes=ref_boxes):  # the references, faces boxed, then the generation
            return [{"path": p, "role": "reference", "boxes": ref_boxes.get(p)} for p in refs.get(r["subject"], [])[:2]] \
                + [{"path": r["path"], "role": "generation", "boxes": boxes.get(r["image_id"])}]

        scored, faceless, multi, seen = [], [], [], set()
        for m in methods:
            for which, r in _extreme_rows(res, m, ips):
                if _num(r.get(found)) == 1.0 and r["image_id"] not in seen:
                    seen.add(r["image_id"])
                    scored.append({"method": m, "subject": r["subject"], "caption": f"{which} IPS {_num(r[ips]):.3f}",
                                   "images": with_refs(r)})
            for r in [r for r in res.rows if r["method"] == m and _num(r.get(found)) == 0.0][:2]:
                faceless.append({"method": m, "subject": r["subject"], "caption": "no face found",
                                 "images": with_refs(r)})
            for r in [r for r in res.rows if r["method"] == m and len(boxes.get(r["image_id"]) or []) > 1][:2]:
                if r["image_id"] in seen:
                    continue
                seen.add(r["image_id"])
                n = len(boxes[r["image_id"]])
                multi.append({"method": m, "subject": r["subject"],
                              "caption": f"{n} faces; IPS {_num(r.get(ips)):.3f}" if _num(r.get(ips)) == _num(r.get(ips))
                              else f"{n} faces", "images": with_refs(r)})
        out.setdefault("faces", {})[enc] = {"scored": scored, "faceless": faceless[:8], "multi": multi[:6],
                                            "rule": (f.get("policy") or {}).get("faces", "best")}
    rca = sec.get("rca") or {}
    levels = [lv for lv, v in (rca.get("levels") or {}).items() if "error" not in v]
    if levels:
        lv = levels[-1]
        col = f"rca_predicted:{lv}"
        label_ex = rca["levels"][lv].get("label_examples") or {}
        items = []
        for m in methods:  # at the subject level the true label is the row's subject
            wrong = [r for r in res.rows if lv == "subject" and r["method"] == m and r.get(col)
                     and r.get(col) != r["subject"]]
            for r in wrong[:2]:
                pred = r[col]
                items.append({"method": m, "subject": r["subject"], "caption": f"oracle says {pred}",
                              "images": [{"path": r["path"], "role": "generation"}]
                              + ([{"path": label_ex[pred], "role": f"a real {pred}"}] if pred in label_ex else [])})
        out["rca"] = {"level": lv, "items": items}
    nearid = sec.get("nearid") or {}
    if nearid.get("examples"):
        out["nearid"] = {"items": nearid["examples"]}
    return out


def _paths(examples: dict):
    """Every image (dict with ``path``, maybe ``boxes``) the examples name, to store a thumbnail for."""
    sim = examples.get("similarity") or {}
    for it in sim.get("items", []):
        yield from it["images"]
    for f in (examples.get("faces") or {}).values():
        for it in f.get("scored", []) + f.get("faceless", []) + f.get("multi", []):
            yield from it["images"]
    for it in (examples.get("rca") or {}).get("items", []):
        yield from it["images"]


def store_thumbnails(sections: dict, out_dir: Path, res=None) -> list[Path]:
    """Build the examples (when ``res`` is given) and copy every example image into ``out_dir/thumbs``
    as a thumbnail, recording its name beside its path (``thumb``)."""
    from idbench.atomic import atomic_write_bytes
    from idbench.folder import writable_subfolder

    written: list[Path] = []
    if res is not None:
        sections["examples"] = build_examples(res)
    writable_subfolder(out_dir, "thumbs")

    def keep(path: str, boxes=None) -> str | None:
        if not path:
            return None
        key = path + ("#" + repr(boxes) if boxes else "")
        name = "thumbs/" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:20] + ".jpg"
        if not (out_dir / name).is_file():
            data = thumbnail_jpeg(path, boxes=boxes)
            if data is None:
                return None
            atomic_write_bytes(out_dir / name, data)
            written.append(out_dir / name)
        return name

    for img in _paths(sections.get("examples") or {}):
        if "thumb" not in img:
            img["thumb"] = keep(img["path"], img.get("boxes"))
    for it in ((sections.get("examples") or {}).get("nearid") or {}).get("items", []):
        if "view_thumbs" not in it:
            it["view_thumbs"] = [keep(p) for p in it["views"]]
            it["distractor_thumbs"] = [keep(p) for p in it["distractors"]]
    for e in (sections.get("retrieval") or {}).get("examples") or []:
        if "query_thumb" not in e:
            e["query_thumb"] = keep(e["query_path"])
            e["reference_thumb"] = keep(e.get("reference_path"))
            for t in e.get("top", []):
                t["thumb"] = keep(t["path"])
    return written


def headline_metrics(res) -> list[dict]:
    """The figure's panels: for each protocol, its headline metric with the reference lines that give
    it a meaning (real upper bound, impostor or chance)."""
    sec = res.sections
    panels = []
    base = sec.get("baselines") or {}
    for proto, ident in (("similarity", "cos"), ("face", "ips")):
        m = _metric(res, proto, ident)
        if m:
            refs = []
            b = base.get(m) or {}
            if (b.get("real") or {}).get("mean") is not None:
                refs.append(("real references", b["real"]["mean"], "real"))
            if (b.get("impostor") or {}).get("mean") is not None:
                refs.append(("impostors", b["impostor"]["mean"], "chance"))
            panels.append({"metric": m, "refs": refs})
    r = sec.get("retrieval") or {}
    if r.get("levels"):
        lv = r["levels"][-1]
        m = f"ap:{lv}[{r.get('encoder')}]"
        if m in res.metrics:
            refs = []
            if r.get("real", {}).get(lv, {}).get("ap") is not None:
                refs.append(("real references", r["real"][lv]["ap"], "real"))
            ch = [c.get(lv, {}).get("ap") for c in (r.get("chance") or {}).values() if c.get(lv, {}).get("ap") is not None]
            if ch:
                refs.append(("chance", float(np.mean(ch)), "chance"))
            panels.append({"metric": m, "refs": refs})
    rca = sec.get("rca") or {}
    levels = [lv for lv, v in (rca.get("levels") or {}).items() if "error" not in v]
    if levels:
        v = rca["levels"][levels[-1]]
        m = v.get("metric")
        if m in res.metrics:
            panels.append({"metric": m, "refs": [("Acc_real", v["acc_real"], "real"), ("chance 1/K", v["chance_top1"], "chance")]})
    return panels
