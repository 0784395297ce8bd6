"""Paper tables: ``tables.md`` and ``tables.tex`` (booktabs) from a results folder.

Every cell is ``mean [95% CI]``; each table has the counts (subjects / images) of every method and
a chance row where a chance level exists. A cell is bold only when the Holm-corrected paired
sign-flip test over subjects separates its method from every other (``rank_methods(...).best``);
when too few subjects can reach significance, nothing is bold and a note says why.
"""

from __future__ import annotations

from pathlib import Path

from idbench.metrics.catalogue import MetricId
from idbench.report.format import DASH, fmt_ci, fmt_interval, fmt_num
from idbench.report.rows import FLAGS_NOTE, baseline_note, baseline_rows, content_flags, metric_rankings, rca_rows, retrieval_rows
from idbench.results import Results


def _main_metrics(res: Results) -> list[str]:
    return [m for m in res.metrics if not MetricId.parse(m).id.startswith("cmc@")]


def metric_headers(metrics: list[str]) -> list[str]:
    """Column names a person reads, from the metric catalogue: ``mAP (subject)``, with the encoder
    in brackets only when the columns come from more than one encoder."""
    ids = [MetricId.parse(m) for m in metrics]
    several = len({i.encoder for i in ids if i.encoder}) > 1
    return [i.label + (f" [{i.encoder}]" if several and i.encoder else "") for i in ids]


def _chance_of(res: Results, metric: str) -> float | None:
    """The chance level of a metric column, when it has one."""
    sec = res.sections
    mid = MetricId.parse(metric)
    lv = mid.level
    if mid.id == "ap" and "retrieval" in sec:
        vals = [(c.get(lv, {}).get("ap"), sec["retrieval"]["methods"].get(m, {}).get(lv, {}).get("n_queries", 0))
                for m, c in sec["retrieval"].get("chance", {}).items()]
        vals = [(v, n) for v, n in vals if v is not None and n]
        if vals:
            return sum(v * n for v, n in vals) / sum(n for _, n in vals)
    if mid.id == "top1" and "rca" in sec:
        return sec["rca"].get("levels", {}).get(lv, {}).get("chance_top1")
    return None


def table_data(res: Results) -> list[dict]:
    """Tables as ``{"title", "header", "rows", "bold" (set of (row, col)), "notes"}``."""
    tables = []
    metrics = _main_metrics(res)
    ranks = metric_rankings(res, metrics)
    counts = res.method_counts()
    flags = content_flags(res.sections)
    show_flags = any(flags.values())
    first = 4 if show_flags else 3
    rows, bold = [], set()
    for i, (m, per) in enumerate(res.methods.items()):
        cells = [m, *map(str, counts.get(m, (0, 0)))] + ([flags.get(m, "")] if show_flags else [])
        for j, metric in enumerate(metrics):
            e = per.get(metric)
            cells.append(fmt_ci(e))
            rk = ranks.get(metric)
            if rk is not None and rk.best == m:
                bold.add((i, first + j))
        rows.append(cells)
    pad = [""] * (first - 1)
    for label, entries in baseline_rows(res.sections, metrics):
        rows.append([label, *pad, *[fmt_ci(e) if e else "" for e in entries]])
    chance = [_chance_of(res, m) for m in metrics]
    if any(c is not None for c in chance):
        rows.append(["chance", *pad, *[fmt_num(c) if c is not None else "" for c in chance]])
    notes = sorted({rk.why for rk in ranks.values() if rk is not None and not rk.ranked and len(res.methods) > 1})
    if baseline_note(res.sections):
        notes.append(baseline_note(res.sections))
    if show_flags:
        notes.append(FLAGS_NOTE)
    b = res.bootstrap
    if b:
        notes.insert(0, f"mean [{int(b.get('confidence', 0.95) * 100)}% CI], cluster bootstrap over subjects "
                        f"({b.get('n_resamples')} resamples, seed {b.get('seed')}); bold: significantly better than every "
                        "other method (paired sign-flip test over subjects, Holm, alpha 0.05)")
    tables.append({"title": "Methods x metrics", "header": ["method", "subjects", "images", *(["flags"] if show_flags else []),
                                                         *metric_headers(metrics)], "rows": rows,
                   "bold": bold, "notes": notes})
    sec = res.sections
    if "retrieval" in sec:
        r = sec["retrieval"]
        rows = [["real references" if x["real"] else x["who"], x["level"], x["n"], x["map"], x["chance"], x["relative"]]
                for x in retrieval_rows(r)]
        tables.append({"title": f"Retrieval ({r.get('encoder', '')}, gallery of {r.get('gallery_size', '')})",
                       "header": ["queries", "level", "subjects / images", "mAP", "chance mAP", "gen / real mAP [95% CI]"],
                       "rows": rows, "bold": set(),
                       "notes": [] if r.get("real") else [f"gen / real: {DASH} (no references given)"]})
    if "rca" in sec:
        rows = [[x["level"], DASH, "", "", "", "", f"not scored: {x['error']}"] if x["error"] else
                [x["level"], x["method"], x["n"], x["acc_real"], x["acc_gen"], x["rca"], x["chance"]]
                for x in rca_rows(sec["rca"])]
        tables.append({"title": f"Relative Classification Accuracy ({sec['rca'].get('encoder', '')})",
                       "header": ["level", "method", "subjects / images", "Acc_real [95% CI]", "Acc_gen [95% CI]",
                                  "RCA [95% CI]", "chance"], "rows": rows, "bold": set(), "notes": []})
    if "nearid" in sec:
        n = sec["nearid"]
        ci = lambda k: fmt_interval(*(n.get(k) or [None, None]))  # noqa: E731
        rows = [[n.get("encoder", ""), str(n.get("n_samples", "")), str(n.get("n_incomplete", "")),
                 f"{fmt_num(n.get('ssr'))} {ci('ssr_ci')}".strip(), f"{fmt_num(n.get('pa'))} {ci('pa_ci')}".strip(),
                 fmt_num(n.get("chance", {}).get("pa"))]]
        tables.append({"title": "NearID", "header": ["encoder", "samples", "incomplete", "SSR [95% CI]", "PA [95% CI]",
                                                     "chance PA"], "rows": rows, "bold": set(),
                       "notes": ["SSR: share of samples whose every margin is > 0 (strict); PA: share of winning margins; "
                                 "95% CI: cluster bootstrap over samples"]})
    return tables


def one_line(s) -> str:
    """A name as one line of text: line breaks, tabs and other control characters become one space
    (a method or prompt name can never open a new row or paragraph in a table)."""
    import unicodedata

    return " ".join("".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(s)).split())


def _md_escape(s: str) -> str:
    """Markdown cell text: one line, ``|`` escaped, and HTML markup shown as text (Markdown renderers
    pass raw HTML through)."""
    import html

    return html.escape(one_line(s), quote=False).replace("|", "\\|")


def to_markdown(tables: list[dict]) -> str:
    out = []
    for t in tables:
        out.append(f"### {t['title']}\n")
        out.append("| " + " | ".join(_md_escape(h) for h in t["header"]) + " |")
        out.append("|" + "---|" * len(t["header"]))
        for i, row in enumerate(t["rows"]):
            cells = [f"**{_md_escape(c)}**" if (i, j) in t["bold"] else _md_escape(c) for j, c in enumerate(row)]
            out.append("| " + " | ".join(cells) + " |")
        out += [""] + [f"_{_md_escape(n)}_  " for n in t["notes"]] + [""]
    return "\n".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--"}


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in one_line(s))


def to_latex(tables: list[dict]) -> str:
    out = ["% idbench tables; needs \\usepackage{booktabs}"]
    for t in tables:
        out += ["\\begin{table}[t]", "\\centering", "\\small", f"\\caption{{{tex_escape(t['title'])}}}",
                "\\begin{tabular}{l" + "c" * (len(t["header"]) - 1) + "}", "\\toprule",
                " & ".join(tex_escape(h) for h in t["header"]) + " \\\\", "\\midrule"]
        for i, row in enumerate(t["rows"]):
            if row and row[0] in ("chance", "real references"):
                out.append("\\midrule")
            cells = [f"\\textbf{{{tex_escape(c)}}}" if (i, j) in t["bold"] else tex_escape(c) for j, c in enumerate(row)]
            out.append(" & ".join(cells) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}"]
        if t["notes"]:
            out.append("\\\\[2pt]\\footnotesize " + " ".join(tex_escape(n) for n in t["notes"]))
        out += ["\\end{table}", ""]
    return "\n".join(out)


def render_tables(res: Results, fmt: str = "md") -> str:
    if fmt not in ("md", "tex"):
        raise ValueError(f"format must be md or tex, got {fmt!r}")
    data = table_data(res)
    return to_markdown(data) if fmt == "md" else to_latex(data)


def write_tables(res: Results, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    paths = []
    for fmt in ("md", "tex"):
        p = out / f"tables.{fmt}"
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(render_tables(res, fmt), encoding="utf-8")
        tmp.replace(p)
        paths.append(p)
    return paths


__all__ = ["render_tables", "write_tables", "table_data", "to_markdown", "to_latex", "tex_escape"]
