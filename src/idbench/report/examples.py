"""The report's example images, chosen when a study writes its folder (failures first) and stored
there as thumbnails (``thumbs/``): the report then shows them without reading any file outside
its folder.

* similarity: per method, its worst and best subject: two references | the generation, with its score;
* faces: per face encoder, generations with their detected face boxes drawn (lowest and highest
  IPS) and the images where no face was found;
* retrieval: queries with their top 5 (chosen by the protocol, failures first);
* RCA: generations the oracle names as another identity, beside a real photo of that identity;
* NearID: the samples with the smallest margins (chosen by the protocol, in its section): views
  above their distractors, with the margins.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from idbench.metrics.catalogue import MetricId
from idbench.results import _num
from idbench.section import Section

THUMB = 112


@dataclass(kw_only=True)
class ExampleImage:
    path: str
    role: str  # "reference", "generation", "a real <identity>"
    boxes: list[list[float]] | None = None  # face boxes drawn on its thumbnail
    thumb: str | None = None  # its thumbnail in the results folder


@dataclass(kw_only=True)
class ExampleCard:
    method: str
    subject: str
    caption: str
    images: list[ExampleImage] = field(default_factory=list)


@dataclass(kw_only=True)
class SimilarityExamples:
    metric: str
    items: list[ExampleCard] = field(default_factory=list)


@dataclass(kw_only=True)
class FaceExamples:
    scored: list[ExampleCard] = field(default_factory=list)
    faceless: list[ExampleCard] = field(default_factory=list)
    multi: list[ExampleCard] = field(default_factory=list)
    rule: str = "best"


@dataclass(kw_only=True)
class RCAExamples:
    level: str
    items: list[ExampleCard] = field(default_factory=list)


@dataclass(kw_only=True)
class ExamplesSection(Section):
    """``sections.examples``: the report's example images, chosen when the folder is written."""

    NAME = "examples"
    VERSION = 2  # 1: also the NearID examples (now in the nearid section, with their thumbnails)
    similarity: SimilarityExamples | None = None
    faces: dict[str, FaceExamples] = field(default_factory=dict)  # face encoder -> its examples
    rca: RCAExamples | None = None

    @classmethod
    def migrate(cls, data, version):
        data.pop("nearid", None)
        return data


def thumbnail_jpeg(path: str | Path, size: int = THUMB, boxes: list | None = None) -> bytes | None:
    """A small JPEG of an image the study read (None when it cannot be read), as the encoders saw it:
    decoded by :func:`~idbench.data.images.load_image` (upright by its EXIF orientation; a JPEG at
    reduced size, its shorter side at least ``2 size``). ``boxes`` (face boxes in the pixels of the
    upright image at full size, as the face encoders found them) are drawn on it."""
    from PIL import Image, ImageDraw

    from idbench.data.images import load_image

    try:
        im = load_image(path, min_side=2 * size)
        scale = min(1.0, size / max(im.size))
        if boxes:
            with Image.open(path) as header:  # the boxes are in the full image's pixels
                k = max(im.size) / max(header.size)  # (the longer side: the same upright or not)
            draw = ImageDraw.Draw(im)
            for b in boxes:
                draw.rectangle([float(v) * k for v in b[:4]], outline=(0, 220, 0), width=max(2, int(3 / scale)))
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        return buf.getvalue()
    except Exception:  # noqa: BLE001 - no thumbnail; the run has named why the image cannot be read
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


def build_examples(res) -> ExamplesSection:
    """The ``examples`` section (paths, scores, captions), from the per-image rows and the sections."""
    from idbench.section import section_of

    sec = {name: section_of(res.sections, name) for name in list(res.sections)}
    out = ExamplesSection()
    from idbench.stats.ranking import flagged_methods

    flagged = flagged_methods(sec)
    # methods that copy their inputs come last, in every example block (never leading the cards)
    methods = [m for m in res.methods if m not in flagged] + [m for m in res.methods if m in flagged]
    cos = _metric(res, "similarity", "cos")
    sim = sec.get("similarity")
    refs = sim.reference_paths if sim is not None else {}
    if cos and refs:
        items = []
        for m in methods:
            for which, r in _extreme_rows(res, m, cos):
                items.append(ExampleCard(method=m, subject=r["subject"],
                                         caption=f"{which}: {_num(r[cos]):.3f}" + (" (copies its inputs)" if m in flagged
                                                                                   else ""),
                                         images=[ExampleImage(path=p, role="reference")
                                                 for p in refs.get(r["subject"], [])[:2]]
                                         + [ExampleImage(path=r["path"], role="generation")]))
        out.similarity = SimilarityExamples(metric=cos, items=items)
    face_sec = sec.get("face")
    for enc, f in (face_sec.encoders if face_sec is not None else {}).items():
        ips = f"ips[{enc}]"
        found = f"face_found[{enc}]"

        def with_refs(r, boxes=f.boxes, ref_boxes=f.reference_boxes):  # the references, faces boxed, then the generation
            return [ExampleImage(path=p, role="reference", boxes=ref_boxes.get(p)) for p in refs.get(r["subject"], [])[:2]] \
                + [ExampleImage(path=r["path"], role="generation", boxes=boxes.get(r["image_id"]))]

        scored, faceless, multi, seen = [], [], [], set()
        for m in methods:
            for which, r in _extreme_rows(res, m, ips):
                if _num(r.get(found)) == 1.0 and r["image_id"] not in seen:
                    seen.add(r["image_id"])
                    scored.append(ExampleCard(method=m, subject=r["subject"], caption=f"{which} IPS {_num(r[ips]):.3f}",
                                              images=with_refs(r)))
            for r in [r for r in res.rows if r["method"] == m and _num(r.get(found)) == 0.0][:2]:
                faceless.append(ExampleCard(method=m, subject=r["subject"], caption="no face found", images=with_refs(r)))
            for r in [r for r in res.rows if r["method"] == m and len(f.boxes.get(r["image_id"]) or []) > 1][:2]:
                if r["image_id"] in seen:
                    continue
                seen.add(r["image_id"])
                n = len(f.boxes[r["image_id"]])
                multi.append(ExampleCard(method=m, subject=r["subject"],
                                         caption=f"{n} faces; IPS {_num(r.get(ips)):.3f}"
                                         if _num(r.get(ips)) == _num(r.get(ips)) else f"{n} faces", images=with_refs(r)))
        out.faces[enc] = FaceExamples(scored=scored, faceless=faceless[:8], multi=multi[:6], rule=f.policy.faces)
    rca = sec.get("rca")
    levels = [lv for lv, v in (rca.levels if rca is not None else {}).items() if not v.error]
    if levels:
        lv = levels[-1]
        col = f"rca_predicted:{lv}"
        label_ex = rca.levels[lv].label_examples
        items = []
        for m in methods:  # at the subject level the true label is the row's subject
            wrong = [r for r in res.rows if lv == "subject" and r["method"] == m and r.get(col)
                     and r.get(col) != r["subject"]]
            for r in wrong[:2]:
                pred = r[col]
                items.append(ExampleCard(method=m, subject=r["subject"], caption=f"oracle says {pred}",
                                         images=[ExampleImage(path=r["path"], role="generation")]
                                         + ([ExampleImage(path=label_ex[pred], role=f"a real {pred}")]
                                            if pred in label_ex else [])))
        out.rca = RCAExamples(level=lv, items=items)
    return out


def _images(examples: ExamplesSection):
    """Every image of the cards, to store a thumbnail for."""
    cards = list(examples.similarity.items) if examples.similarity else []
    for f in examples.faces.values():
        cards += f.scored + f.faceless + f.multi
    cards += examples.rca.items if examples.rca else []
    for card in cards:
        yield from card.images


def store_thumbnails(sections: dict, out_dir: Path, res=None) -> list[Path]:
    """Build the examples (when ``res`` is given) and copy every example image into ``out_dir/thumbs``
    as a thumbnail, recording its name beside its path (``thumb``)."""
    from idbench.atomic import atomic_write_bytes
    from idbench.folder import writable_subfolder

    written: list[Path] = []
    if res is not None:
        sections["examples"] = build_examples(res)
    writable_subfolder(out_dir, "thumbs")

    def keep(path: str | None, boxes=None) -> str | None:
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

    from idbench.section import section_of

    examples = section_of(sections, "examples")
    for img in _images(examples) if examples is not None else ():
        if img.thumb is None:
            img.thumb = keep(img.path, img.boxes)
    nearid = section_of(sections, "nearid")
    for it in nearid.examples if nearid is not None else []:
        if it.view_thumbs is None:
            it.view_thumbs = [keep(p) for p in it.views]
            it.distractor_thumbs = [keep(p) for p in it.distractors]
    retrieval = section_of(sections, "retrieval")
    for e in retrieval.examples if retrieval is not None else []:
        if e.query_thumb is None:
            e.query_thumb = keep(e.query_path)
            e.reference_thumb = keep(e.reference_path)
            for t in e.top:
                t.thumb = keep(t.path)
    return written


def headline_metrics(res) -> list[dict]:
    """The figure's panels: for each protocol, its headline metric with the reference lines that give
    it a meaning (real upper bound, impostor or chance)."""
    from idbench.section import section_of

    sec = {name: section_of(res.sections, name) for name in list(res.sections)}
    panels = []
    base = sec.get("baselines")
    for proto, ident in (("similarity", "cos"), ("face", "ips")):
        m = _metric(res, proto, ident)
        if m:
            refs = []
            b = base.columns.get(m) if base is not None else None
            if b is not None and b.real and b.real.get("mean") is not None:
                refs.append(("real references", b.real["mean"], "real"))
            if b is not None and b.impostor and b.impostor.get("mean") is not None:
                refs.append(("impostors", b.impostor["mean"], "chance"))
            panels.append({"metric": m, "refs": refs})
    r = sec.get("retrieval")
    if r is not None and r.levels:
        lv = r.levels[-1]
        m = f"ap:{lv}[{r.encoder}]"
        if m in res.metrics:
            refs = []
            if r.real.get(lv, {}).get("ap") is not None:
                refs.append(("real references", r.real[lv]["ap"], "real"))
            ch = [c.get(lv, {}).get("ap") for c in r.chance.values() if c.get(lv, {}).get("ap") is not None]
            if ch:
                refs.append(("chance", float(np.mean(ch)), "chance"))
            panels.append({"metric": m, "refs": refs})
    rca = sec.get("rca")
    levels = [lv for lv, v in (rca.levels if rca is not None else {}).items() if not v.error]
    if levels:
        v = rca.levels[levels[-1]]
        if v.metric in res.metrics:
            panels.append({"metric": v.metric, "refs": [("Acc_real", v.acc_real, "real"),
                                                        ("chance 1/K", v.chance_top1, "chance")]})
    return panels
