"""`idbench evaluate`: similarity-to-reference metrics for generated images."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import (cache_options, command_line, make_encoder, open_cache, print_summary, run_options,
                                 stderr_problem_log, user_errors)


@click.command()
@click.option("--refs", "refs_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="References: folder refs/<subject>/*.jpg or a manifest (path,subject[,class...]).")
@click.option("--gen", "gen_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Generations: folder gen/<method>/<subject>/*.png (prompt in a same-stem .txt/.json) "
                   "or a manifest (path,method,subject[,prompt]).")
@click.option("-e", "--encoder", "encoders", multiple=True, default=("effnet-lite0",), show_default=True,
              help="Encoder spec, repeatable: effnet-lite0, dlib-face, hf:<id or dir>, timm:<name>, nearid:<dir>.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-results"),
              show_default=True, help="Results folder (summary.json, per_image.csv, report.html).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write report.html.")
@cache_options
@run_options
@user_errors
def evaluate(refs_path, gen_path, encoders, out_dir, report, cache_dir, no_cache, batch_size, device, quiet,
             n_resamples, seed):
    """Score generated images against their subject's references.

    Per method, subject and image: mean cosine to the references for image encoders (named after
    the encoder, e.g. cos[effnet-lite0]); Stellar's IPS and SIS for face encoders, with the face
    detection failure rate. Every mean has a 95% cluster-bootstrap interval over subjects.

    \b
    Example:
      idbench evaluate --refs refs/ --gen gen/ -e effnet-lite0 -e dlib-face -o results/
    """
    from idbench.data.manifest import load_generations, load_references
    from idbench.evaluate import evaluate_similarity
    from idbench.results import Results

    problems = stderr_problem_log(quiet)
    refs = load_references(refs_path, problems)
    gens = load_generations(gen_path, problems, references=refs)
    encs = [make_encoder(s, device) for s in encoders]
    cache = open_cache(cache_dir, no_cache)
    results = Results(command=command_line(), problems=problems)
    evaluate_similarity(refs, gens, encs, cache=cache, problems=problems, progress=not quiet,
                        batch_size=batch_size, results=results)
    results.summarise(n_resamples=n_resamples, seed=seed)
    results.write(out_dir)
    print_summary(results)
    if report:
        write_report(out_dir)
    click.echo(f"results: {out_dir}/")


def write_report(out_dir: Path) -> None:
    try:
        from idbench.report import render_report
    except ImportError:  # report module not available in this build
        return
    path = render_report(out_dir)
    click.echo(f"report: {path}")
