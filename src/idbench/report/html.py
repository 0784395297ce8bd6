"""The self-contained HTML report: one file, images embedded as thumbnails, no network.

Sections appear when the results folder has them: the methods x metrics table with intervals and
significance marks, per-subject heatmaps, retrieval examples (query + top-5, correct ones marked),
NearID margins, RCA confusion, the meta-evaluation, and every skipped input. Every file name,
prompt and label is escaped (jinja2 autoescape).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from idbench.results import Results
from idbench.section import typed_sections
from idbench.views.figures import forest, heatmap, thumb
from idbench.views.format import fmt_num


def _html_table(t: dict) -> dict:
    return {"title": t["title"], "key": t["key"], "header": t["header"], "notes": t["notes"],
            "rows": [{"cells": [{"text": c, "best": (i, j) in t["bold"]} for j, c in enumerate(row)],
                      "reference": i >= (t["rules"][0] if t.get("rules") else len(t["rows"]))}
                     for i, row in enumerate(t["rows"])]}


def _answer(res: Results, rankings: dict) -> dict | None:
    """The first figure: headline metric per protocol, methods with intervals, reference lines; and
    one sentence per protocol."""
    from idbench.metrics.catalogue import MetricId
    from idbench.report.examples import headline_metrics
    from idbench.stats.ranking import flagged_methods

    flagged = flagged_methods(res.sections)
    panels, sentences = [], []
    for h in headline_metrics(res):
        m = h["metric"]
        rk = rankings.get(m)
        rows = []
        for meth, per in res.methods.items():
            e = per.get(m)
            if not e or e.get("mean") is None:
                continue
            rows.append({"method": meth, "mean": float(e["mean"]), "lo": e.get("ci_low"), "hi": e.get("ci_high"),
                         "rank": (rk.ranks.get(meth) if rk is not None and rk.ranked else None), "flagged": meth in flagged})
        if not rows:
            continue
        hib = res.metrics[m].higher_is_better
        # methods with copies in their own block, below the ranked ones: they never lead a panel or a sentence
        rows.sort(key=lambda r: (r["flagged"], -r["mean"] if hib else r["mean"]))
        mid = MetricId.parse(m)
        label = mid.label + (f" [{mid.encoder}]" if mid.encoder else "")
        panels.append({"label": label, "rows": rows, "refs": h["refs"]})
        ranked = [r for r in rows if not r["flagged"]] or rows
        top, bottom = ranked[0], ranked[-1]
        apart = [r["method"] for r in rows if r["flagged"]]
        refs = "; ".join(f"{name} {fmt_num(v)}" for name, v, _ in h["refs"])
        if rk is not None and rk.best:
            lead = f"{rk.best} is significantly best"
        elif rk is not None and rk.ranked:
            lead = "no method is significantly better than every other"
        else:
            lead = "the methods are not ranked" + (f" ({rk.why})" if rk is not None and rk.why else "")
        span = (f"{top['method']} {fmt_num(top['mean'])}" if top is bottom else
                f"from {fmt_num(top['mean'])} ({top['method']}) to {fmt_num(bottom['mean'])} ({bottom['method']})")
        sentences.append(f"{label}: {lead}; {span}" + (f"; {refs}" if refs else "")
                         + (f"; shown apart, as they copy their inputs: {', '.join(apart)}" if apart and ranked is not rows
                            else "") + ".")
    if not panels:
        return None
    alt = "Method means with 95% intervals: " + "; ".join(
        f"{p['label']}: " + ", ".join(f"{r['method']} {r['mean']:.3f}" for r in p["rows"]) for p in panels)
    return {"uri": forest(panels), "alt": alt, "sentences": sentences}


def protocol_sections(res: Results, results_dir: Path) -> tuple[list[dict], dict]:
    """The report's protocol sections and each protocol's own report context, from the protocol
    registry (:func:`idbench.report.tables.shown_protocols`): a section per heading a protocol
    declares, with its tables, or why it has none (not run, failed, no figures)."""
    from idbench.report.tables import protocol_tables, shown_protocols

    study = res.study
    failed, not_run, ran = study.protocols_failed, study.not_run, set(study.protocols_run)
    sections, extra = [], {}
    for p, claims in shown_protocols(res):
        tables = protocol_tables(res, p, claims)
        headings = p.views.headings or ((p.name, p.heading),)
        keys = {k for k, _ in headings}
        for i, (key, title) in enumerate(headings):
            mine = [_html_table(t) for t in tables if t["key"] == key or (i == 0 and t["key"] not in keys)]
            if i == 0:
                present = bool(mine) or p.name in res.sections
                why = failed.get(p.name) and f"not scored: {failed[p.name]}"
                if p.run is None and not present:
                    continue  # a metric group no protocol claims, with nothing shown
                if not present and not why:
                    why = (f"not run: {not_run[p.name]}" if p.name in not_run else "not run") if p.name not in ran \
                        else "no figures"
                elif p.name == "similarity" and not mine and not why:  # ran with face encoders or scorers only
                    why = ("no image-encoder scores: the study has no image encoder (CLIP, DINO, DreamSim, ...)"
                           + ("; some encoders could not be created (see the inputs)" if res.problems.counts().get(
                               "encoder_unavailable") else ""))
                sections.append({"key": key, "title": title, "tables": mine, "why": why or "", "present": present})
                if present and p.views.report is not None:
                    extra[p.name] = p.views.report(res, results_dir)
            elif mine:  # a sub-section (faces, text, learned scores) only when it has tables
                sections.append({"key": key, "title": title, "tables": mine, "why": "", "present": True})
    return sections, extra


def build_context(res: Results, results_dir: Path) -> dict:
    from idbench.folder import inside
    from idbench.stats.ranking import metric_rankings

    agreement_file = inside(results_dir, "agreement.json")  # `idbench agree`'s analysis, the latest one asked for
    if agreement_file is not None and agreement_file.is_file():
        try:
            res.sections.update(typed_sections({"agreement": json.loads(agreement_file.read_text())}))
        except (OSError, ValueError):  # an unreadable or malformed agreement.json: the run's own section stays
            pass

    metrics = [m for m in res.metrics if not m.startswith("cmc@")]
    methods = list(res.methods)
    rankings = metric_rankings(res, metrics)
    study = res.study
    heatmaps = []
    shown = [k for k in metrics if any(k in v for d in res.subjects.values() for v in d.values())][:4]
    for metric in shown:
        subjects = sorted({s for m in methods for s in res.subjects.get(m, {})})
        if not subjects:
            continue
        mat = np.array([[res.subjects.get(m, {}).get(s, {}).get(metric, np.nan) for s in subjects] for m in methods], float)
        lo = -1.0 if np.nanmin(mat) < 0 else 0.0
        heatmaps.append({"metric": metric, "alt": f"per-subject mean of {metric} for each method, colour scale {lo:g} to 1",
                         "uri": heatmap(mat, methods, subjects, f"{metric}: per-subject mean", vmin=lo, vmax=1.0,
                                         scale=f"{lo:g} to 1 (fixed)")})
    n_subjects = len({r["subject"] for r in res.rows})
    sections, extra = protocol_sections(res, results_dir)
    groups = problem_groups(res.problems)
    left_out = [g for g in groups if set(g["action_list"]) & {"skipped", "removed"}]
    kept = [g for g in groups if not set(g["action_list"]) & {"skipped", "removed"}]
    from idbench.report.examples import ExamplesSection

    examples = ExamplesSection.of(res) or ExamplesSection()

    def thumbs(cards):
        return [{"method": c.method, "subject": c.subject, "caption": c.caption,
                 "images": [{"role": im.role, "uri": thumb(results_dir, im.thumb)} for im in c.images]} for c in cards]

    ex = {"similarity": thumbs(examples.similarity.items if examples.similarity else []),
          "faces": {enc: {"scored": thumbs(f.scored), "faceless": thumbs(f.faceless), "multi": thumbs(f.multi),
                          "rule": f.rule} for enc, f in examples.faces.items()},
          "rca": thumbs(examples.rca.items if examples.rca else [])}
    ctx = {"command": res.command, "bootstrap": res.bootstrap, "methods": methods, "n_subjects": n_subjects,
           "n_images": len(res.rows), "encoders": study.encoders or sorted({i.encoder for i in res.metrics.values()
                                                                                   if i.encoder}),
           "protocols_run": study.protocols_run, "failed": study.protocols_failed, "answer": _answer(res, rankings),
           "sections": sections, "heatmaps": heatmaps, "examples": ex,
           "problems": res.problems.to_dict(), "left_out": left_out, "kept": kept,
           "n_left_out": sum(g["count"] for g in left_out), "n_kept": sum(g["count"] for g in kept), "extra": extra}
    from idbench.world.meta import MetaSection

    meta = MetaSection.of(res)
    if meta is not None:
        ctx["extra"]["meta"] = meta
    return ctx


def problem_groups(problems, n_examples: int = 3) -> list[dict]:
    """Problems grouped by kind: count, what was done, a few examples (the full list is in problems.csv)."""
    groups = [{"kind": kind, "count": len(ps), "actions": {p.action for p in ps}, "examples": ps[:n_examples]}
              for kind, ps in problems.by_kind().items()]
    return [{**g, "action_list": sorted(g["actions"]), "actions": ", ".join(sorted(g["actions"]))}
            for g in sorted(groups, key=lambda g: -g["count"])]


def render_report(results_dir: str | Path) -> Path:
    """Write ``results_dir/report.html`` from the results folder; returns its path."""
    results_dir = Path(results_dir)
    res = Results.read(results_dir)
    env = Environment(loader=PackageLoader("idbench.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = lambda x, digits=3, signed=False: fmt_num(x, digits, signed=signed)
    html = env.get_template("report.html.j2").render(**build_context(res, results_dir))
    from idbench.atomic import atomic_write_bytes

    out = results_dir / "report.html"
    atomic_write_bytes(out, html.encode("utf-8"))
    return out
