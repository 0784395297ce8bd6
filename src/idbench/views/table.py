"""The kit every protocol's views are built with: the table a person reads, from a results object.

A table is a dict ``{"title", "key", "header", "rows", "bold" (set of (row, col)), "rules" (row
indices a rule goes above), "notes"}``; :mod:`idbench.report.tables` writes it as Markdown and
LaTeX, :mod:`idbench.report.html` as HTML, and the console prints it (:func:`format_table_within`).
Column names come from the metric catalogue; every cell is ``mean [95% CI]``; a cell is bold only
when its method's stored ranking (:mod:`idbench.stats.ranking`) makes it significantly best.

A protocol with no views of its own is shown by :func:`metric_table` over the metrics it added.
"""

from __future__ import annotations

from idbench.metrics.catalogue import MetricId
from idbench.stats.ranking import metric_rankings
from idbench.views.format import DASH, fmt_ci
from idbench.views.rows import FLAGS_NOTE, content_flags

#: cosine-like scores a paper may show x 100 (a preset's ``scale``)
_COSINE_LIKE = {"cos", "clip_t", "dreamsim", "ips", "sis", "face_cos", "facesim", "hpsv1", "hpsv2"}


def display_scale(res, metric: str) -> int:
    """The factor a column is shown with: the preset's scale for cosine-like scores, else 1."""
    pre = res.study.preset
    scale = int(pre.scale or 1) if pre is not None else 1
    return scale if scale != 1 and MetricId.parse(metric).id in _COSINE_LIKE else 1


def scaled(entry: dict | None, factor: int) -> dict | None:
    if not entry or factor == 1:
        return entry
    return {**entry, **{k: entry[k] * factor for k in ("mean", "ci_low", "ci_high")
                        if isinstance(entry.get(k), (int, float))}}


def metric_headers(metrics: list[str], res=None) -> list[str]:
    """Column names a person reads, from the metric catalogue: ``mAP (subject)``, with the encoder
    in brackets only when the columns come from more than one encoder, and `` x100`` when shown so."""
    ids = [MetricId.parse(m) for m in metrics]
    several = len({i.encoder for i in ids if i.encoder}) > 1
    return [i.label + (f" [{i.encoder}]" if several and i.encoder else "")
            + (f" x{display_scale(res, m)}" if res is not None and display_scale(res, m) != 1 else "")
            for i, m in zip(ids, metrics)]


def sentence(s: str) -> str:
    s = " ".join(str(s).split())
    return s if not s or s.endswith((".", "!", "?")) else s + "."


def method_rows(res, metrics: list[str], ranks: dict, flags: dict, show_flags: bool):
    counts = res.method_counts()
    rows, bold = [], set()
    first = 3 if show_flags else 2
    for i, (m, per) in enumerate(res.methods.items()):
        n_subj, n_img = counts.get(m, (0, 0))
        cells = [m, f"{n_subj} / {n_img}"] + ([flags.get(m, "")] if show_flags else [])
        for j, metric in enumerate(metrics):
            e = scaled(per.get(metric), display_scale(res, metric))
            cells.append(fmt_ci(e) + (f" n={e['n_images']}/{e['n_images'] + e['n_missing']}" if e and e.get("n_missing")
                                      else ""))
            rk = ranks.get(metric)
            if rk is not None and rk.best == m:
                bold.add((i, first + j))
        rows.append(cells)
    return rows, bold, first


def base_notes(res, ranks: dict, metrics: list[str]) -> list[str]:
    notes = []
    if any(e.get("n_missing") for m in metrics for per in res.methods.values() for e in [per.get(m)] if e):
        notes.append("n=a/b: the metric covers a of the method's b images (each other one is named in the input "
                     "problems: no face, no reference, no prompt, ...)")
    if any(per.get(m) is None for m in metrics for per in res.methods.values()):
        notes.append(f"{DASH}: no image of the method has a value for this metric (see the input problems)")
    b = res.bootstrap
    if b:
        notes.append(f"Mean [{int(b.get('confidence', 0.95) * 100)}% CI], cluster bootstrap over subjects "
                     f"({b.get('n_resamples')} resamples, seed {b.get('seed')}); bold: significantly better than every "
                     "other method (paired sign-flip test over subjects, Holm, alpha 0.05)")
    why = sorted({rk.why for m, rk in ranks.items() if m in metrics and rk is not None and not rk.ranked
                  and len(res.methods) > 1})
    notes += [f"Not ranked: {w.removeprefix('not ranked: ')}" for w in why]
    return notes


def published_column(metric_name: str, columns: list[str]) -> int | None:
    """The column a paper's metric name (DINO, CLIP-I, CLIP-T, ...) corresponds to."""
    from idbench.metrics.catalogue import is_paper_metric

    return next((j for j, c in enumerate(columns) if is_paper_metric(metric_name, c)), None)


def published_rows(res, width: int, place) -> list[list[str]]:
    """A preset's published numbers (``kind="score"``) as reference rows ``published: <what> (<source>)``
    of a table ``width`` cells wide, one row per paper row; ``place(figure)`` gives the cell a figure goes in
    and the factor it is shown with, or None when the table has no column for it."""
    pre = res.study.preset
    rows: dict[tuple[str, str], list[str]] = {}
    for p in pre.published if pre is not None else []:
        at = place(p) if p.kind == "score" else None
        if at is None:
            continue
        row = rows.setdefault((p.what, p.source), [f"published: {p.what} ({p.source})", *[""] * (width - 1)])
        row[at[0]] = f"{p.value * at[1]:.3f}"
    return list(rows.values())


def shown_metrics(res) -> list[str]:
    """The metrics the tables show: a preset's paper columns (and the face-found rate beside any face
    score), else every metric but the CMC curve points and copy-paste scores (in per_image.csv)."""
    shown = set(res.study.preset.metrics) if res.study.preset is not None else set()
    if shown:
        return [m for m in res.metrics if MetricId.parse(m).id in shown | {"face_found"}]
    return [m for m in res.metrics if not MetricId.parse(m).id.startswith(("cmc@", "copy_paste"))]


def metric_table(res, metrics: list[str], *, title: str, key: str, extra_rows=(), notes=()) -> dict:
    """One table of ``metrics``: a row per method (counts, flags, ``mean [95% CI]`` per metric, bold
    for a significantly best method), then ``extra_rows`` (reference rows, after a rule), then the
    notes (intervals, missing values, why nothing is ranked, ``notes``)."""
    ranks = metric_rankings(res, metrics)
    flags = content_flags(res.sections)
    show_flags = any(flags.values())
    rows, bold, first = method_rows(res, metrics, ranks, flags, show_flags)
    rules = [len(rows)]
    for row in extra_rows:
        rows.append(list(row[:1]) + [""] * (first - 1) + list(row[1:]))
    all_notes = base_notes(res, ranks, metrics) + list(notes) + ([FLAGS_NOTE] if show_flags else [])
    return {"title": title, "key": key,
            "header": ["method", "subj. / img.", *(["flags"] if show_flags else []), *metric_headers(metrics, res)],
            "rows": rows, "bold": bold, "rules": rules if len(rows) > rules[0] else [],
            "notes": [sentence(n) for n in all_notes]}


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Plain-text columns for the console."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]])


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


def table_lines(t: dict, *, width: int = 120) -> list[str]:
    """A table as console lines: its title, its columns in blocks no wider than ``width`` (the method
    and count columns repeated), its notes wrapped."""
    import textwrap

    header, rows = list(t["header"]), [list(r) for r in t["rows"]]
    keep = header.index("flags") + 1 if "flags" in header else min(2, len(header))
    return ["", t["title"], format_table_within(header, rows, keep=keep, width=width),
            *[textwrap.fill(n, width=width, subsequent_indent="  ") for n in t["notes"]]]
