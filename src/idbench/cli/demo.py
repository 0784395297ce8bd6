"""`idbench demo`: a synthetic identity world, simulated methods with known drift, every metric."""

from __future__ import annotations

import time
from pathlib import Path

import click

from idbench.cli._common import command_line, print_summary
from idbench.views.table import format_table


@click.command()
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-demo"),
              show_default=True, help="Where the world, generations and results go.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True)
@click.option("--instances", type=click.IntRange(2), default=3, show_default=True, help="Instances per subclass.")
@click.option("--per-subject", type=click.IntRange(1), default=4, show_default=True, help="Generated images per subject and method.")
@click.option("--bootstrap", "n_resamples", type=click.IntRange(100), default=2000, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def demo(out_dir, seed, encoder_spec, instances, per_subject, n_resamples, quiet):
    """Run idbench end to end on a synthetic world where the truth is known.

    Renders a world of invented subjects (category > subclass > instance, with individual marks),
    simulates six personalization methods with known identity drift (from a copy-paste of the
    reference to a change of category, plus a method that copies the reference's scene), and
    evaluates them with every metric idbench has: cosine to references, retrieval rank at three
    granularities, NearID margins, RCA, FID/KID. Ends with the meta-evaluation: which metric
    follows the true drift. Writes OUT/results (summary.json, per_image.csv, report.html).
    """
    from idbench.cache.store import EmbeddingCache
    from idbench.data.manifest import load_gallery, load_generations, load_references
    from idbench.data.nearid import samples_from_world
    from idbench.data.problems import ProblemLog
    from idbench.data.records import Gallery
    from idbench.progress import progress_bar
    from idbench.study import Study
    from idbench.world import DEFAULT_METHODS, WorldSpec, make_world, method_truth, simulate_methods

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    world_dir, gen_dir, res_dir = out_dir / "world", out_dir / "gen", out_dir / "results"
    spec = WorldSpec(seed=seed, instances=instances)
    n_subjects = spec.categories * spec.subclasses * spec.instances
    with progress_bar(n_subjects + len(DEFAULT_METHODS), "rendering world", enabled=not quiet) as bar:
        make_world(world_dir, spec, progress=bar.update)
        simulate_methods(world_dir, gen_dir, per_subject=per_subject, seed=seed, progress=bar.update)
    click.echo(f"world: {n_subjects} subjects in {spec.categories} categories x {spec.subclasses} subclasses; "
               f"{len(DEFAULT_METHODS)} simulated methods -> {out_dir}")

    problems = ProblemLog()
    refs = load_references(world_dir / "refs", problems)
    gens = load_generations(gen_dir, problems, references=refs)
    full = load_gallery(world_dir / "gallery.csv", problems)
    gallery = Gallery([r for r in full if r.extra.get("role") == "view"], levels=full.levels)
    study = Study(refs=refs, gen=gens, gallery=gallery, samples=samples_from_world(full.records), distribution=True,
                  encoders=[encoder_spec], seed=seed, n_resamples=n_resamples, progress=not quiet,
                  cache=EmbeddingCache(out_dir / "cache"), command=command_line(), warn=False)
    out = study.run(problems)
    results = out.results
    truth = method_truth(gen_dir)
    results.truth = {m: {"drift": t["drift"], "copies_context": t["copies_context"]} for m, t in truth.items()}
    _meta(results)
    out.write(res_dir, merge=False)
    click.echo("")
    print_summary(results)
    from idbench.cli._common import print_sections

    print_sections(results, only="retrieval")
    print_sections(results, only="rca")
    _print_meta(results)
    if results.sections.get("nearid") is not None:
        from idbench.views.rows import nearid_line

        click.echo("\n" + nearid_line(results.sections["nearid"], "NearID (matched-context distractors)"))
    click.echo(f"done in {time.perf_counter() - t0:.0f} s; results: {res_dir}/ (report.html, tables.md, summary.json)")


def _meta(results) -> None:
    import numpy as np

    from idbench.world.meta import MetaSection, meta_evaluate

    drift = {m: t["drift"] for m, t in results.truth.items()}
    means = {k: {m: v[k]["mean"] for m, v in results.methods.items() if k in v} for k in results.metrics}
    hib = {k: info.higher_is_better for k, info in results.metrics.items()}
    per_image = {}
    for k in results.metrics:
        xs = np.array([r.get(k, np.nan) for r in results.rows], float)
        ds = np.array([drift.get(r["method"], np.nan) for r in results.rows], float)
        per_image[k] = (xs, ds)
    rows = meta_evaluate(means, drift, hib, per_image)
    results.sections["meta"] = MetaSection(against="true drift (Kendall tau-b with -drift; +1 = follows identity loss)",
                                           rows=list(rows))


def _print_meta(results) -> None:
    from idbench.views.format import fmt_num
    from idbench.world.meta import MetaSection

    meta = MetaSection.of(results)
    rows = meta.rows if meta is not None else []
    if not rows:
        return
    click.echo("\nmeta-evaluation: does each metric follow the true identity drift?")
    click.echo(format_table(["metric", "tau (methods)", "tau (images)", "true order"],
                            [[r.metric, fmt_num(r.tau_methods, 2, signed=True), fmt_num(r.tau_images, 2, signed=True),
                              "yes" if r.true_order else "no"] for r in rows]))
