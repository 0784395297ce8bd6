"""Paper tables: ``tables.md`` and ``tables.tex`` (booktabs), one table per protocol.

Each table has a few columns named from the metric catalogue ("mAP (subject)", "RCA (class)"), one
row per method with its counts and flags, then the reference rows that give the numbers a
meaning: real references and impostors for similarity, the real upper bound and each method's
chance level for retrieval, Acc_real and chance for RCA. Every cell is ``mean [95% CI]``. A cell is
bold only when the Holm-corrected paired sign-flip test over subjects separates its method from
every other (``rank_methods(...).best``, copies never counted); when too few subjects can reach
significance, nothing is bold and a note says why.

In LaTeX each table fits the column (``\\columnwidth``; ``wide=True``: ``table*`` and
``\\textwidth``): it is scaled down only when its natural width is larger.
"""

from __future__ import annotations

from pathlib import Path

from idbench.metrics.catalogue import MetricId
from idbench.report.format import DASH, fmt_ci, fmt_interval, fmt_num
from idbench.report.rows import FLAGS_NOTE, baseline_note, baseline_rows, content_flags, metric_rankings
from idbench.results import Results

#: per-image metric protocols -> the table they go in (order of the tables)
_GROUPS = (("similarity", "Similarity to references"), ("text", "Text"), ("learned", "Learned preference scores"),
           ("face", "Faces"),
           ("grounding", "Grounding and relations"), ("relation", "Grounding and relations"),
           ("external", "Scores shipped with the benchmark"))


#: cosine-like scores a paper may show x 100 (a preset's ``scale``)
_COSINE_LIKE = {"cos", "clip_t", "dreamsim", "ips", "sis", "face_cos", "facesim", "hpsv1", "hpsv2"}


def display_scale(res: Results, metric: str) -> int:
    """The factor a column is shown with: the preset's scale for cosine-like scores, else 1."""
    scale = int(((res.sections.get("study") or {}).get("preset") or {}).get("scale") or 1)
    return scale if scale != 1 and MetricId.parse(metric).id in _COSINE_LIKE else 1


def _scaled(entry: dict | None, factor: int) -> dict | None:
    if not entry or factor == 1:
        return entry
    return {**entry, **{k: entry[k] * factor for k in ("mean", "ci_low", "ci_high")
                        if isinstance(entry.get(k), (int, float))}}


def metric_headers(metrics: list[str], res: Results | None = None) -> list[str]:
    """Column names a person reads, from the metric catalogue: ``mAP (subject)``, with the encoder
    in brackets only when the columns come from more than one encoder, and `` x100`` when shown so."""
    ids = [MetricId.parse(m) for m in metrics]
    several = len({i.encoder for i in ids if i.encoder}) > 1
    return [i.label + (f" [{i.encoder}]" if several and i.encoder else "")
            + (f" x{display_scale(res, m)}" if res is not None and display_scale(res, m) != 1 else "")
            for i, m in zip(ids, metrics)]


def _sentence(s: str) -> str:
    s = " ".join(str(s).split())
    return s if not s or s.endswith((".", "!", "?")) else s + "."


def _method_rows(res: Results, metrics: list[str], ranks: dict, flags: dict, show_flags: bool):
    counts = res.method_counts()
    rows, bold = [], set()
    first = 3 if show_flags else 2
    for i, (m, per) in enumerate(res.methods.items()):
        n_subj, n_img = counts.get(m, (0, 0))
        cells = [m, f"{n_subj} / {n_img}"] + ([flags.get(m, "")] if show_flags else [])
        for j, metric in enumerate(metrics):
            e = _scaled(per.get(metric), display_scale(res, metric))
            cells.append(fmt_ci(e) + (f" n={e['n_images']}/{e['n_images'] + e['n_missing']}" if e and e.get("n_missing")
                                      else ""))
            rk = ranks.get(metric)
            if rk is not None and rk.best == m:
                bold.add((i, first + j))
        rows.append(cells)
    return rows, bold, first


def _base_notes(res: Results, ranks: dict, metrics: list[str]) -> list[str]:
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


def table_data(res: Results) -> list[dict]:
    """Tables as ``{"title", "key", "header", "rows", "bold" (set of (row, col)), "rules" (row indices
    a rule goes above), "notes"}``, one per protocol present."""
    shown = set(((res.sections.get("study") or {}).get("preset") or {}).get("metrics") or ())
    if shown:  # a preset shows the paper's columns (and the face-found rate beside any face score)
        metrics_all = [m for m in res.metrics if MetricId.parse(m).id in shown | {"face_found"}]
    else:
        metrics_all = [m for m in res.metrics if not MetricId.parse(m).id.startswith(("cmc@", "copy_paste"))]
    ranks = metric_rankings(res, metrics_all)
    flags = content_flags(res.sections)
    show_flags = any(flags.values())
    tables: list[dict] = []
    done: set[str] = set()
    for proto, title in _GROUPS:
        if title in done:
            continue
        protos = {p for p, t in _GROUPS if t == title}
        metrics = [m for m in metrics_all if res.metrics[m].protocol in protos]
        if not metrics:
            continue
        done.add(title)
        order = {"face_found": 0, "ips": 1, "sis": 2, "facesim": 3, "face_cos": 4}
        metrics = sorted(metrics, key=lambda m: order.get(MetricId.parse(m).id, -1))
        if proto == "face" and "face_cos" not in shown:  # the raw face cosine stays in per_image.csv; tables show FaceSim
            metrics = [m for m in metrics if MetricId.parse(m).id != "face_cos"]
        by_enc: dict[str | None, list[str]] = {}
        for m in metrics:
            by_enc.setdefault(MetricId.parse(m).encoder if proto == "face" else None, []).append(m)
        for enc, ms in by_enc.items():
            rows, bold, first = _method_rows(res, ms, ranks, flags, show_flags)
            rules = [len(rows)]
            for label, entries in baseline_rows(res.sections, ms):
                rows.append([label, "", *([""] if show_flags else []),
                             *[fmt_ci(_scaled(e, display_scale(res, m))) if e else "" for e, m in zip(entries, ms)]])
            if proto == "similarity":
                rows += _similarity_published(res, ms, 3 if show_flags else 2)
            notes = _base_notes(res, ranks, ms)
            if baseline_note(res.sections) and any(m in (res.sections.get("baselines") or {}) for m in ms):
                notes.append(baseline_note(res.sections))
            if show_flags:
                notes.append(FLAGS_NOTE)
            tables.append({"title": title + (f" ({enc})" if enc else ""), "key": proto,
                           "header": ["method", "subj. / img.", *(["flags"] if show_flags else []), *metric_headers(ms, res)],
                           "rows": rows, "bold": bold, "rules": rules if len(rows) > rules[0] else [],
                           "notes": [_sentence(n) for n in notes]})
    sec = res.sections
    if "retrieval" in sec:
        tables.append(_retrieval_table(res, ranks))
    if "rca" in sec:
        tables.append(_rca_table(res, ranks))
    if "nearid" in sec:
        n = sec["nearid"]
        ci = lambda k: fmt_interval(*(n.get(k) or [None, None]))  # noqa: E731
        rows = [[n.get("encoder", ""), str(n.get("n_samples", "")), str(n.get("n_incomplete", "")),
                 f"{fmt_num(n.get('ssr'))} {ci('ssr_ci')}".strip(), f"{fmt_num(n.get('pa'))} {ci('pa_ci')}".strip(),
                 fmt_num(n.get("chance", {}).get("pa"))]]
        cell = {"SSR": 3, "PA": 4}  # the published SSR / PA go under the study's
        pub = _published_rows(res, 6, lambda p: (cell[p["metric"]], 1) if p["metric"] in cell else None)
        tables.append({"title": "NearID", "key": "nearid", "header": ["encoder", "samples", "incomplete", "SSR [95% CI]",
                                                                      "PA [95% CI]", "chance PA"],
                       "rows": rows + pub, "bold": set(), "rules": [len(rows)] if pub else [],
                       "notes": [_sentence("SSR: share of samples whose every margin is > 0 (strict); PA: share of "
                                           "winning margins; 95% CI: cluster bootstrap over samples")]
                       + [_sentence(f"The {k.upper()} interval has zero width because every one of the "
                                    f"{n.get('n_samples')} samples gives the same value; more samples are needed for a "
                                    "wider view") for k in ("ssr", "pa")
                          if (n.get(f"{k}_ci") or [0, 1])[0] == (n.get(f"{k}_ci") or [0, 1])[1]]})
    return tables


def _published_column(metric_name: str, columns: list[str]) -> int | None:
    """The column a paper's metric name (DINO, CLIP-I, CLIP-T, ...) corresponds to."""
    from idbench.presets import is_paper_metric

    return next((j for j, c in enumerate(columns) if is_paper_metric(metric_name, c)), None)


def _published_rows(res: Results, width: int, place) -> list[list[str]]:
    """A preset's published numbers (``kind="score"``) as reference rows ``published: <what> (<source>)``
    of a table ``width`` cells wide, one row per paper row; ``place(figure)`` gives the cell a figure goes in
    and the factor it is shown with, or None when the table has no column for it."""
    pre = (res.sections.get("study") or {}).get("preset") or {}
    rows: dict[tuple[str, str], list[str]] = {}
    for p in pre.get("published") or []:
        at = place(p) if p.get("kind", "score") == "score" else None
        if at is None:
            continue
        row = rows.setdefault((p["what"], p["source"]), [f"published: {p['what']} ({p['source']})", *[""] * (width - 1)])
        row[at[0]] = f"{p['value'] * at[1]:.3f}"
    return list(rows.values())


def _similarity_published(res: Results, metrics: list[str], first: int) -> list[list[str]]:
    """Published DINO / CLIP-I / CLIP-T figures under the matching metric column (metric columns start at ``first``)."""
    def place(p):
        j = _published_column(p["metric"], metrics)
        return None if j is None else (first + j, display_scale(res, metrics[j]))

    return _published_rows(res, first + len(metrics), place)


def _retrieval_table(res: Results, ranks: dict) -> dict:
    r = res.sections["retrieval"]
    levels = list(r.get("levels", []))
    enc = r.get("encoder", "")
    cols = [f"ap:{lv}[{enc}]" for lv in levels]
    flags = content_flags(res.sections)
    show_flags = any(flags.values())
    rows, bold, first = _method_rows(res, [c for c in cols], ranks, flags, show_flags)
    finest = levels[-1] if levels else None
    header = ["method", "subj. / img.", *(["flags"] if show_flags else []), *metric_headers(cols)]
    rel = r.get("relative") or {}
    if r.get("real"):
        header.append(f"gen / real ({finest})")
        for row, m in zip(rows, res.methods):
            row.append(fmt_ci(rel.get(m, {}).get(finest), 2) if m in rel else DASH)
    rules = [len(rows)]
    pad = [""] * (first - 1)
    if r.get("real"):
        real = r["real"]
        rows.append(["real references", *pad[:1], *pad[1:],
                     *[fmt_num(real.get(lv, {}).get("ap")) for lv in levels], "1.00"])
    chance = r.get("chance") or {}
    per_method = {m: tuple(round(chance.get(m, {}).get(lv, {}).get("ap") or 0.0, 3) for lv in levels) for m in chance}
    extra = [""] if r.get("real") else []
    if per_method and len(set(per_method.values())) == 1:
        rows.append(["chance", *pad, *[fmt_num(v) for v in next(iter(per_method.values()))], *extra])
    else:
        for m, vals in per_method.items():
            rows.append([f"chance ({m})", *pad, *[fmt_num(v) for v in vals], *extra])
    notes = _base_notes(res, ranks, cols)
    notes.append(f"Gallery of {r.get('gallery_size', '')} images; chance: the exact expected AP of a random ranking of "
                 "this gallery for each method's queries; real references: the references as queries (the upper bound)")
    if not r.get("real"):
        notes.append("No references were given: there is no real-image upper bound")
    if show_flags:
        notes.append(FLAGS_NOTE)
    return {"title": f"Retrieval ({enc})", "key": "retrieval", "header": header, "rows": rows, "bold": bold,
            "rules": rules, "notes": [_sentence(n) for n in notes]}


def _rca_table(res: Results, ranks: dict) -> dict:
    sec = res.sections["rca"]
    levels = {lv: v for lv, v in sec.get("levels", {}).items()}
    ok = [lv for lv, v in levels.items() if "error" not in v]
    flags = content_flags(res.sections)
    show_flags = any(flags.values())
    counts = res.method_counts()
    header = ["method", "subj. / img.", *(["flags"] if show_flags else []), *[f"RCA ({lv})" for lv in ok]]
    rows, bold = [], set()
    first = 3 if show_flags else 2
    for i, m in enumerate(res.methods):
        # the images RCA scored (every level scores the same generations), not every image of the method
        scored = [levels[lv].get("methods", {}).get(m) or {} for lv in ok]
        n_subj, n_img = (max((e.get("n_subjects", 0) for e in scored), default=0),
                         max((e.get("n_images", 0) for e in scored), default=0)) if scored else counts.get(m, (0, 0))
        cells = [m, f"{n_subj} / {n_img}", *([flags.get(m, "")] if show_flags else [])]
        for j, lv in enumerate(ok):
            e = levels[lv].get("methods", {}).get(m)
            if e is None:
                cells.append(DASH)
                continue
            cells.append(f"{fmt_num(e.get('rca'), 2, why='Acc_real is 0')} "
                         f"{fmt_interval(*(e.get('rca_ci') or [None, None]), digits=2)}".strip())
            rk = ranks.get(levels[lv].get("metric", ""))
            if rk is not None and rk.best == m:
                bold.add((i, first + j))
        rows.append(cells)
    rules = [len(rows)]
    pad = [""] * (first - 1)
    rows.append(["Acc_real (held out)", *pad, *[f"{fmt_num(levels[lv]['acc_real'], 2)} "
                                                 f"{fmt_interval(*(levels[lv].get('acc_real_ci') or [None, None]), digits=2)}"
                                                 for lv in ok]])
    rows.append(["chance top-1 (1/K)", *pad, *[fmt_num(levels[lv].get("chance_top1"), 3) for lv in ok]])
    majority = {lv: max((e.get("chance_majority") or 0.0 for e in levels[lv].get("methods", {}).values()), default=None)
                for lv in ok}
    rows.append(["majority share (max over methods)", *pad, *[fmt_num(majority[lv], 3) for lv in ok]])
    notes = [f"RCA = Acc_gen / Acc_real of a cross-fitted oracle ({sec.get('encoder', '')} probes, one per fold): 1 means "
             "as recognisable as real photos; the interval is Acc_gen's divided by Acc_real; subj. / img. are the "
             "images RCA scored"]
    weak = [lv for lv in ok if (levels[lv].get("acc_real") or 0) < 0.8]
    for lv in weak:
        notes.append(f"Level {lv}: the probe recognises only {levels[lv]['acc_real']:.0%} of held-out real photos, so RCA "
                     "above 1 means the generations are easier for a weak probe, not better than real photos; read "
                     "Acc_gen against the majority share and chance")
    notes += [f"Level {lv} not scored: {v['error']}" for lv, v in levels.items() if "error" in v]
    if show_flags:
        notes.append(FLAGS_NOTE)
    return {"title": f"Relative Classification Accuracy ({sec.get('encoder', '')})", "key": "rca", "header": header,
            "rows": rows, "bold": bold, "rules": rules, "notes": [_sentence(n) for n in notes]}


# ----------------------------------------------------------------------------- Markdown


def one_line(s) -> str:
    """A name as one line of text: line breaks, tabs and other control characters become one space
    (a method or prompt name can never open a new row or paragraph in a table)."""
    import unicodedata

    return " ".join("".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(s)).split())


def _md_escape(s: str) -> str:
    """Markdown cell text: one line; ``|``, ``*``, ``_`` and backticks escaped; HTML markup shown as
    text (Markdown renderers pass raw HTML through)."""
    import html

    text = html.escape(one_line(s), quote=False)
    for ch in ("\\", "|", "*", "_", "`"):
        text = text.replace(ch, "\\" + ch)
    return text


def to_markdown(tables: list[dict]) -> str:
    out = []
    for t in tables:
        out.append(f"### {_md_escape(t['title'])}\n")
        out.append("| " + " | ".join(_md_escape(h) for h in t["header"]) + " |")
        out.append("|" + "---|" * len(t["header"]))
        for i, row in enumerate(t["rows"]):
            cells = [f"**{_md_escape(c)}**" if (i, j) in t["bold"] else _md_escape(c) for j, c in enumerate(row)]
            out.append("| " + " | ".join(cells) + " |")
        out += [""] + [" ".join(_md_escape(n) for n in t["notes"])] + [""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- LaTeX

_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "<": r"\textless{}", ">": r"\textgreater{}"}


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in one_line(s))


def to_latex(tables: list[dict], *, wide: bool = False) -> str:
    """booktabs tables, each scaled to the column (or, ``wide``, the text width) only when wider."""
    env, width = ("table*", r"\textwidth") if wide else ("table", r"\columnwidth")
    out = [r"% idbench tables; needs \usepackage{booktabs} and \usepackage{graphicx}"]
    for t in tables:
        label = "tab:idbench-" + "".join(ch if ch.isalnum() else "-" for ch in t.get("key", t["title"]).lower())
        out += [f"\\begin{{{env}}}[t]", "\\centering", "\\small", f"\\caption{{{tex_escape(t['title'])}}}",
                f"\\label{{{label}}}",
                f"\\resizebox{{\\ifdim\\width>{width}{width}\\else\\width\\fi}}{{!}}{{%",
                "\\begin{tabular}{l" + "c" * (len(t["header"]) - 1) + "}", "\\toprule",
                " & ".join(tex_escape(h) for h in t["header"]) + " \\\\", "\\midrule"]
        for i, row in enumerate(t["rows"]):
            if i in t.get("rules", []):
                out.append("\\midrule")
            cells = [f"\\textbf{{{tex_escape(c)}}}" if (i, j) in t["bold"] else tex_escape(c) for j, c in enumerate(row)]
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}}"]
        if t["notes"]:
            out.append("\\par\\smallskip\\parbox{" + width + "}{\\footnotesize " + " ".join(tex_escape(n) for n in t["notes"]) + "}")
        out += [f"\\end{{{env}}}", ""]
    return "\n".join(out)


def render_tables(res: Results, fmt: str = "md", *, wide: bool = False) -> str:
    if fmt not in ("md", "tex"):
        raise ValueError(f"format must be md or tex, got {fmt!r}")
    data = table_data(res)
    return to_markdown(data) if fmt == "md" else to_latex(data, wide=wide)


def write_tables(res: Results, out_dir: str | Path) -> list[Path]:
    from idbench.cache.results import atomic_write_bytes

    out = Path(out_dir)
    paths = []
    for fmt in ("md", "tex"):
        p = out / f"tables.{fmt}"
        atomic_write_bytes(p, render_tables(res, fmt).encode("utf-8"))
        paths.append(p)
    return paths


__all__ = ["render_tables", "write_tables", "table_data", "to_markdown", "to_latex", "tex_escape", "metric_headers"]
