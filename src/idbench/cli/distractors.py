"""`idbench distractors build`: matched-context near-identity distractors for real photos."""

from __future__ import annotations

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
def build(pool_path, out_dir, mask_spec, source_spec, steps, seed, inpaint_size, pair_level, n_views, max_upscale, min_area, max_area, min_change,
          max_uncovered,
          quiet):
    """For each view of subject A, put subject B (same parent label) into A's exact background.

    Every attempt passes quality gates or is rejected with a named reason: the mask (empty, no
    subject, too small or large, fragmented), B's upscaling, a distractor too similar to its
    view, A's remains outside B. Writes OUT/samples.csv (accepted distractors only; a rejected
    view leaves an empty slot, which NearID scores as incomplete), OUT/review.csv (every attempt,
    with an editable accept column that `nearid eval` honours), OUT/sheet.html (view | mask |
    distractor | decision), OUT/problems.csv, OUT/provenance.jsonl and OUT/build.json (counts).
    """
    from idbench.data.manifest import load_gallery
    from idbench.distractors.build import build_distractors, pair_subjects
    from idbench.distractors.gates import GateConfig
    from idbench.distractors.masks import mask_provider
    from idbench.distractors.write import write_build
    from idbench.progress import progress_bar

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
    counts = write_build(attempts, out_dir, mask_spec=mask_spec, source_spec=source_spec, cfg=cfg, problems=problems)
    share = f"{counts['accepted_share']:.0%}" if counts["accepted_share"] is not None else "–"
    rej = ", ".join(f"{g} {n}" for g, n in sorted(counts["rejected"].items())) or "none"
    click.echo(f"{counts['accepted']} of {counts['attempts']} distractors accepted ({share}); rejected: {rej}")
    click.echo(f"{counts['samples']} samples -> {out_dir}/samples.csv; review: {out_dir}/sheet.html, {out_dir}/review.csv")
    print_problem_counts(problems)
