"""`idbench rank`: the Finer-Personalization Rank retrieval protocol."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import (cache_options, command_line, finish_results, format_table, make_encoder, open_cache,
                                 print_summary, run_options, stderr_problem_log, user_errors)


@click.command()
@click.option("--gallery", "gallery_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Labelled gallery manifest (path,subject,<coarser labels>) or folder tree.")
@click.option("--gen", "gen_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Generations folder gen/<method>/<subject>/*.png or manifest.")
@click.option("--refs", "refs_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="References (their queries give the real-image upper bound).")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True, help="Encoder spec.")
@click.option("--levels", default=None, help="Comma-separated label levels, coarse to fine [default: all gallery levels].")
@click.option("--no-relevant", type=click.Choice(["zero", "skip", "error"]), default="zero", show_default=True,
              help="Queries with no relevant gallery item: AP 0 (published), excluded, or an error.")
@click.option("--ties", type=click.Choice(["pessimistic", "optimistic"]), default="pessimistic", show_default=True,
              help="A relevant item tied with irrelevant ones ranks after (pessimistic) or before them.")
@click.option("--leaked", type=click.Choice(["remove", "keep"]), default="remove", show_default=True,
              help="Gallery images byte-identical to a reference: removed from the gallery (counted and named), or kept "
                   "(a reference never retrieves its own bytes either way).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-rank"),
              show_default=True)
@click.option("--report/--no-report", default=True, show_default=True)
@cache_options
@run_options
@user_errors
def rank(gallery_path, gen_path, refs_path, encoder_spec, levels, no_relevant, ties, leaked, out_dir, report, cache_dir, no_cache,
         batch_size, device, quiet, n_resamples, seed):
    """Rank the gallery for every generated image; mAP, CMC@1/5/10, P@1, R-precision, mAP@R, MRR.

    Each generated image is a query against a gallery of real, identity-labelled look-alikes; the
    whole gallery is ranked by cosine similarity. Metrics are reported per granularity level
    (e.g. class, then subject), per method and per group, with the real references' scores as the
    upper bound and generated / real mAP as the relative score.

    \b
    Example:
      idbench rank --gallery gallery.csv --gen gen/ --refs refs/ --levels class,subject
    """
    from idbench.data.manifest import load_gallery, load_generations, load_references
    from idbench.protocols.retrieval import rank_protocol
    from idbench.results import Results

    problems = stderr_problem_log(quiet)
    lv = [x.strip() for x in levels.split(",")] if levels else None
    gallery = load_gallery(gallery_path, problems, levels=lv)
    refs = load_references(refs_path, problems) if refs_path else None
    gens = load_generations(gen_path, problems)
    results = Results(command=command_line(), problems=problems)
    from idbench.protocols.similarity import base_rows

    results.rows = base_rows(gens)
    try:
        section = rank_protocol(gallery, gens, make_encoder(encoder_spec, device), levels=lv or list(gallery.levels),
                                references=refs, results=results, cache=open_cache(cache_dir, no_cache), problems=problems,
                                progress=not quiet, no_relevant=no_relevant, ties=ties, leaked=leaked,
                                n_resamples=n_resamples, seed=seed)
    except ValueError as e:
        raise click.ClickException(str(e))
    results = finish_results(results, out_dir, report=report, n_resamples=n_resamples, seed=seed)
    print_summary(results)
    print_rank_section(section)
    click.echo(f"results: {out_dir}/")


def print_rank_section(section: dict) -> None:
    from idbench.report.format import DASH
    from idbench.report.rows import retrieval_rows

    notes = []
    rows = [["(real references)" if x["real"] else x["who"], x["level"], str(x["n_subjects"]), str(x["n_images"]),
             x["map"], x["r1"], x["r5"], x["chance"], x["relative"]] for x in retrieval_rows(section)]
    click.echo(format_table(["queries", "level", "subjects", "images", "mAP", "R@1", "R@5", "chance mAP",
                             "gen/real mAP [95% CI]"], rows))
    if not section["real"]:
        notes.append(f"gen/real mAP: {DASH} because no references were given (--refs): there is no real-image upper bound")
    notes.append("chance mAP: exact expected AP of a random ranking of this gallery for these queries")
    leak = section.get("leakage", {})
    if leak.get("gallery_copies_of_references"):
        notes.append(f"{leak['gallery_copies_of_references']} gallery image(s) were byte copies of references: "
                     f"{'removed from the gallery' if leak['policy'] == 'remove' else 'kept (--leaked keep)'}")
    cp = {m: n for m, n in section.get("copies", {}).get("per_method", {}).items() if n}
    if cp:
        notes.append("generated images that are byte copies of a reference or gallery image (flagged, column copy_of): "
                     + ", ".join(f"{m} {n}" for m, n in cp.items()))
    nd = section.get("near_duplicates", {})
    if nd.get("generation_gallery") or nd.get("reference_gallery"):
        notes.append(f"near-duplicates of gallery images (warnings): {nd['generation_gallery']} generated, "
                     f"{nd['reference_gallery']} references")
    for n in notes:
        click.echo(n)
