"""Writing a distractor build: images, masks, samples.csv (accepted only), review.csv (every
attempt, editable ``accept``), provenance.jsonl, problems.csv, build.json and sheet.html."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from idbench.data.images import ImageError, load_image
from idbench.data.nearid import join_paths
from idbench.distractors.build import gate_counts
from idbench.distractors.sheet import render_sheet
from idbench.safe_names import safe_filename


def write_build(attempts, out_dir: Path, *, mask_spec: str, source_spec: str, cfg, problems) -> dict:
    """Write every output of a build into ``out_dir``; returns the counts (with ``samples``)."""
    for d in ("images", "rejected", "masks"):
        (out_dir / d).mkdir(parents=True, exist_ok=True)
    samples: dict[str, dict] = {}
    views_rgb = {}
    with open(out_dir / "provenance.jsonl", "w", encoding="utf-8") as prov, \
            open(out_dir / "review.csv", "w", newline="", encoding="utf-8") as rev:
        w = csv.writer(rev)
        w.writerow(["sample_id", "slot", "view", "distractor", "partner", "gate", "reason", "accept"])
        for a in attempts:
            name = safe_filename(f"{a.sample_id}__{a.view.path.stem}__with__{a.partner}") + ".png"
            rel = ""
            if a.distractor is not None:
                rel = f"{'images' if a.accepted else 'rejected'}/{name}"
                Image.fromarray(a.distractor.image).save(out_dir / rel)
            if a.view_mask is not None:
                Image.fromarray(a.view_mask).save(out_dir / "masks" / f"{safe_filename(a.view.id)}.png")
            s = samples.setdefault(a.sample_id, {"views": [], "distractors": []})
            s["views"].append(str(a.view.path.resolve()))
            s["distractors"].append(rel if a.accepted else "")
            w.writerow([a.sample_id, a.slot, str(a.view.path.resolve()), rel, a.partner, a.gate, a.reason, int(a.accepted)])
            if a.accepted:
                prov.write(json.dumps({"distractor": rel, "view": str(a.view.path), "a": a.sample_id, "b": a.partner,
                                       "b_source": str(a.source.path), "masks": mask_spec,
                                       "source": source_spec.split(":")[0], **a.distractor.provenance}) + "\n")
            else:
                problems.add(a.view.path, f"rejected_{a.gate}", f"no distractor with {a.partner!r}: {a.reason}", "rejected")
            if a.view.id not in views_rgb:
                try:
                    views_rgb[a.view.id] = np.asarray(load_image(a.view.path))
                except ImageError:  # already named as a rejection
                    pass
    with open(out_dir / "samples.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["sample_id", "identity", "source", "views", "distractors"])
        w.writeheader()
        for sid, s in samples.items():
            if len(s["views"]) >= 2:
                w.writerow({"sample_id": sid, "identity": sid,
                            "source": f"{source_spec.split(':')[0]}-{mask_spec.split(':')[0]}",
                            "views": join_paths(s["views"]), "distractors": join_paths(s["distractors"])})
    with open(out_dir / "problems.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "kind", "reason", "action"])
        for p in problems.items:
            w.writerow([p.path, p.kind, p.reason, p.action])
    counts = gate_counts(attempts)
    (out_dir / "build.json").write_text(json.dumps({"masks": mask_spec, "source": source_spec, "gates": cfg.to_dict(),
                                                    **counts}, indent=2),
                                        encoding="utf-8")
    (out_dir / "sheet.html").write_text(render_sheet(attempts, counts, views_rgb), encoding="utf-8")
    counts["samples"] = sum(1 for s in samples.values() if len(s["views"]) >= 2)
    return counts
