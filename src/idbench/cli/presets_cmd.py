"""`idbench presets [NAME]`: each benchmark preset with its settings and the source it follows, or one
preset's file."""

from __future__ import annotations

import click


@click.command()
@click.argument("name", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "md"]), default="text", show_default=True)
def presets(name, fmt):
    """List the presets (`idbench run --preset NAME`): encoders, options, scale and source. With NAME
    (or a .toml path), print that preset's file."""
    from idbench.presets import all_presets, preset_text, presets_markdown

    if name:
        try:
            click.echo(preset_text(name), nl=False)
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        return
    if fmt == "md":
        click.echo(presets_markdown())
        return
    errors: dict[str, str] = {}
    for p in all_presets(errors).values():
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
        click.echo(f"  source: {p.repository + ' @ ' + p.commit[:12] + ': ' if p.repository else ''}{p.source}")
        if p.path:
            click.echo(f"  file: {p.path}")
    for n, why in errors.items():
        click.echo(f"{n}: cannot be loaded: {why}", err=True)
