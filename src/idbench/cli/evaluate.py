"""`idbench evaluate`: similarity-to-reference metrics for generated images (the similarity
protocol of one Study, the same path as ``idbench run --protocols similarity``)."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import cache_options, finish_study, protocol_options, run_options, run_study, user_errors

_GROUPS = ("similarity", "text", "distribution", "rfs", "goa", "aps")


@click.command()
@click.option("--refs", "refs_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="References: folder refs/<subject>/*.jpg, a manifest (path,subject[,class...]) or a benchmark layout.")
@click.option("--gen", "gen_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Generations: folder gen/<method>/<subject>/*.png (prompt in a same-stem .txt/.json), "
                   "a manifest (path,method,subject[,prompt]) or a benchmark layout.")
@click.option("-e", "--encoder", "encoders", multiple=True, default=("effnet-lite0",), show_default=True,
              help="Encoder spec, repeatable; `idbench encoders` lists them (effnet-lite0, dlib-face, arcface:<pack>, "
                   "hf:<id or dir>, timm:<name>, nearid:<dir>, and installed plug-ins).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-results"),
              show_default=True, help="Results folder (summary.json, per_image.csv, report.html).")
@click.option("--metrics", "metric_groups", default="similarity,text", show_default=True,
              help="Comma-separated groups: similarity (cos / IPS / SIS), text (CLIP-T + prompt gate, CLIP-like "
                   "encoders), distribution (FID/KID; opt-in: needs many images per method), rfs (needs a 'relation' "
                   "column subject|relation|object), goa (needs --detector), aps (needs --attributes and a face encoder).")
@click.option("--layout", default="auto", show_default=True, help="Published benchmark layout of the inputs (auto-detected).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html.")
@protocol_options("similarity")
@cache_options
@run_options
@user_errors
def evaluate(refs_path, gen_path, encoders, metric_groups, layout, out_dir, report, cache_dir, no_cache, batch_size, device,
             quiet, n_resamples, seed, replace, options):
    """Score generated images against their subject's references.

    Per method, subject and image: mean cosine to the references for image encoders (named after
    the encoder, e.g. cos[effnet-lite0]); Stellar's IPS and SIS for face encoders, with the face
    detection failure rate. Every mean has a 95% cluster-bootstrap interval over subjects.

    \b
    Example:
      idbench evaluate --refs refs/ --gen gen/ -e effnet-lite0 -e dlib-face -o results/
    """
    groups = {g.strip() for g in metric_groups.split(",") if g.strip()}
    unknown = groups - set(_GROUPS)
    if unknown:
        raise click.UsageError(f"unknown metric group(s): {', '.join(sorted(unknown))}; known: {', '.join(_GROUPS)}")
    sim = options.setdefault("similarity", {})
    sim.setdefault("text", "text" in groups)
    if "rfs" in groups:
        sim["rfs"] = True
    if "goa" in groups and not sim.get("goa_detector"):
        raise click.UsageError("--metrics goa needs --detector MODEL")
    if "aps" in groups and not sim.get("aps_attributes"):
        raise click.UsageError("--metrics aps needs --attributes CSV and a face encoder (-e dlib-face)")
    out = run_study(replace=replace, out_dir=out_dir, report=report, quiet=quiet, cache_dir=cache_dir, no_cache=no_cache, options=options,
                    refs=refs_path, gen=gen_path, encoders=list(encoders), layout=None if layout == "auto" else layout,
                    protocols=["similarity", *(["distribution"] if "distribution" in groups else [])],
                    seed=seed, n_resamples=n_resamples, batch_size=batch_size, device=device)
    finish_study(out, out_dir, report)
