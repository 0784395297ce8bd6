"""`idbench gallery build`: choose a retrieval gallery from a labelled pool."""

from __future__ import annotations

import csv
from pathlib import Path

import click

from idbench.cli._common import cache_options, make_encoder, open_cache, stderr_problem_log, user_errors


@click.group()
def gallery():
    """Build identity-labelled retrieval galleries."""


@gallery.command()
@click.option("--pool", "pool_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled image pool (manifest path,subject,<coarser labels> or folder tree).")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Gallery CSV to write.")
@click.option("--images-per-subject", "-m", type=click.IntRange(1), default=10, show_default=True)
@click.option("--subjects-per-group", "-n", type=click.IntRange(1), default=None, help="Subjects per group [default: all].")
@click.option("--exclude", "exclude_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Images that must not be in the gallery (references, generations, ...): a folder (searched "
                   "recursively) or a manifest. Repeatable. Matched by content: a byte copy under any name is excluded.")
@click.option("--choice", type=click.Choice(["random", "kmeans"]), default="random", show_default=True,
              help="Images at random, or nearest each k-means centroid of the subject's embeddings (published).")
@click.option("--group-by", type=click.Choice(["parent", "nearest"]), default="parent", show_default=True,
              help="Hard-negative groups: subjects sharing the parent label, or nearest subjects in embedding space.")
@click.option("--parent-level", default=None, help="Label level of the groups [default: the level above subject].")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True, help="For kmeans / nearest.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@cache_options
@user_errors
def build(pool_path, out_path, images_per_subject, subjects_per_group, exclude_paths, choice, group_by, parent_level,
          encoder_spec, seed, quiet, cache_dir, no_cache):
    """Choose N subjects per group and M images per subject, disjoint from the references, seeded."""
    from idbench.data.content import exclude_by_content
    from idbench.data.gallery_builder import build_gallery
    from idbench.data.manifest import image_files, load_gallery
    from idbench.embed import embed_records

    problems = stderr_problem_log(quiet)
    pool = load_gallery(pool_path, problems)
    if exclude_paths:
        pool.records, n_out = exclude_by_content(pool.records, [p for e in exclude_paths for p in image_files(e)], problems)
        click.echo(f"{n_out} pool image(s) excluded: byte-identical to an image under --exclude")
    emb = None
    if choice == "kmeans" or group_by == "nearest":
        e = embed_records(make_encoder(encoder_spec), pool.records, cache=open_cache(cache_dir, no_cache), problems=problems,
                          progress=not quiet)
        emb = {k: v.vectors[0] for k, v in e.items()}
        pool.records = [r for r in pool.records if r.id in emb]
    levels = list(pool.levels)
    parent = parent_level or (levels[-2] if len(levels) >= 2 else None)
    if group_by == "parent" and parent is None:
        raise click.ClickException("the pool has no label above subject: use --group-by nearest")
    try:
        chosen = build_gallery(pool.records, images_per_subject=images_per_subject, subjects_per_group=subjects_per_group,
                               choice=choice, group_by=group_by, parent_level=parent,
                               embeddings=emb, seed=seed)
    except ValueError as e:
        raise click.ClickException(str(e))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", *[lv for lv in levels if lv != "subject"], "subject", "group"])
        for r, g in chosen:
            w.writerow([str(r.path.resolve()), *[r.label(lv) for lv in levels if lv != "subject"], r.subject, g])
    n_sub = len({r.subject for r, _ in chosen})
    click.echo(f"{len(chosen)} images of {n_sub} subjects in {len({g for _, g in chosen})} groups -> {out_path}")
