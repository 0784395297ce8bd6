"""`idbench rank`: the Finer-Personalization Rank retrieval protocol (the retrieval protocol of one
Study, the same path as ``idbench run --protocols retrieval``)."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import (
    cache_options,
    finish_study,
    print_sections,
    protocol_options,
    run_options,
    run_study,
    user_errors,
)


@click.command()
@click.option("--gallery", "gallery_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled gallery manifest (path,subject,<coarser labels>) or folder tree.")
@click.option("--gen", "gen_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Generations folder gen/<method>/<subject>/*.png or manifest.")
@click.option("--refs", "refs_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="References (their queries give the real-image upper bound).")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True, help="Encoder spec.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-rank"),
              show_default=True)
@click.option("--report/--no-report", default=True, show_default=True)
@protocol_options("retrieval")
@cache_options
@run_options
@user_errors
def rank(gallery_path, gen_path, refs_path, encoder_spec, out_dir, report, cache_dir, no_cache, batch_size, device, quiet,
         n_resamples, seed, replace, options):
    """Rank the gallery for every generated image; mAP, CMC@1/5/10, P@1, R-precision, mAP@R, MRR.

    Each generated image is a query against a gallery of real, identity-labelled look-alikes; the
    whole gallery is ranked by cosine similarity. Metrics are reported per granularity level
    (e.g. class, then subject), per method and per group, with the real references' scores as the
    upper bound and generated / real mAP as the relative score.

    \b
    Example:
      idbench rank --gallery gallery.csv --gen gen/ --refs refs/ --levels class,subject
    """
    out = run_study(replace=replace, out_dir=out_dir, report=report, quiet=quiet, cache_dir=cache_dir, no_cache=no_cache, options=options,
                    gallery=gallery_path, gen=gen_path, refs=refs_path, encoders=[encoder_spec], protocols=["retrieval"],
                    seed=seed, n_resamples=n_resamples, batch_size=batch_size, device=device)
    if "retrieval" in out.results.sections:
        print_sections(out.results, only="retrieval")
    finish_study(out, out_dir, report)
