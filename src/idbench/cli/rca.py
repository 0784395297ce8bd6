"""`idbench rca`: Relative Classification Accuracy, with FID/KID beside it."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import (cache_options, command_line, finish_results, format_table, make_encoder, open_cache,
                                 print_summary, run_options, stderr_problem_log, user_errors)


@click.command()
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Real labelled images (gallery manifest: path,subject,<coarser labels>) the oracle learns from.")
@click.option("--gen", "gen_path", required=True, type=click.Path(exists=True, path_type=Path), help="Generations folder or manifest.")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True)
@click.option("--levels", default=None, help="Comma-separated label levels [default: all].")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-rca"), show_default=True)
@click.option("--distribution/--no-distribution", default=False, show_default=True,
              help="Also FID / KID per method against the real images (meaningful only with many images per method).")
@click.option("--report/--no-report", default=True, show_default=True)
@cache_options
@run_options
@user_errors
def rca(train_path, gen_path, encoder_spec, levels, out_dir, distribution, report, cache_dir, no_cache, batch_size, device, quiet,
        n_resamples, seed):
    """Oracle accuracy on generated images relative to real ones (RCA = Acc_gen / Acc_real).

    The oracle is a logistic-regression probe on the encoder's embeddings of the real images;
    Acc_real is its stratified cross-validated accuracy (Wilson interval); Acc_gen and RCA carry a
    cluster-bootstrap interval over subjects, and chance (1/K) is shown beside them. Also writes
    per-level confusion matrices (rca_confusion_<level>_<method>.csv/.png) and, with
    --distribution, FID / KID per method against the real images.
    """
    from idbench.data.manifest import load_gallery, load_generations
    from idbench.protocols.similarity import base_rows
    from idbench.protocols.distribution import distribution_protocol
    from idbench.protocols.rca import rca_protocol
    from idbench.results import Results

    problems = stderr_problem_log(quiet)
    lv = [x.strip() for x in levels.split(",")] if levels else None
    real = load_gallery(train_path, problems, levels=lv)
    gens = load_generations(gen_path, problems)
    enc = make_encoder(encoder_spec, device)
    cache = open_cache(cache_dir, no_cache)
    results = Results(command=command_line(), problems=problems)
    results.rows = base_rows(gens)
    try:
        section = rca_protocol(real, gens, enc, levels=lv or list(real.levels), results=results, cache=cache,
                               problems=problems, progress=not quiet, seed=seed)
        if distribution:
            distribution_protocol(real.records, gens, enc, results=results, cache=cache, problems=problems,
                                  progress=not quiet, seed=seed)
    except ValueError as e:
        raise click.ClickException(str(e))
    from idbench.report.confusion import write_confusions
    from idbench.report.rows import rca_rows

    results = finish_results(results, out_dir, report=report, n_resamples=n_resamples, seed=seed)
    section = results.sections["rca"]
    write_confusions(section, out_dir)
    rows = []
    for x in rca_rows(section, rca_digits=3):
        if x["error"]:
            click.secho(f"level {x['level']}: not scored: {x['error']}", fg="yellow")
            continue
        rows.append([x["method"], x["level"], str(x["n_subjects"]), str(x["n_images"]), x["acc_real"], x["acc_gen"],
                     x["top5"], x["rca"], x["chance"]])
    print_summary(results)
    click.echo(format_table(["method", "level", "subjects", "images", "Acc_real [95% CI]", "Acc_gen [95% CI]", "top-5",
                             "RCA [95% CI]", "chance top-1"], rows))
    click.echo(f"results: {out_dir}/")
