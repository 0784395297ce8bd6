"""`idbench rca`: Relative Classification Accuracy, with FID/KID beside it (the rca protocol of one
Study, the same path as ``idbench run --protocols rca``)."""

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
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Real labelled images (gallery manifest: path,subject,<coarser labels>) the oracle learns from.")
@click.option("--gen", "gen_path", required=True, type=click.Path(exists=True, path_type=Path), help="Generations folder or manifest.")
@click.option("--refs", "refs_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="References given to the generators: generations that copy them (bytes or near-copy) are flagged.")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True)
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-rca"), show_default=True)
@click.option("--distribution/--no-distribution", default=False, show_default=True,
              help="Also FID / KID per method against the real images (meaningful only with many images per method).")
@click.option("--report/--no-report", default=True, show_default=True)
@protocol_options("rca")
@cache_options
@run_options
@user_errors
def rca(train_path, gen_path, refs_path, encoder_spec, out_dir, distribution, report, cache_dir, no_cache, batch_size, device, quiet,
        n_resamples, seed, replace, options):
    """Oracle accuracy on generated images relative to real ones (RCA = Acc_gen / Acc_real).

    The oracle is cross-fitted: logistic-regression probes on the encoder's embeddings of the real
    images, one per stratified fold; Acc_real is each real image's held-out accuracy (Wilson
    interval) and Acc_gen comes from the same probes, so held-out real photos score RCA 1; Acc_gen
    and RCA carry an interval (cluster bootstrap over subjects, widened to Wilson's), and chance
    (1/K) is shown beside them. Also writes
    per-level confusion matrices (rca_confusion_<level>_<method>.csv, and .png with the report) and,
    with --distribution, FID / KID per method against the real images.
    """
    out = run_study(replace=replace, out_dir=out_dir, report=report, quiet=quiet, cache_dir=cache_dir, no_cache=no_cache, options=options,
                    gallery=train_path, gen=gen_path, refs=refs_path, encoders=[encoder_spec],
                    protocols=["rca", *(["distribution"] if distribution else [])],
                    seed=seed, n_resamples=n_resamples, batch_size=batch_size, device=device)
    if "rca" in out.results.sections:
        print_sections(out.results, only="rca")
    finish_study(out, out_dir, report)
