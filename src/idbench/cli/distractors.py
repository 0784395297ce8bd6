"""`idbench distractors build`: matched-context near-identity distractors for real photos."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from idbench.cli._common import print_problem_counts, stderr_problem_log, user_errors


@click.group()
def distractors():
    """Build near-identity distractors (NearID samples) from labelled photos."""


@distractors.command()
@click.option("--pool", "pool_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled photos: manifest path,subject,<parent label> (e.g. class).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--masks", "mask_spec", default="grabcut", show_default=True,
              help="Mask provider: grabcut[:margin] (offline), file:<dir> (masks named <stem>.png), hf:<SAM model>.")
@click.option("--source", "source_spec", default="composite", show_default=True,
              help="composite (another subject's photo pasted in) or diffusers:<inpainting model id or folder> "
                   "(A's region redrawn as another instance of its parent label; needs idbench[inpaint]).")
@click.option("--steps", type=click.IntRange(1), default=30, show_default=True, help="Inpainting steps (diffusers source).")
@click.option("--seed", type=int, default=0, show_default=True, help="Inpainting seed (diffusers source).")
@click.option("--size", "inpaint_size", type=click.IntRange(64), default=512, show_default=True,
              help="Side the inpainting pipeline runs at (diffusers source; its output is resized back).")
@click.option("--pair-level", default=None, help="Pair each subject with another of the same label at this level [default: the parent level].")
@click.option("--views", "n_views", type=click.IntRange(2), default=3, show_default=True)
@click.option("--max-upscale", type=click.FloatRange(1.0), default=2.0, show_default=True,
              help="Reject when B's source crop would be scaled up more than this.")
@click.option("--min-area", type=click.FloatRange(0, 1), default=0.02, show_default=True, help="Smallest mask share of the image.")
@click.option("--max-area", type=click.FloatRange(0, 1), default=0.85, show_default=True, help="Largest mask share of the image.")
@click.option("--min-change", type=click.FloatRange(0), default=8.0, show_default=True,
              help="Smallest mean |distractor - view| (0-255) inside the placed box.")
@click.option("--max-uncovered", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Largest share of A's mask left outside B's pasted mask (A's inpainted remains).")
@click.option("-q", "--quiet", is_flag=True)
@user_errors
def build(pool_path, out_dir, mask_spec, source_spec, steps, seed, inpaint_size, pair_level, n_views, max_upscale, min_area, max_area, min_change, max_uncovered,
          quiet):
    """For each view of subject A, put subject B (same parent label) into A's exact background.

    Every attempt passes quality gates or is rejected with a named reason: the mask (empty, no
    subject, too small or large, fragmented), B's upscaling, a distractor too similar to its
    view, A's remains outside B. Writes OUT/samples.csv (accepted distractors only; a rejected
    view leaves an empty slot, which NearID scores as incomplete), OUT/review.csv (every attempt,
    with an editable accept column that `nearid eval` honours), OUT/sheet.html (view | mask |
    distractor | decision), OUT/problems.csv, OUT/provenance.jsonl and OUT/build.json (counts).
    """
    import numpy as np
    from PIL import Image
    from idbench.progress import progress_bar

    from idbench.data.manifest import load_gallery
    from idbench.distractors.build import build_distractors, gate_counts, pair_subjects
    from idbench.distractors.gates import GateConfig
    from idbench.distractors.masks import mask_provider
    from idbench.distractors.sheet import render_sheet
    from idbench.safe_names import safe_filename

    problems = stderr_problem_log(quiet)
    pool = load_gallery(pool_path, problems)
    levels = list(pool.levels)
    level = pair_level or (levels[-2] if len(levels) >= 2 else None)
    if level is None and not source_spec.startswith("diffusers:"):
        raise click.ClickException("the pool has no label above subject to pair subjects by (use --pair-level)")
    try:
        provider = mask_provider(mask_spec)
    except (ValueError, OSError, ImportError) as e:
        raise click.ClickException(f"cannot create mask provider {mask_spec!r}: {e}")
    cfg = GateConfig(min_area=min_area, max_area=max_area, max_upscale=max_upscale, min_change=min_change,
                     max_uncovered=max_uncovered)
    by_subject = pool.by_subject()
    if source_spec.startswith("diffusers:"):
        from idbench.distractors.build import build_inpainted
        from idbench.distractors.inpaint import DiffusersInpainter

        try:
            inpainter = DiffusersInpainter(source_spec.split(":", 1)[1], steps=steps, seed=seed, size=inpaint_size)
        except (ImportError, OSError, ValueError) as e:
            raise click.ClickException(f"cannot load inpainting pipeline {source_spec!r}: {e}")
        # the prompt's noun: the parent label, else a 'class' column, else the subject's name
        labels = {s: (recs[0].label(level) if level else recs[0].extra.get("class") or s) for s, recs in by_subject.items()}
        with progress_bar(len(by_subject), "inpainting", enabled=not quiet, unit="subject") as bar:
            attempts = build_inpainted(by_subject, labels, provider, inpainter, n_views=n_views, cfg=cfg,
                                       progress=bar.update)
    elif source_spec == "composite":
        pairs = pair_subjects(by_subject, level)
        with progress_bar(len(pairs), "distractors", enabled=not quiet, unit="pair") as bar:
            attempts = build_distractors(by_subject, pairs, provider, n_views=n_views, cfg=cfg, progress=bar.update)
    else:
        raise click.UsageError(f"--source must be composite or diffusers:<model>, got {source_spec!r}")
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
                    from idbench.data.images import load_image

                    views_rgb[a.view.id] = np.asarray(load_image(a.view.path))
                except Exception:  # already named as a rejection
                    pass
    with open(out_dir / "samples.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["sample_id", "identity", "source", "views", "distractors"])
        w.writeheader()
        for sid, s in samples.items():
            if len(s["views"]) >= 2:
                w.writerow({"sample_id": sid, "identity": sid,
                            "source": f"{source_spec.split(':')[0]}-{mask_spec.split(':')[0]}",
                            "views": ";".join(s["views"]), "distractors": ";".join(s["distractors"])})
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
    share = f"{counts['accepted_share']:.0%}" if counts["accepted_share"] is not None else "–"
    rej = ", ".join(f"{g} {n}" for g, n in sorted(counts["rejected"].items())) or "none"
    click.echo(f"{counts['accepted']} of {counts['attempts']} distractors accepted ({share}); rejected: {rej}")
    click.echo(f"{len(samples)} samples -> {out_dir}/samples.csv; review: {out_dir}/sheet.html, {out_dir}/review.csv")
    print_problem_counts(problems)
