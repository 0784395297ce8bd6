"""`idbench run`: one study over references, generations, a gallery, NearID samples and ratings."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import (
    cache_options,
    finish_study,
    given_on_command_line,
    print_sections,
    protocol_options,
    run_options,
    run_study,
    user_errors,
)
from idbench.data.layout import available_layouts
from idbench.protocols.registry import available_protocols

_PATH = click.Path(exists=True, path_type=Path)


@click.command()
@click.argument("study_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--refs", "refs", type=_PATH, help="References: refs/<subject>/*.jpg, a manifest, or a benchmark layout.")
@click.option("--gen", "gen", type=_PATH, help="Generations: gen/<method>/<subject>/*.png, a manifest, or a benchmark layout.")
@click.option("--gallery", "gallery", type=_PATH, help="Labelled gallery (retrieval and RCA): manifest or folder tree.")
@click.option("--samples", "samples", type=_PATH, help="NearID samples manifest (idbench's or NearID's tables).")
@click.option("--human", "human", type=_PATH, help="Human ratings (image_id, score[, rater]) or DreamBench++ rating files.")
@click.option("-e", "--encoder", "encoders", multiple=True,
              help="Encoder spec, repeatable [default: effnet-lite0]; `idbench encoders` lists them. Retrieval, RCA, "
                   "NearID and FID use the first image encoder.")
@click.option("--preset", default=None,
              help="A benchmark's own scoring settings (encoders, preprocessing, pairing, options); `idbench presets` "
                   "lists them. Flags given here win, and the output says which settings differ.")
@click.option("--layout", type=click.Choice(["auto", "idbench", *available_layouts()]), default="auto", show_default=True,
              help="Published benchmark layout of the inputs (auto-detected).")
@click.option("--protocols", default=None,
              help=f"Comma-separated subset of {','.join(available_protocols())} [default: all the inputs allow].")
@click.option("--distribution/--no-distribution", default=False, show_default=True,
              help="Also FID / KID (opt-in: meaningful only with many images per method).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: embed every input on a Ray cluster first (one encoder per actor; idbench[ray]); "
                   "the protocols then read the cache as usual.")
@click.option("--ray-address", default=None, help="Ray cluster address, with --backend ray (default: a local cluster, or RAY_ADDRESS).")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-study"),
              show_default=True, help="The results folder (merged with what is already there).")
@click.option("--report/--no-report", default=True, show_default=True)
@protocol_options()
@cache_options
@run_options
@user_errors
def run(study_file, refs, gen, gallery, samples, human, encoders, preset, layout, protocols, distribution, backend, ray_address,
        out_dir, report, cache_dir, no_cache, batch_size, device, quiet, n_resamples, seed, replace, options):
    """Run every protocol the inputs allow, into one results folder.

    similarity (needs --refs and --gen), retrieval and RCA (--gallery and --gen), NearID
    (--samples), agreement (--human), FID/KID (--distribution). Writes OUT/summary.json (one
    section per protocol, with counts and intervals), per_image.csv (+ .parquet with pyarrow),
    tables.md, tables.tex and report.html. Inputs and options may also come from a study file
    (TOML); flags given on the command line win over it, key by key.

    \b
    Examples:
      idbench run --refs refs/ --gen gen/ --gallery gallery.csv --samples samples.csv -o results/
      idbench run study.toml
      idbench run --refs dreambooth/dataset --gen samples/   # DreamBench layout, prompts from the file names
    """
    given = given_on_command_line
    out = run_study(
        replace=replace,
        study_file=study_file, out_dir=out_dir, report=report, quiet=quiet, cache_dir=cache_dir, no_cache=no_cache,
        options=options, refs=refs, gen=gen, gallery=gallery, samples=samples, human=human,
        encoders=list(encoders) or None, protocols=protocols if given("protocols") else None, preset=preset,
        distribution=distribution if given("distribution") else None,
        layout=(None if layout == "auto" else layout) if given("layout") else None,
        seed=seed if given("seed") else None, n_resamples=n_resamples if given("n_resamples") else None,
        batch_size=batch_size if given("batch_size") else None, device=device,
        backend=backend if given("backend") else None, ray_address=ray_address)
    st = out.results.study
    if st.preset is not None:
        pr = st.preset
        click.echo(f"preset {pr.name} (tables x {pr.scale}): " + ("settings as published" if not pr.differs else
                   "settings that differ from it: " + "; ".join(pr.differs)))
    click.echo(f"protocols run: {', '.join(st.protocols_run) or 'none'}")
    for name, why in st.not_run.items():
        click.echo(f"  {name}: not run ({why})")
    print_sections(out.results)
    finish_study(out, out_dir, report)
