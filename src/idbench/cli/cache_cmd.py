"""`idbench cache info|clear`."""

from __future__ import annotations

from pathlib import Path

import click

from idbench.views.table import format_table


def _open(cache_dir):
    from idbench.cache.store import EmbeddingCache, default_cache_dir

    return EmbeddingCache(cache_dir or default_cache_dir())


@click.group()
def cache():
    """Inspect or clear the embedding cache (keyed by encoder and image content hash)."""


@cache.command()
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [default: $IDBENCH_CACHE or ~/.cache/idbench].")
def info(cache_dir):
    """Entries per encoder and size on disk."""
    i = _open(cache_dir).info()
    click.echo(f"cache: {i['path']}  ({i['entries']} embeddings, {i['bytes'] / 1e6:.1f} MB)")
    if i["by_encoder"]:
        click.echo(format_table(["encoder", "embeddings"], [[k, str(v)] for k, v in i["by_encoder"].items()]))


@cache.command()
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [default: $IDBENCH_CACHE or ~/.cache/idbench].")
@click.option("--encoder", "encoder_id", default=None, help="Only this encoder id (as listed by `cache info`).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(cache_dir, encoder_id, yes):
    """Delete cached embeddings."""
    c = _open(cache_dir)
    what = f"embeddings of {encoder_id}" if encoder_id else "all cached embeddings"
    if not yes and not click.confirm(f"delete {what} in {c.path}?", default=False):
        raise click.Abort()
    n = c.clear(encoder_id)
    click.echo(f"deleted {n} embeddings")
