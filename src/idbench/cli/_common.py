"""Shared CLI pieces: options, loading with friendly errors, tables."""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path
from typing import Callable

import click

from idbench.data.problems import ProblemLog


def cache_options(f: Callable) -> Callable:
    """--cache-dir / --no-cache. Everything idbench caches (embeddings, exported ONNX models,
    probes) goes under the chosen folder; with --no-cache, under a temporary folder removed at exit."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        set_cache_root_for(kwargs.get("cache_dir"), kwargs.get("no_cache", False))
        return f(*args, **kwargs)

    wrapper = click.option("--no-cache", is_flag=True,
                           help="Do not read or write the embedding cache (models are exported to a temporary folder).")(wrapper)
    wrapper = click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="Cache folder for embeddings, exported models and probes "
                                "[default: $IDBENCH_CACHE or ~/.cache/idbench].")(wrapper)
    return wrapper


def set_cache_root_for(cache_dir: Path | None, no_cache: bool) -> None:
    import atexit
    import shutil
    import tempfile

    from idbench.cache.store import set_cache_root

    import os

    from idbench.cache.store import default_cache_dir

    if no_cache:
        tmp = tempfile.mkdtemp(prefix="idbench-nocache-")
        atexit.register(shutil.rmtree, tmp, True)
        set_cache_root(tmp)
    elif cache_dir is not None:
        set_cache_root(cache_dir)
    # matplotlib's font cache too goes under idbench's cache folder unless the user chose a place
    os.environ.setdefault("MPLCONFIGDIR", str(default_cache_dir() / "matplotlib"))


def ensure_out_dir(out_dir: Path) -> Path:
    """Create the output folder and check it is writable *before* any work (never fail after it)."""
    import tempfile

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".idbench-write-test-"):
            pass
    except OSError as e:
        raise click.ClickException(f"cannot write the output folder {out_dir}: {e.strerror or e}")
    return out_dir


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
        return EmbeddingCache(default_cache_dir())
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
    """Turn data errors (bad manifest, missing folder, unknown label) into one clear message, never
    a traceback; check the output folder (-o) is writable before any work."""
    from idbench.data.images import ImageError
    from idbench.data.manifest import ManifestError
    from idbench.protocols.common import UnknownLabelError

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        out = kwargs.get("out_dir")
        if isinstance(out, Path):
            ensure_out_dir(out)
        try:
            return f(*args, **kwargs)
        except (ManifestError, ImageError, FileNotFoundError, UnknownLabelError) as e:
            raise click.ClickException(str(e))

    return wrapper


def stderr_problem_log(quiet: bool = False) -> ProblemLog:
    """Every skipped / removed / flagged input is named on stderr as it happens (``--quiet`` hides
    progress bars only: a skipped file is never hidden)."""
    return ProblemLog(echo=lambda msg: click.secho(msg, fg="yellow", err=True))


def command_line() -> str:
    return "idbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def fmt_ci(entry: dict | None, digits: int = 3) -> str:
    from idbench.report.format import fmt_ci as _fmt

    return _fmt(entry, digits)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]])


def print_summary(results, *, truth_key: str | None = "drift", skip_prefixes: tuple[str, ...] = ("cmc@",)) -> None:
    """Methods x metrics table with intervals and counts (plus the ground-truth column when known).

    Each method's row gives its subjects and images; a cell whose metric is missing for some
    images says how many it covers. Secondary per-image columns (``skip_prefixes``) stay in the
    files, not the printed table."""
    from idbench.report.format import DASH

    metrics = [m for m in results.metrics if not m.startswith(skip_prefixes)]
    truth_cols = [truth_key] if truth_key and any(truth_key in t for t in results.truth.values()) else []
    header = ["method", "subjects", "images", *truth_cols, *metrics]
    counts = results.method_counts()
    rows, notes = [], set()
    for method, per in results.methods.items():
        t = [f"{results.truth[method][truth_key]:.2f}" if truth_key in results.truth.get(method, {}) else DASH] if truth_cols else []
        cells = []
        for m in metrics:
            e = per.get(m)
            text = fmt_ci(e)
            if e is None:
                notes.add(f"{DASH}: no image of the method has a value for this metric (see the input problems)")
            elif e.get("n_missing"):
                text += f" n={e['n_images']}/{e['n_images'] + e['n_missing']}"
                notes.add("n=a/b: the metric covers a of the method's b images (the rest: no face, no reference, ...)")
            cells.append(text)
        n_subj, n_img = counts.get(method, (0, 0))
        rows.append([method, str(n_subj), str(n_img), *t, *cells])
    click.echo(format_table(header, rows))
    b = results.bootstrap
    if b:
        click.echo(f"mean [{int(b['confidence'] * 100)}% CI], cluster bootstrap over subjects, "
                   f"{b['n_resamples']} resamples, seed {b['seed']}")
    for note in sorted(notes):
        click.echo(note)
    print_problem_counts(results.problems)


def print_problem_counts(problems) -> None:
    n = len(problems)
    if n:
        by_action = ", ".join(f"{v} {k}" for k, v in sorted(problems.by_action().items()))
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(problems.counts().items()))
        click.secho(f"{n} input problem(s): {by_action} ({kinds}); each is named above and in summary.json", fg="yellow")


def finish_results(results, out_dir: Path, *, report: bool, n_resamples: int, seed: int):
    """Summarise, merge into whatever ``out_dir`` already holds (one study, one folder: a protocol's
    command never overwrites another's results), write the tables and the report; returns what
    was written."""
    from idbench.report.tables import write_tables

    merged = results.write_merged(out_dir, n_resamples=n_resamples, seed=seed)
    write_tables(merged, out_dir)
    if report:
        from idbench.report.html import render_report

        click.echo(f"report: {render_report(out_dir)}")
    return merged
