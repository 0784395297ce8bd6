"""`idbench distractors build`: matched-context near-identity distractors for real photos."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from idbench.cli._common import stderr_problem_log, user_errors


@click.group()
def distractors():
    """Build near-identity distractors (NearID samples) from labelled photos."""


@distractors.command()
@click.option("--pool", "pool_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled photos: manifest path,subject,<parent label> (e.g. class).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--masks", "mask_spec", default="grabcut", show_default=True,
              help="Mask provider: grabcut[:margin] (offline default) or file:<dir> (masks named <stem>.png).")
@click.option("--pair-level", default=None, help="Pair each subject with another of the same label at this level [default: the parent level].")
@click.option("--views", "n_views", type=click.IntRange(2), default=3, show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@user_errors
def build(pool_path, out_dir, mask_spec, pair_level, n_views, quiet):
    """For each view of subject A, put subject B (same parent label) into A's exact background.

    A is removed by OpenCV inpainting over its dilated mask, B is cut out by its mask, scaled to
    A's box and composited with a feathered edge. Writes OUT/images, OUT/masks (for inspection),
    OUT/samples.csv (a NearID samples manifest) and OUT/provenance.jsonl.
    """
    import cv2
    import numpy as np
    from PIL import Image
    from tqdm.auto import tqdm

    from idbench.data.images import ImageError, load_image
    from idbench.data.manifest import load_gallery
    from idbench.distractors import make_distractor, mask_provider
    from idbench.safe_names import safe_filename

    problems = stderr_problem_log(quiet)
    pool = load_gallery(pool_path, problems)
    levels = list(pool.levels)
    level = pair_level or (levels[-2] if len(levels) >= 2 else None)
    if level is None:
        raise click.ClickException("the pool has no label above subject to pair subjects by (use --pair-level)")
    try:
        provider = mask_provider(mask_spec)
    except ValueError as e:
        raise click.ClickException(str(e))
    by_subject = pool.by_subject()
    by_label: dict[str, list[str]] = {}
    for s, recs in sorted(by_subject.items()):
        by_label.setdefault(recs[0].label(level), []).append(s)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "images").mkdir(exist_ok=True)
    (out_dir / "masks").mkdir(exist_ok=True)
    masks: dict[str, np.ndarray] = {}

    def rgb_and_mask(rec):
        rgb = np.asarray(load_image(rec.path))
        if rec.id not in masks:
            masks[rec.id] = provider(rgb, rec.path)
            Image.fromarray(masks[rec.id]).save(out_dir / "masks" / f"{safe_filename(rec.id)}.png")
        return rgb, masks[rec.id]

    samples, n_made = [], 0
    with open(out_dir / "provenance.jsonl", "w", encoding="utf-8") as prov:
        pairs = [(a, subs[(i + 1) % len(subs)]) for subs in by_label.values() if len(subs) > 1 for i, a in enumerate(subs)]
        for a, b in tqdm(pairs, desc="distractors", disable=quiet, leave=False):
            views, dists = [], []
            try:
                b_rgb, b_mask = rgb_and_mask(by_subject[b][0])
            except (ImageError, ValueError, OSError, cv2.error) as e:
                problems.add(by_subject[b][0].path, "mask", f"no mask ({_reason(e)}); subject {b!r} not used as a distractor")
                continue
            for rec in by_subject[a][:n_views]:
                try:
                    a_rgb, a_mask = rgb_and_mask(rec)
                    d = make_distractor(a_rgb, a_mask, b_rgb, b_mask)
                except (ImageError, ValueError, OSError, cv2.error) as e:
                    problems.add(rec.path, "mask", f"no distractor: {_reason(e)}")
                    views.append(str(rec.path.resolve()))
                    dists.append("")
                    continue
                name = safe_filename(f"{a}__{rec.path.stem}__with__{b}") + ".png"
                Image.fromarray(d.image).save(out_dir / "images" / name)
                Image.fromarray(d.changed).save(out_dir / "masks" / f"changed__{name}")
                prov.write(json.dumps({"distractor": f"images/{name}", "view": str(rec.path), "a": a, "b": b,
                                       "b_source": str(by_subject[b][0].path), "masks": mask_spec, **d.provenance}) + "\n")
                views.append(str(rec.path.resolve()))
                dists.append(f"images/{name}")
                n_made += 1
            if len(views) >= 2:
                samples.append({"sample_id": a, "identity": a, "source": f"composite-{mask_spec.split(':')[0]}",
                                "views": ";".join(views), "distractors": ";".join(dists)})
    with open(out_dir / "samples.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["sample_id", "identity", "source", "views", "distractors"])
        w.writeheader()
        w.writerows(samples)
    click.echo(f"{n_made} distractors in {len(samples)} samples -> {out_dir}/samples.csv "
               f"({len(problems)} problems)")


def _reason(e: Exception) -> str:
    from idbench.data.images import ImageError

    if isinstance(e, ImageError):
        return e.reason
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[-1] if text else ''}"
