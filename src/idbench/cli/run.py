"""`idbench run`: one study over references, generations, a gallery, NearID samples and ratings."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import cache_options, command_line, open_cache, print_summary, run_options, stderr_problem_log, user_errors

_PATH = click.Path(exists=True, path_type=Path)


@click.command()
@click.argument("study_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--refs", "refs", type=_PATH, help="References: refs/<subject>/*.jpg, a manifest, or a benchmark layout.")
@click.option("--gen", "gen", type=_PATH, help="Generations: gen/<method>/<subject>/*.png, a manifest, or a benchmark layout.")
@click.option("--gallery", "gallery", type=_PATH, help="Labelled gallery (retrieval and RCA): manifest or folder tree.")
@click.option("--samples", "samples", type=_PATH, help="NearID samples manifest (idbench's or NearID's tables).")
@click.option("--human", "human", type=_PATH, help="Human ratings (image_id, score[, rater]) or DreamBench++ rating files.")
@click.option("-e", "--encoder", "encoders", multiple=True,
              help="Encoder spec, repeatable [default: effnet-lite0]. Retrieval, RCA, NearID and FID use the first image encoder.")
@click.option("--layout", type=click.Choice(["auto", "idbench", "dreambench", "dreambenchpp", "stellar", "nearid", "fpr"]),
              default="auto", show_default=True, help="Published benchmark layout of the inputs (auto-detected).")
@click.option("--protocols", default=None,
              help="Comma-separated subset of similarity,retrieval,rca,nearid,distribution,agreement [default: all the inputs allow].")
@click.option("--distribution", is_flag=True, help="Also FID / KID (opt-in: meaningful only with many images per method).")
@click.option("--levels", default=None, help="Gallery label levels for retrieval and RCA, coarse to fine [default: all].")
@click.option("--no-face", "no_face", type=click.Choice(["zero", "skip"]), default=None, help="Face encoders: see `evaluate --help`.")
@click.option("--faces", "face_rule", type=click.Choice(["best", "largest"]), default=None, help="Face encoders: see `evaluate --help`.")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: embed every input on a Ray cluster first (one encoder per actor; idbench[ray]); "
                   "the protocols then read the cache as usual.")
@click.option("--ray-address", default=None, help="Ray cluster address (default: a local cluster, or RAY_ADDRESS).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-study"),
              show_default=True, help="The results folder (merged with what is already there).")
@click.option("--report/--no-report", default=True, show_default=True)
@cache_options
@run_options
@user_errors
def run(study_file, refs, gen, gallery, samples, human, encoders, layout, protocols, distribution, levels, no_face, face_rule,
        backend, ray_address, out_dir, report, cache_dir, no_cache, batch_size, device, quiet, n_resamples, seed):
    """Run every protocol the inputs allow, into one results folder.

    similarity (needs --refs and --gen), retrieval and RCA (--gallery and --gen), NearID
    (--samples), agreement (--human), FID/KID (--distribution). Writes OUT/summary.json (one
    section per protocol, with counts and intervals), per_image.csv (+ .parquet with pyarrow),
    tables.md, tables.tex and report.html. Inputs may also come from a study file (TOML); flags
    given on the command line win.

    \b
    Examples:
      idbench run --refs refs/ --gen gen/ --gallery gallery.csv --samples samples.csv -o results/
      idbench run study.toml
      idbench run --refs dreambooth/dataset --gen samples/   # DreamBench layout, prompts from the file names
    """
    from idbench.study import Study, StudyError

    options: dict[str, dict] = {}
    if levels:
        lv = [x.strip() for x in levels.split(",") if x.strip()]
        options["retrieval"] = {"levels": lv}
        options["rca"] = {"levels": lv}
    if no_face or face_rule:
        options["similarity"] = {k: v for k, v in (("no_face", no_face), ("faces", face_rule)) if v}
    kw = dict(refs=refs, gen=gen, gallery=gallery, samples=samples, human=human,
              encoders=list(encoders) or None, protocols=[p.strip() for p in protocols.split(",")] if protocols else None,
              distribution=distribution or None, layout=None if layout == "auto" else layout, seed=seed,
              n_resamples=n_resamples, device=device, progress=not quiet, command=command_line(),
              backend=backend if backend != "local" else None, ray_address=ray_address)
    try:
        if study_file:
            study = Study.from_toml(study_file, **{k: v for k, v in kw.items() if v is not None})
            for k, v in options.items():
                study.options.setdefault(k, {}).update(v)
        else:
            study = Study(**{k: v for k, v in kw.items() if v is not None}, options=options)
        if not any(getattr(study, k) is not None for k in ("refs", "gen", "gallery", "samples")):
            raise click.UsageError("give inputs: --refs / --gen / --gallery / --samples, or a study file")
        study.cache = open_cache(cache_dir, no_cache)
        problems = stderr_problem_log(quiet)
        out = study.run(problems)
        out.write(out_dir, report=report)
    except (StudyError, ImportError) as e:
        raise click.ClickException(str(e))
    res = out.results
    print_summary(res)
    st = res.sections.get("study", {})
    click.echo(f"protocols run: {', '.join(st.get('protocols_run', [])) or 'none'}")
    for name, why in st.get("protocols_failed", {}).items():
        click.secho(f"  {name}: not scored: {why}", fg="yellow")
    for name, why in st.get("not_run", {}).items():
        click.echo(f"  {name}: not run ({why})")
    if "retrieval" in res.sections:
        from idbench.cli.rank import print_rank_section

        print_rank_section(res.sections["retrieval"])
    if "nearid" in res.sections:
        from idbench.report.rows import nearid_line

        n = res.sections["nearid"]
        click.echo(nearid_line(n, f"NearID [{n.get('encoder')}]"))
    click.echo(f"results: {out_dir}/ (summary.json, per_image.csv, tables.md, tables.tex{', report.html' if report else ''})")
