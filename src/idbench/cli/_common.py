"""Shared CLI pieces: options, loading with friendly errors, tables."""

from __future__ import annotations

import functools
import math
import shlex
import sys
from pathlib import Path
from typing import Callable

import click

from idbench.data.problems import ProblemLog


def cache_options(f: Callable) -> Callable:
    """--cache-dir / --no-cache."""
    f = click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")(f)
    f = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Embedding cache folder [default: $IDBENCH_CACHE or ~/.cache/idbench].")(f)
    return f


def run_options(f: Callable) -> Callable:
    """--batch-size / --device / --quiet / --bootstrap / --seed."""
    f = click.option("--seed", type=int, default=0, show_default=True, help="Seed for resampling and sampling.")(f)
    f = click.option("--bootstrap", "n_resamples", type=click.IntRange(100), default=2000, show_default=True,
                     help="Bootstrap resamples (over subjects) for confidence intervals.")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")(f)
    f = click.option("--device", default=None, help="torch device (default: cuda when present, else cpu).")(f)
    f = click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)(f)
    return f


def open_cache(cache_dir: Path | None, no_cache: bool):
    if no_cache:
        return None
    from idbench.cache.store import EmbeddingCache, default_cache_dir

    try:
        return EmbeddingCache(cache_dir or default_cache_dir())
    except Exception as e:  # unwritable folder, corrupt database, ...
        raise click.ClickException(f"cannot open the embedding cache in {cache_dir or default_cache_dir()}: {e}")


def make_encoder(spec: str, device: str | None = None):
    from idbench.encoders import create_encoder

    try:
        return create_encoder(spec, device=device)
    except click.ClickException:
        raise
    except (ValueError, OSError, ImportError, RuntimeError) as e:
        raise click.ClickException(f"cannot create encoder {spec!r}: {e}")


def user_errors(f: Callable) -> Callable:
    """Turn data errors (bad manifest, missing folder) into one clear message, never a traceback."""
    from idbench.data.images import ImageError
    from idbench.data.manifest import ManifestError

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except (ManifestError, ImageError, FileNotFoundError) as e:
            raise click.ClickException(str(e))

    return wrapper


def stderr_problem_log(quiet: bool = False) -> ProblemLog:
    return ProblemLog(echo=None if quiet else (lambda msg: click.secho(msg, fg="yellow", err=True)))


def command_line() -> str:
    return "idbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def fmt_ci(entry: dict | None, digits: int = 3) -> str:
    if not entry or entry.get("mean") is None or (isinstance(entry.get("mean"), float) and math.isnan(entry["mean"])):
        return "-"
    return f"{entry['mean']:.{digits}f} [{entry['ci_low']:.{digits}f}, {entry['ci_high']:.{digits}f}]"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]])


def print_summary(results, *, truth_key: str | None = "drift", skip_prefixes: tuple[str, ...] = ("cmc@", "face_found")) -> None:
    """Methods x metrics table with intervals (plus the ground-truth column when known).

    Secondary per-image columns (``skip_prefixes``) stay in the files, not the printed table."""
    metrics = [m for m in results.metrics if not m.startswith(skip_prefixes)]
    truth_cols = [truth_key] if truth_key and any(truth_key in t for t in results.truth.values()) else []
    header = ["method", *truth_cols, *metrics]
    rows = []
    for method, per in results.methods.items():
        t = [f"{results.truth.get(method, {}).get(truth_key, float('nan')):.2f}"] if truth_cols else []
        rows.append([method, *t, *[fmt_ci(per.get(m)) for m in metrics]])
    click.echo(format_table(header, rows))
    b = results.bootstrap
    if b:
        click.echo(f"mean [{int(b['confidence'] * 100)}% CI], cluster bootstrap over subjects, "
                   f"{b['n_resamples']} resamples, seed {b['seed']}")
    n = len(results.problems)
    if n:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(results.problems.counts().items()))
        click.secho(f"{n} input problem(s) skipped ({kinds}); listed in summary.json", fg="yellow")
