"""`idbench nearid eval|train`: near-identity distractor metrics and the learned identity head."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.cli._common import (
    cache_options,
    finish_study,
    make_encoder,
    open_cache,
    print_sections,
    protocol_options,
    run_options,
    run_study,
    stderr_problem_log,
    user_errors,
)
from idbench.views.table import format_table


@click.group()
def nearid():
    """NearID: is the identity, not the background, what the encoder sees?

    A sample is n views of one identity and, per view, a distractor: a different but similar
    instance on exactly that view's background. SSR = share of samples whose every margin
    sim(view_i, view_j) - sim(view_i, distractor_i) is > 0; PA = share of winning margins.
    """


def _load_samples(samples_path: Path | None, world: Path | None, problems):
    from idbench.data.manifest import load_gallery
    from idbench.data.nearid import load_samples, samples_from_world

    if bool(samples_path) == bool(world):
        raise click.UsageError("give exactly one of --samples MANIFEST or --world DIR")
    if world:
        return samples_from_world(load_gallery(world / "gallery.csv", problems).records)
    from idbench.data.layout import read_layout

    found = read_layout(samples_path, problems, role="samples")  # NearID's own tables (id, img1.., nimg1..)
    return found["samples"] if found else load_samples(samples_path, problems)


@nearid.command("eval")
@click.option("--samples", "samples_path", type=click.Path(exists=True, path_type=Path), help="NearID samples manifest.")
@click.option("--world", type=click.Path(exists=True, file_okay=False, path_type=Path), help="A synthetic world folder.")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True)
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("idbench-nearid"), show_default=True)
@click.option("--report/--no-report", default=True, show_default=True)
@protocol_options("nearid")
@cache_options
@run_options
@user_errors
def eval_(samples_path, world, encoder_spec, out_dir, report, cache_dir, no_cache, batch_size, device, quiet, n_resamples,
          seed, replace, options):
    """SSR, PA and the margin distribution of an encoder, overall and per distractor source (the
    nearid protocol of one Study, the same path as ``idbench run --protocols nearid``)."""
    if bool(samples_path) == bool(world):
        raise click.UsageError("give exactly one of --samples MANIFEST or --world DIR")
    samples = _load_samples(None, world, stderr_problem_log(quiet)) if world else samples_path
    out = run_study(replace=replace, out_dir=out_dir, report=report, quiet=quiet, cache_dir=cache_dir, no_cache=no_cache, options=options,
                    samples=samples, encoders=[encoder_spec], protocols=["nearid"], seed=seed, n_resamples=n_resamples,
                    batch_size=batch_size, device=device)
    if "nearid" in out.results.sections:
        print_sections(out.results, only="nearid")
    finish_study(out, out_dir, report)


@nearid.command()
@click.option("--samples", "samples_path", type=click.Path(exists=True, path_type=Path), help="NearID samples manifest.")
@click.option("--world", type=click.Path(exists=True, file_okay=False, path_type=Path), help="A synthetic world folder.")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True, help="Frozen backbone.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Head folder.")
@click.option("--epochs", type=click.IntRange(1), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@cache_options
@user_errors
def train(samples_path, world, encoder_spec, out_dir, epochs, seed, quiet, cache_dir, no_cache):
    """Train an identity head on frozen, cached backbone embeddings (two-tier loss, T=0.07, alpha=0.5).

    Identities are split into disjoint train / validation / test sets; training stops early on
    validation SSR. Prints frozen-backbone vs head SSR, PA and retrieval mAP on the test identities,
    and saves head.safetensors + config.json, usable as the encoder `nearid:OUT`.
    """
    from idbench.nearid.train import NearIDInputError, train_identity_head

    problems = stderr_problem_log(quiet)
    samples = _load_samples(samples_path, world, problems)
    try:
        report = train_identity_head(samples, make_encoder(encoder_spec), encoder_spec, out_dir, epochs=epochs,
                                     seed=seed, cache=open_cache(cache_dir, no_cache), problems=problems,
                                     progress=not quiet)
    except NearIDInputError as e:
        raise click.ClickException(str(e)) from None
    ids = report["identities"]
    click.echo(format_table(["on test identities", "SSR", "PA", "retrieval mAP"],
                            [[k, f"{v['ssr']:.3f}", f"{v['pa']:.3f}", f"{v['retrieval_map']:.3f}"] for k, v in report["test"].items()]))
    click.echo(f"identities train/val/test: {ids['train']}/{ids['val']}/{ids['test']}; epochs run: {report['epochs_run']}")
    click.echo(f"head: {out_dir}/  (use as encoder nearid:{out_dir})")


@nearid.command()
@click.option("--samples", "samples_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV: sample_id, view1, view2, view1_edited, view2_edited [, part_mask1, object_mask1, part_mask2, object_mask2].")
@click.option("-e", "--encoder", "encoder_spec", default="effnet-lite0", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
@cache_options
@user_errors
def parts(samples_path, encoder_spec, quiet, cache_dir, no_cache):
    """Part-level test: SSR and PA over m1 = s(1,2) - s(1,1p) and m2 = s(1,2) - s(2,2p), and M-O
    (Fisher-z mean Pearson r between similarity and the oracle 1 - part area / object area) when
    masks are given."""
    from idbench.data.manifest import read_rows
    from idbench.nearid.train import NearIDInputError, part_level_test

    try:
        out = part_level_test(read_rows(samples_path), samples_path.parent, make_encoder(encoder_spec),
                              cache=open_cache(cache_dir, no_cache), problems=stderr_problem_log(quiet),
                              progress=not quiet)
    except NearIDInputError as e:
        raise click.ClickException(f"{samples_path}: {e}") from None
    click.echo(f"part-level: SSR {out['ssr']:.3f}  PA {out['pa']:.3f}  ({out['n_samples']} samples)")
    if "m_o" in out:
        click.echo(f"M-O (Fisher-z mean Pearson r, similarity vs oracle): {out['m_o']:+.3f}")
