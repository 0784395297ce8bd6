"""`idbench world make|simulate`: the synthetic identity world."""

from __future__ import annotations

import time
from pathlib import Path

import click


@click.group()
def world():
    """A synthetic identity world with known truth (category > subclass > instance)."""


@world.command()
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--categories", type=click.IntRange(1, 3), default=3, show_default=True)
@click.option("--subclasses", type=click.IntRange(1), default=2, show_default=True)
@click.option("--instances", type=click.IntRange(1), default=3, show_default=True)
@click.option("--views", type=click.IntRange(1), default=4, show_default=True)
@click.option("--refs", type=click.IntRange(1), default=3, show_default=True)
@click.option("--size", type=click.IntRange(64), default=224, show_default=True)
def make(out_dir, seed, categories, subclasses, instances, views, refs, size):
    """Render a world: references, gallery views, matched-context distractors and masks (gallery.csv)."""
    from idbench.world import WorldSpec, make_world

    spec = WorldSpec(seed, categories, subclasses, instances, views, refs, size)
    t0 = time.perf_counter()
    make_world(out_dir, spec)
    n = sum(1 for _ in Path(out_dir).rglob("*.png") if "masks" not in _.parts)
    dt = time.perf_counter() - t0
    click.echo(f"{n} images in {dt:.1f} s ({n / dt:.0f} images/s, PNG writing included) -> {out_dir}/gallery.csv")


@world.command()
@click.option("--world", "world_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--per-subject", type=click.IntRange(1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def simulate(world_dir, out_dir, per_subject, seed):
    """Write the simulated methods' generations (GEN/<method>/<subject>/*.png + method.json with the true drift)."""
    from idbench.world import DEFAULT_METHODS, simulate_methods

    simulate_methods(world_dir, out_dir, per_subject=per_subject, seed=seed)
    for m in DEFAULT_METHODS:
        click.echo(f"{m.name:16s} drift {m.drift:.2f}  {'copies context' if m.copies_context else ''}")
