"""`idbench presets`: each benchmark preset with its settings and the source it follows."""

from __future__ import annotations

import click


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "md"]), default="text", show_default=True)
def presets(fmt):
    """List the presets (`idbench run --preset NAME`): encoders, options, scale and source."""
    from idbench.presets import all_presets, presets_markdown

    if fmt == "md":
        click.echo(presets_markdown())
        return
    for p in all_presets().values():
        click.echo(f"{p.name}: {p.description}")
        click.echo(f"  encoders: {', '.join(p.encoders)}")
        if p.protocols:
            click.echo(f"  protocols: {', '.join(p.protocols)}")
        for proto, opts in p.options.items():
            click.echo(f"  [{proto}] " + ", ".join(f"{k}={v!r}" for k, v in opts.items()))
        click.echo(f"  scale: x {p.scale}")
        if p.published:
            click.echo(f"  published: {len(p.published)} figures ({p.published[0].source})")
        if p.notes:
            click.echo(f"  note: {p.notes}")
        click.echo(f"  source: {p.source}")
