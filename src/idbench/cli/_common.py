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
    return ProblemLog(echo=lambda msg: say(msg, fg="yellow", err=True))


def say(text: str, *, width: int = 120, **style) -> None:
    """Echo ``text`` wrapped to ``width`` columns (continuation lines indented)."""
    import textwrap

    click.secho(textwrap.fill(text, width=width, subsequent_indent="  ", break_on_hyphens=False), **style)


def command_line() -> str:
    return "idbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def fmt_ci(entry: dict | None, digits: int = 3) -> str:
    from idbench.report.format import fmt_ci as _fmt

    return _fmt(entry, digits)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]])


def print_summary(results, *, truth_key: str | None = "drift", width: int = 120) -> None:
    """The paper tables of the per-image metrics (similarity, text, faces, ...; the protocol
    sections print their own), each within ``width`` columns, with their notes; then the count
    of input problems. The ground-truth column is shown when the results have one (the demo)."""
    import textwrap

    from idbench.report.tables import table_data

    tables = [t for t in table_data(results) if t["key"] not in ("retrieval", "rca", "nearid")]
    for k, t in enumerate(tables):
        header, rows = list(t["header"]), [list(r) for r in t["rows"]]
        keep = header.index("flags") + 1 if "flags" in header else 2
        if k == 0 and truth_key and any(truth_key in v for v in results.truth.values()):
            header.insert(keep, "true drift")
            for r in rows:
                tv = results.truth.get(r[0], {}).get(truth_key)
                r.insert(keep, f"{tv:.2f}" if tv is not None else "")
            keep += 1
        click.echo(f"\n{t['title']}")
        click.echo(format_table_within(header, rows, keep=keep, width=width))
        for n in t["notes"]:
            click.echo(textwrap.fill(n, width=width, subsequent_indent="  "))
    print_problem_counts(results.problems)


def format_table_within(header: list[str], rows: list[list[str]], *, keep: int = 1, width: int = 120) -> str:
    """:func:`format_table`, split into blocks of columns (each repeating the first ``keep``) so that
    no line is wider than ``width``."""
    def w(col):
        return max(len(str(x)) for x in [header[col], *[r[col] for r in rows]])

    fixed = sum(w(c) + 2 for c in range(keep))
    blocks, cur, used = [], [], fixed
    for c in range(keep, len(header)):
        if cur and used + w(c) + 2 > width:
            blocks.append(cur)
            cur, used = [], fixed
        cur.append(c)
        used += w(c) + 2
    blocks.append(cur)
    out = []
    for cols in blocks:
        idx = list(range(keep)) + cols
        # a reference row with nothing in this block's columns (no real / impostor level for face found) is left out
        block_rows = [[r[i] for i in idx] for r in rows if any(str(r[i]).strip() for i in cols)]
        out.append(format_table([header[i] for i in idx], block_rows))
    return "\n\n".join(out)


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
    st = out.results.sections.get("study", {})
    for name, why in st.get("protocols_failed", {}).items():
        say(f"{name}: NOT SCORED: {why}", fg="red", err=True)
    print_summary(out.results)
    return out


def finish_study(out, out_dir: Path, report: bool) -> None:
    """The closing lines; a protocol that was asked for and could not run makes the exit code 1."""
    st = out.results.sections.get("study", {})
    say(f"results: {out_dir}/ (summary.json, per_image.csv, tables.md, tables.tex{', report.html' if report else ''})")
    failed = st.get("protocols_failed", {})
    if failed:
        raise click.ClickException("not scored: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))


def print_sections(results) -> None:
    """The protocol sections' own console tables (retrieval levels, RCA, NearID), for whichever ran."""
    s = results.sections
    if "retrieval" in s:
        print_rank_section(s["retrieval"])
    if "rca" in s:
        print_rca_section(s["rca"])
    if "nearid" in s:
        print_nearid_section(s["nearid"])


def print_rank_section(section: dict) -> None:
    from idbench.report.format import DASH
    from idbench.report.rows import retrieval_rows

    notes = []
    rows = [["(real references)" if x["real"] else x["who"], x["level"], str(x["n_subjects"]), str(x["n_images"]),
             x["map"], x["r1"], x["r5"], x["chance"], x["relative"]] for x in retrieval_rows(section)]
    click.echo(format_table_within(["queries", "level", "subjects", "images", "mAP", "R@1", "R@5", "chance mAP",
                                    "gen/real mAP [95% CI]"], rows, keep=2))
    if not section["real"]:
        notes.append(f"gen/real mAP: {DASH} because no references were given (--refs): there is no real-image upper bound")
    notes.append("chance mAP: exact expected AP of a random ranking of this gallery for these queries")
    leak = section.get("leakage", {})
    if leak.get("gallery_copies_of_references"):
        notes.append(f"{leak['gallery_copies_of_references']} gallery image(s) copy a reference (bytes or near-copy): "
                     f"{'removed from the gallery' if leak['policy'] == 'remove' else 'kept (--leaked keep)'}")
    for n in notes:
        say(n)


def print_rca_section(section: dict) -> None:
    from idbench.report.rows import rca_rows

    rows = []
    for x in rca_rows(section, rca_digits=3):
        if x["error"]:
            click.secho(f"RCA level {x['level']}: not scored: {x['error']}", fg="yellow")
            continue
        rows.append([x["method"], x["level"], str(x["n_subjects"]), str(x["n_images"]), x["acc_real"], x["acc_gen"],
                     x["top5"], x["rca"], x["chance"]])
    if rows:
        click.echo(format_table_within(["method", "level", "subjects", "images", "Acc_real [95% CI]", "Acc_gen [95% CI]",
                                        "top-5", "RCA [95% CI]", "chance top-1"], rows, keep=2))


def print_nearid_section(section: dict) -> None:
    from idbench.report.format import fmt_num
    from idbench.report.rows import nearid_line

    review = section.get("review")
    if review:
        click.echo(f"review {review['review_file']}: {review['removed']} distractor(s) rejected by a person, "
                   f"{review['restored']} restored, {review.get('unknown_rows', 0) + review.get('conflicting_rows', 0)} "
                   "row(s) not used (each named in problems.csv)")
    b = section.get("distractor_build")
    if b:
        click.echo(f"distractors: {b.get('accepted')} of {b.get('attempts')} attempts passed the gates; rejected: "
                   + (", ".join(f"{g} {n}" for g, n in (b.get("rejected") or {}).items()) or "none"))
    say(nearid_line(section, f"NearID [{section.get('encoder')}]"))
    per = section.get("per_source") or {}
    if section.get("n_samples") and len(per) > 1:
        click.echo(format_table(["source", "SSR", "PA", "samples"],
                                [[k, fmt_num(v["ssr"]), fmt_num(v["pa"]), str(v["n_samples"])] for k, v in per.items()]))
