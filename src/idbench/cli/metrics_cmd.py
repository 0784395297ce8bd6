"""`idbench metrics`: the metric catalogue (every metric idbench can write)."""

from __future__ import annotations

import click


@click.command("metrics")
@click.option("--format", "fmt", type=click.Choice(["text", "md"]), default="text", show_default=True)
def metrics(fmt):
    """List every metric with its name, definition, direction, range, chance or baseline and source."""
    from idbench.metrics.catalogue import all_specs, catalogue_markdown
    from idbench.protocols.registry import available_protocols

    if fmt == "md":
        click.echo(catalogue_markdown(), nl=False)
        return
    available_protocols()  # a plug-in protocol's entries join the catalogue as it loads (a broken one is named)
    for m in all_specs():
        where = "per image" if m.per_image else "per method"
        click.echo(f"{m.id}  ({m.name}; {m.protocol}, {where})")
        click.echo(f"    {m.definition}")
        click.echo(f"    {'higher' if m.higher_is_better else 'lower'} is better; range {m.range}; "
                   f"chance / baseline: {m.baseline}")
        click.echo(f"    source: {m.source}; computed by {m.function}")
