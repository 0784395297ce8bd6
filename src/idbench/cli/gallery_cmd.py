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
@click.option("--gen", "gen_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Generations (folder or manifest): their subjects are chosen first, and any the gallery cannot "
                   "hold are named.")
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
def build(pool_path, out_path, images_per_subject, subjects_per_group, gen_path, exclude_paths, choice, group_by,
          parent_level, encoder_spec, seed, quiet, cache_dir, no_cache):
    """Choose N subjects per group and M images per subject, disjoint from the references, seeded."""
    from idbench.data.content import exclude_by_content
    from idbench.data.gallery_builder import build_gallery
    from idbench.data.manifest import image_files, load_gallery
    from idbench.embed import embed_records

    problems = stderr_problem_log(quiet)
    pool = load_gallery(pool_path, problems)
    if exclude_paths:
        pool.records, n_out = exclude_by_content(pool.records, [p for e in exclude_paths for p in image_files(e)], problems)
        click.echo(f"{n_out} pool image(s) excluded: copies (bytes or near-copy) of an image under --exclude")
    with_gen: set[str] = set()
    if gen_path is not None:
        from idbench.data.manifest import load_generations

        with_gen = set(load_generations(gen_path, problems).subjects)
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
                               embeddings=emb, seed=seed, keep_subjects=sorted(with_gen))
    except ValueError as e:
        raise click.ClickException(str(e))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", *[lv for lv in levels if lv != "subject"], "subject", "gallery_group"])
        for r, g in chosen:
            w.writerow([str(r.path.resolve()), *[r.label(lv) for lv in levels if lv != "subject"], r.subject, g])
    kept = {r.subject for r, _ in chosen}
    click.echo(f"{len(chosen)} images of {len(kept)} subjects in {len({g for _, g in chosen})} groups -> {out_path}")
    dropped = sorted(set(pool.subjects) - kept)
    if dropped:
        click.echo(f"left out by -n {subjects_per_group}: {len(dropped)} subject(s): {_names(dropped)}")
    lost = sorted(with_gen - kept)
    if lost:
        click.secho(f"{len(lost)} subject(s) with generations are not in the gallery (retrieval and RCA will not score "
                    f"them): {_names(lost)}", fg="yellow", err=True)
    thin = sorted(s for s in kept if sum(r.subject == s for r, _ in chosen) < images_per_subject)
    if thin:
        click.echo(f"{len(thin)} subject(s) have fewer than -m {images_per_subject} images in the pool (all kept): "
                   f"{_names(thin)}")


def _names(items: list[str], limit: int = 12) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
