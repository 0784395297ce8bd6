"""`idbench encoders`: list the encoder registry (built-ins and installed plug-ins)."""

from __future__ import annotations

import click


@click.command()
def encoders():
    """List the encoder specs this installation knows (built-ins and plug-in packages)."""
    from idbench.encoders import ENCODERS, available_encoders, describe_encoder

    for name in available_encoders():
        click.echo(f"{name:14s} {describe_encoder(name)}  [{ENCODERS.source(name)}]")
