"""Shared CLI pieces: options, loading with friendly errors, tables."""

from __future__ import annotations

import functools
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

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

    if no_cache:
        tmp = tempfile.mkdtemp(prefix="idbench-nocache-")
        atexit.register(shutil.rmtree, tmp, True)
        set_cache_root(tmp)
    elif cache_dir is not None:
        set_cache_root(cache_dir)
    # matplotlib's font cache too goes under idbench's (now chosen) cache folder unless the user chose a place
    from idbench.cli.main import confine_tool_caches

    confine_tool_caches()


def ensure_out_dir(out_dir: Path) -> Path:
    """Create the output folder and check it is writable *before* any work (never fail after it)."""
    from idbench.folder import FolderError, check_writable

    try:
        return check_writable(out_dir, "the results")
    except FolderError as e:
        raise click.ClickException(str(e)) from None


def run_options(f: Callable) -> Callable:
    """--batch-size / --device / --quiet / --bootstrap / --seed / --replace."""
    f = click.option("--replace", is_flag=True,
                     help="Write over the results folder (default: add to it, only if it holds the same study).")(f)
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
    from idbench.metrics.labels import UnknownLabelError

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
    return ProblemLog(echo=lambda msg: say(msg, fg="yellow", err=True))


def say(text: str, *, width: int = 120, **style) -> None:
    """Echo ``text`` wrapped to ``width`` columns (continuation lines indented)."""
    import textwrap

    click.secho(textwrap.fill(text, width=width, subsequent_indent="  ", break_on_hyphens=False), **style)


def command_line() -> str:
    return "idbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def fmt_ci(entry: dict | None, digits: int = 3) -> str:
    from idbench.views.format import fmt_ci as _fmt

    return _fmt(entry, digits)


def print_summary(results, *, truth_key: str | None = "drift", width: int = 120) -> None:
    """The tables of every protocol that shows tables in the console (the ones with console lines of
    their own print them in :func:`print_sections`), each within ``width`` columns, with their notes;
    then the count of input problems. The ground-truth column is shown when the results have one (the
    demo)."""
    from idbench.report.tables import protocol_tables, shown_protocols
    from idbench.views.table import table_lines

    first = True
    for p, claims in shown_protocols(results):
        if p.views.console is not None:
            continue
        for t in protocol_tables(results, p, claims):
            if first and truth_key and any(truth_key in v for v in results.truth.values()):
                t = _with_truth(t, results, truth_key)
            first = False
            for line in table_lines(t, width=width):
                click.echo(line)
    print_problem_counts(results.problems)


def _with_truth(t: dict, results, truth_key: str) -> dict:
    """The table with a ground-truth column after the counts (and flags)."""
    header, rows = list(t["header"]), [list(r) for r in t["rows"]]
    at = header.index("flags") + 1 if "flags" in header else 2
    header.insert(at, "true drift")
    for r in rows:
        tv = results.truth.get(r[0], {}).get(truth_key)
        r.insert(at, f"{tv:.2f}" if tv is not None else "")
    return {**t, "header": header, "rows": rows}


def print_problem_counts(problems) -> None:
    n = len(problems)
    if n:
        by_action = ", ".join(f"{v} {k}" for k, v in sorted(problems.by_action().items()))
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(problems.counts().items()))
        say(f"{n} input problem(s): {by_action} ({kinds}); each is named in problems.csv and summary.json", fg="yellow")


# ----------------------------------------------------------------------------- one front door


def given_on_command_line(name: str) -> bool:
    """Whether the parameter ``name`` of the running command was given by the user (not its default)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def protocol_options(*protocols: str) -> Callable:
    """Click flags generated from the protocols' declared options (:mod:`idbench.options`): one flag
    per option name, with its type, allowed values and help from the declaration; a name declared by
    several protocols (``--levels``) sets it in each. The command receives ``options`` =
    ``{protocol: {name: value}}`` holding only the flags the user gave."""
    from idbench.protocols.registry import available_protocols, get_protocol

    names = list(protocols) or available_protocols()
    decls: dict[str, list[tuple[str, object]]] = {}
    for proto in names:
        for o in get_protocol(proto).options:
            decls.setdefault(o.name, []).append((proto, o))

    def deco(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            from idbench.options import OptionError

            options: dict[str, dict] = {}
            for name, owners in decls.items():
                value = kwargs.pop(f"opt_{name}")
                if not given_on_command_line(f"opt_{name}"):
                    continue
                for proto, o in owners:
                    try:
                        options.setdefault(proto, {})[name] = o.check(value, proto)
                    except OptionError as e:
                        raise click.BadParameter(str(e), param_hint=o.cli_flag)
            return f(*args, options=options, **kwargs)

        for name, owners in reversed(list(decls.items())):
            o = owners[0][1]
            where = ", ".join(p for p, _ in owners)
            help_ = f"[{where}] {o.help}"
            if o.type == "bool":
                flag = o.cli_flag.removeprefix("--")
                wrapper = click.option(f"--{flag}/--no-{flag}", f"opt_{name}", default=o.default, show_default=True,
                                       help=help_)(wrapper)
                continue
            if o.choices:
                ptype = click.Choice([str(c) for c in o.choices])
            elif o.type == "int":
                ptype = click.IntRange(min=o.minimum, max=o.maximum)
            elif o.type == "float":
                ptype = click.FloatRange(min=o.minimum, max=o.maximum)
            elif o.type == "path":
                ptype = click.Path(exists=True, path_type=Path)
            else:
                ptype = str
            if o.type == "list":
                help_ += " (comma-separated)"
            wrapper = click.option(o.cli_flag, f"opt_{name}", type=ptype, default=o.default,
                                   show_default=o.default is not None, help=help_)(wrapper)
        return wrapper

    return deco


def run_study(*, out_dir: Path, report: bool, quiet: bool, cache_dir: Path | None, no_cache: bool,
              options: dict | None = None, study_file: Path | None = None, replace: bool = False, **study_kw):
    """The one path every evaluating command takes: build the :class:`~idbench.study.Study` (from a
    study file when given; flags the user gave win), run it, write the results folder, print the
    summary. Keys of ``study_kw`` left as None are not set. Returns the StudyResults."""
    from idbench.folder import FolderError
    from idbench.study import Study, StudyError

    kw = {k: v for k, v in study_kw.items() if v is not None}
    kw.setdefault("command", command_line())
    kw.setdefault("progress", not quiet)
    kw.setdefault("warn", False)  # the console names problems as they happen
    try:
        if study_file:
            study = Study.from_toml(study_file, options=options or {}, **kw)
        else:
            study = Study(**kw, options=options or {})
        if not any(getattr(study, k) is not None for k in ("refs", "gen", "gallery", "samples")):
            raise click.UsageError("give inputs: --refs / --gen / --gallery / --samples, or a study file")
        study.cache = open_cache(cache_dir, no_cache)
        out = study.run(stderr_problem_log(quiet))
        out.write(out_dir, report=report, replace=replace, echo=lambda m: click.secho(m, fg="yellow", err=True))
    except (StudyError, ImportError, FolderError) as e:
        raise click.ClickException(str(e))
    for name, why in out.results.study.protocols_failed.items():
        say(f"{name}: NOT SCORED: {why}", fg="red", err=True)
    print_summary(out.results)
    return out


def finish_study(out, out_dir: Path, report: bool) -> None:
    """The closing lines; a protocol that was asked for and could not run makes the exit code 1."""
    say(f"results: {out_dir}/ (summary.json, per_image.csv, tables.md, tables.tex{', report.html' if report else ''})")
    failed = out.results.study.protocols_failed
    if failed:
        raise click.ClickException("not scored: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))


def print_sections(results, only: str | None = None) -> None:
    """The console lines of every protocol that has its own (retrieval levels, RCA, NearID, a plug-in's),
    for whichever ran; ``only``: that protocol's."""
    from idbench.report.tables import shown_protocols

    for p, _ in shown_protocols(results):
        if p.views.console is not None and (only is None or p.name == only):
            lines = p.views.console(results)
            if lines:
                click.echo("")
            for line in lines:  # a table (several lines) as it is; a sentence wrapped to 120 columns
                click.echo(line) if "\n" in line else say(line)
