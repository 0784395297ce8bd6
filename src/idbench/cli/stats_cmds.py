"""`idbench compare` and `idbench agree`: statistics over an existing results folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from idbench.views.table import format_table


def _read(results_dir: Path):
    from idbench.results import Results

    try:
        return Results.read(results_dir)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e))


def _run_settings(res, n_resamples, seed) -> tuple[int, int]:
    """The resamples and seed given, else the run's own (so compare and agree reproduce the run's views)."""
    from idbench.stats.ranking import ranking_settings

    run_n, run_seed = ranking_settings(res)
    return (run_n if n_resamples is None else n_resamples), (run_seed if seed is None else seed)


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--metric", "metrics", multiple=True, help="Metric(s) to compare [default: all].")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Significance level after Holm correction, in (0, 1).")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(100), default=None,
              help="Resamples [default: the run's own, so the ranks equal the tables'].")
@click.option("--seed", type=int, default=None, help="Seed [default: the run's own].")
def compare(results_dir, metrics, alpha, n_resamples, seed):
    """Paired comparison of every pair of methods on shared subjects.

    For each metric: the mean difference of per-subject means, its bootstrap interval, a paired
    sign-flip permutation p-value, Cohen's d_z, Holm-corrected p-values over the pairs, and a
    ranking where methods whose difference is not significant share a rank. Writes compare.csv.
    """
    from idbench.stats.compare import compare_methods, rank_methods
    from idbench.views.format import fmt_num

    res = _read(results_dir)
    n_resamples, seed = _run_settings(res, n_resamples, seed)
    names = list(metrics) or list(res.metrics)
    unknown = [m for m in names if m not in res.metrics]
    if unknown:
        raise click.ClickException(f"unknown metric(s) {', '.join(unknown)}; available: {', '.join(res.metrics)}")
    from idbench.stats.ranking import flagged_methods, metric_rankings, ranking_inputs, ranking_settings, stored_comparisons

    flagged = flagged_methods(res.sections)
    if flagged:
        click.echo("methods with copies are ranked on their other images only: "
                   + "; ".join(f"{m} ({why})" for m, why in flagged.items()))
    as_run = (n_resamples, seed) == ranking_settings(res)
    if as_run:  # the run's own settings: the stored rankings (the tables' and the report's), computed once
        metric_rankings(res, names)
    out_rows, notes = [], set()
    for metric in names:
        means, subj, left_out = ranking_inputs(res, metric)
        subj = {m: d for m, d in subj.items() if d}
        means = {m: v for m, v in means.items() if m in subj}
        if len(subj) < 2:
            click.echo(f"\n{metric}: fewer than 2 methods have a value; nothing to compare")
            for m, why in left_out.items():
                click.echo(f"  not ranked: {m} ({why})")
            continue
        comps = (stored_comparisons(res, metric) if as_run else None) or compare_methods(
            subj, metric, n_resamples=n_resamples, seed=seed)
        hib = res.metrics[metric].higher_is_better
        ranking = rank_methods(means, comps, higher_is_better=hib, alpha=alpha, flagged=left_out)
        order = sorted(ranking.ranks, key=lambda m: (ranking.ranks[m], -means[m] if hib else means[m]))
        if ranking.ranked:
            click.echo(f"\n{metric}: " + ", ".join(f"#{ranking.ranks[m]} {m}" for m in order))
        else:
            click.echo(f"\n{metric}: {ranking.why}")
        for m, why in ranking.flagged.items():
            click.echo(f"  not ranked: {m} ({why})")
        rows = []
        for c in comps:
            if c.effect_size != c.effect_size:
                notes.add("d_z –: the per-subject differences have zero variance or there is one subject")
            rows.append([c.a, c.b, fmt_num(c.diff, 4, signed=True),
                         f"[{c.ci_low:+.4f}, {c.ci_high:+.4f}]" if c.n_subjects > 1 else "– (1 subject)",
                         fmt_num(c.p, 4), fmt_num(c.p_holm, 4), fmt_num(c.effect_size, 2, signed=True), str(c.n_subjects),
                         "*" if c.p_holm < alpha else ""])
        click.echo(format_table(["A", "B", "A - B", "95% CI", "p", "p (Holm)", "d_z", "subjects", ""], rows))
        out_rows += [c.__dict__ for c in comps]
    for n in sorted(notes):
        click.echo(n)
    from idbench.folder import csv_bytes, write_derived

    write_derived(results_dir, "compare.csv", csv_bytes(list(out_rows[0]) if out_rows else [], [
        {k: ("" if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in out_rows]))
    click.echo(f"\nwritten: {results_dir / 'compare.csv'}")


@click.command()
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--human", "ratings_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with columns image_id, score and optionally rater (or group).")
@click.option("--metric", "metrics", multiple=True, help="Metric(s) [default: all].")
@click.option("--unit", type=click.Choice(["image", "subject", "prompt"]), default="image", show_default=True,
              help="What is resampled when testing whether one metric agrees better than another: the rated images, "
                   "or all images of a subject / prompt together.")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(100), default=None,
              help="Resamples [default: the run's own, as `idbench run --human` uses them].")
@click.option("--seed", type=int, default=None, help="Seed [default: the run's own].")
def agree(results_dir, ratings_path, metrics, unit, n_resamples, seed):
    """Agreement of metrics with human ratings: Pearson, Spearman, Kendall tau-b, pairwise accuracy
    (per method, Fisher-z averaged, pooled), and Krippendorff's alpha between raters.

    For every pair of metrics: the difference of their correlations with the human scores, its
    bootstrap interval over the rated units, a Holm-corrected p-value (and Williams' test for
    Pearson); a metric is called better only where the test says so. With several raters, the
    human-human ceiling. A ratings file with an ``aspect`` column (overall, object, relation, ...)
    is analysed per aspect.

    Ratings that are not finite numbers, and a second rating of an image by the same rater, are
    named and left out; the counts shown are the ratings actually used."""
    from idbench.cli._common import print_problem_counts, stderr_problem_log
    from idbench.data.manifest import ManifestError
    from idbench.data.ratings import rating_aspects, read_ratings
    from idbench.results import _jsonable
    from idbench.views.format import fmt_num

    res = _read(results_dir)
    n_resamples, seed = _run_settings(res, n_resamples, seed)
    problems = stderr_problem_log()
    try:
        aspects = rating_aspects(ratings_path)
        by_aspect = {a: read_ratings(ratings_path, problems, a) for a in aspects} or {
            "overall": read_ratings(ratings_path, problems)}
    except (ManifestError, OSError) as e:
        raise click.ClickException(str(e))
    from idbench.metrics.catalogue import published_agreement
    from idbench.protocols.registry import RunContext, StudyData, get_protocol

    agreement = get_protocol("agreement")  # the protocol `idbench run --human` runs, with the run's settings
    before = res.sections.get("agreement")
    sections = {}
    try:
        for aspect, r in by_aspect.items():
            ctx = RunContext(encoders=[], results=res, problems=problems, seed=seed, n_resamples=n_resamples,
                             options={"agreement": {"compare_unit": unit, "metrics": list(metrics) or None}})
            agreement.run(StudyData(ratings=r), ctx)
            section = res.sections.pop("agreement")
            sections[aspect] = (section, [vars(p) for p in section.points or []])
            section.points = None  # written to agreement_points.csv
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    finally:
        if before is not None:
            res.sections["agreement"] = before
    first = next(iter(sections))
    out, points = sections[first]
    preset = res.study.preset
    if len(sections) > 1:
        out = dataclasses.replace(out, aspects={a: o for a, (o, _) in sections.items()})
        from idbench.views.rows import agreement_table

        t = agreement_table(out, preset)
        click.echo("Kendall tau-b with the human ratings, per aspect:")
        click.echo(format_table(t["header"], t["rows"]))
    raters = out.raters
    paper = {m: published_agreement(preset, m) for m in out.metrics}
    show_paper = any(v is not None for v in paper.values())
    table, notes = [], set()
    for metric, a in out.metrics.items():
        p = a.pooled
        if p.why:
            notes.add(f"–: {p.why}")
        table.append([metric, str(p.n), fmt_num(p.pearson, signed=True), fmt_num(p.spearman, signed=True),
                      fmt_num(p.kendall_tau_b, signed=True), fmt_num(p.pairwise_accuracy),
                      fmt_num(a.fisher_z_mean.get("pearson"), signed=True)]
                     + ([fmt_num(paper[metric], signed=True) if paper[metric] is not None else ""] if show_paper else []))
    if not table:
        raise click.ClickException("no rated image matches an image_id of the results (ids are like "
                                   f"{res.rows[0]['image_id']!r})" if res.rows else "the results folder has no images")
    click.echo(format_table(["metric", "n", "Pearson", "Spearman", "Kendall b", "pairwise acc",
                             "Pearson (Fisher-z over methods)"] + ([f"Kendall ({preset.name} paper)"] if show_paper
                                                                  else []), table))
    if show_paper:
        click.echo(f"{preset.name} paper: {next(p.source for p in preset.published if p.kind == 'agreement')}"
                   " -- the paper's own data, beside yours for orientation; not a test")
        out.published_agreement = {m: v for m, v in paper.items() if v is not None}
    for n in sorted(notes):
        click.echo(n)
    if out.krippendorff_alpha_interval is not None or out.krippendorff_alpha_why_missing:
        click.echo(f"Krippendorff's alpha (interval) between {len(raters)} raters: "
                   f"{fmt_num(out.krippendorff_alpha_interval, why=out.krippendorff_alpha_why_missing)}")
    click.echo(f"{out.n_ratings} ratings of {out.n_rated_images} images used")
    if out.ratings_not_in_results:
        x = out.ratings_not_in_results
        click.echo(f"{x.n_images} rated images are not in the results and were not used (e.g. "
                   f"{', '.join(map(repr, x.examples[:3]))})")
    if out.human_ceiling:
        c = out.human_ceiling
        click.echo(f"human-human ceiling ({c.n_raters} raters, each against the mean of the others, Fisher-z mean): "
                   f"Pearson {fmt_num(c.pearson, signed=True)}, Kendall b {fmt_num(c.kendall_tau_b, signed=True)}")
    _print_comparisons(out)
    print_problem_counts(problems)
    from idbench.folder import csv_bytes, write_derived

    write_derived(results_dir, "agreement.json", json.dumps(_jsonable({**out.to_dict(), "problems": problems.to_dict()}),
                                                            indent=2, allow_nan=False).encode("utf-8"))
    write_derived(results_dir, "agreement_points.csv", csv_bytes(["metric", "method", "metric_score", "human_score"], points))
    click.echo(f"written: {results_dir / 'agreement.json'}, agreement_points.csv")
    if (results_dir / "report.html").is_file():
        from idbench.report.html import render_report

        click.echo(f"report updated: {render_report(results_dir)}")


def _print_comparisons(out) -> None:
    """Pairs of metrics: is one significantly closer to people? (Holm over pairs)."""
    from idbench.views.format import fmt_interval, fmt_num

    if not out.comparisons:
        return
    rows = []
    for c in out.comparisons:
        k, p = c.kendall_tau_b, c.pearson
        rows.append([f"{c.a} - {c.b}", str(c.n), f"{fmt_num(k.diff, signed=True)} {fmt_interval(*k.ci)}",
                     fmt_num(k.p_holm, 4), f"{fmt_num(p.diff, signed=True)} {fmt_interval(*p.ci)}",
                     fmt_num(p.p_holm, 4), fmt_num(p.williams_p_holm, 4),
                     "*" if k.significant or p.significant else ""])
    from idbench.views.table import format_table_within

    click.echo(f"\ndifferences in agreement (bootstrap over rated {out.comparison_unit or 'image'}s, Holm over pairs):")
    click.echo(format_table_within(["pair", "n", "d Kendall b [95% CI]", "p (Holm)", "d Pearson [95% CI]", "p (Holm)",
                                    "Williams p (Holm)", ""], rows, keep=1))
    click.echo("*: one metric agrees with the human ratings significantly better than the other (alpha 0.05); "
               "without *, the data do not separate them")
