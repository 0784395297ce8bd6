"""The self-contained HTML report: one file, images embedded as thumbnails, no network.

Sections appear when the results folder has them: the methods x metrics table with intervals and
significance marks, per-subject heatmaps, retrieval examples (query + top-5, correct ones marked),
NearID margins, RCA confusion, the meta-evaluation, and every skipped input. Every file name,
prompt and label is escaped (jinja2 autoescape).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from idbench.report.format import fmt_ci, fmt_interval, fmt_num
from idbench.results import Results

THUMB = 112


def _thumb(results_dir: Path, name: str | None) -> str | None:
    """A stored thumbnail as a data URI: only a file under ``results_dir/thumbs``, reached without a
    symbolic link (:func:`idbench.folder.inside`)."""
    from idbench.folder import inside

    if not isinstance(name, str) or not name.startswith("thumbs/"):
        return None
    p = inside(results_dir, name)
    if p is None or not p.is_file():
        return None
    return "data:image/jpeg;base64," + base64.b64encode(p.read_bytes()).decode()


def _fig_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _figure(key: list, draw) -> str:
    """A figure as a data URI, drawn once per content (the results cache keeps its PNG)."""
    from idbench.cache.results import cached_png
    from idbench.cache.store import default_cache_dir

    png = cached_png(["report-figure-v1", *key], draw, root=default_cache_dir())
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _heatmap(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, fmt: str = "{:.2f}", *,
             vmin: float = 0.0, vmax: float = 1.0, scale: str = "0 to 1", xlabel: str = "subject",
             ylabel: str = "method", integer: bool = False) -> str:
    """A heatmap on a fixed, stated scale (never autoscaled: 0.958 and 0.963 look alike)."""
    return _figure(["heatmap-v2", np.asarray(matrix, np.float64), rows, cols, title, fmt, vmin, vmax, scale, xlabel,
                    ylabel, integer],
                   lambda: _draw_heatmap(matrix, rows, cols, title, fmt, vmin, vmax, scale, xlabel, ylabel, integer))


def _draw_heatmap(matrix, rows, cols, title, fmt, vmin, vmax, scale, xlabel, ylabel, integer) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(min(12.5, max(4, 0.42 * len(cols) + 2.5)), max(2.5, 0.35 * len(rows) + 1.2)))
    cmap = plt.get_cmap("viridis")
    im = ax.imshow(np.ma.masked_invalid(matrix), aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    cb = fig.colorbar(im, ax=ax, fraction=0.03)
    cb.set_label(scale, fontsize=7)
    if integer:
        cb.locator = MaxNLocator(integer=True)
        cb.update_ticks()
    if matrix.size <= 300:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                v = matrix[i, j]
                if np.isfinite(v):
                    r, g, b, _ = cmap((min(max(v, vmin), vmax) - vmin) / ((vmax - vmin) or 1))
                    dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                    ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6, color="w" if dark else "k")
    return _fig_png(fig)


def _forest(panels: list[dict]) -> str:
    return _figure(["forest-v2", repr(panels)], lambda: _draw_forest(panels))


def _draw_forest(panels: list[dict]) -> bytes:
    """Method means with their intervals, one panel per headline metric; reference lines (real upper
    bound solid green, impostor / chance dashed grey); methods sharing a rank share a colour; copying
    methods are hollow and marked with a dagger."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    height = max(2.2, 0.32 * max(len(p["rows"]) for p in panels) + 1.3)
    fig, axes = plt.subplots(1, n, figsize=(min(13.0, 3.3 * n + 0.8), height), squeeze=False)
    palette = plt.get_cmap("tab10")
    for ax, p in zip(axes[0], panels):
        rows = p["rows"]
        for y, r in enumerate(rows):
            color = palette((r["rank"] - 1) % 10) if r["rank"] else "0.35"
            lo, hi = r["lo"] if r["lo"] is not None else r["mean"], r["hi"] if r["hi"] is not None else r["mean"]
            ax.plot([lo, hi], [y, y], color=color, lw=2)
            ax.plot([r["mean"]], [y], "o", ms=6, mfc="white" if r["flagged"] else color, mec=color, mew=1.5)
        for label, value, kind in p["refs"]:
            ax.axvline(value, color="#2a2" if kind == "real" else "0.5", ls="-" if kind == "real" else "--", lw=1.2)
            ax.text(value, 0.98, f"{label} ", rotation=90, va="top", ha="right", fontsize=6.5,
                    color="#2a2" if kind == "real" else "0.35", transform=ax.get_xaxis_transform())
        ax.set_yticks(range(len(rows)), [("† " if r["flagged"] else "") + r["method"] + (f"  #{r['rank']}" if r["rank"] else "")
                                         for r in rows], fontsize=7.5)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.invert_yaxis()
        ax.set_xlabel(p["label"], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.92")
    fig.tight_layout()
    return _fig_png(fig)


def _histogram(edges: list[float], counts: list[int], title: str) -> str:
    return _figure(["histogram", list(edges), list(counts), title], lambda: _draw_histogram(edges, counts, title))


def _draw_histogram(edges: list[float], counts: list[int], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    e = np.asarray(edges)
    ax.bar(e[:-1], counts, width=np.diff(e), align="edge", color="#4a7", edgecolor="k", linewidth=0.3)
    ax.axvline(0, color="r", lw=1)
    ax.set_xlabel("margin  sim(view_i, view_j) - sim(view, distractor)")
    ax.set_title(title, fontsize=9)
    return _fig_png(fig)


def _fmt(entry: dict | None) -> str:
    return fmt_ci(entry)


PROTOCOL_TITLES = (("similarity", "Similarity to references"), ("face", "Faces"), ("text", "Text"),
                   ("learned", "Learned preference scores"),
                   ("retrieval", "Retrieval (Finer-Personalization Rank)"), ("rca", "Relative Classification Accuracy"),
                   ("nearid", "NearID: near-identity distractors"), ("distribution", "FID / KID"),
                   ("agreement", "Agreement with human ratings"))
_RUNS = {"similarity": "similarity", "face": "similarity", "text": "similarity", "learned": "similarity", "retrieval": "retrieval", "rca": "rca",
         "nearid": "nearid", "distribution": "distribution", "agreement": "agreement"}


def _html_table(t: dict, ranks_by_col: dict | None = None) -> dict:
    return {"title": t["title"], "key": t["key"], "header": t["header"], "notes": t["notes"],
            "rows": [{"cells": [{"text": c, "best": (i, j) in t["bold"]} for j, c in enumerate(row)],
                      "reference": i >= (t["rules"][0] if t.get("rules") else len(t["rows"]))}
                     for i, row in enumerate(t["rows"])]}


def _answer(res: Results, rankings: dict) -> dict | None:
    """The first figure: headline metric per protocol, methods with intervals, reference lines; and
    one sentence per protocol."""
    from idbench.metrics.catalogue import MetricId
    from idbench.protocols.common import flagged_methods
    from idbench.report.examples import headline_metrics

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
    return {"uri": _forest(panels), "alt": alt, "sentences": sentences}


def build_context(res: Results, results_dir: Path) -> dict:
    from idbench.folder import inside
    from idbench.report.rows import metric_rankings
    from idbench.report.tables import table_data

    agreement_file = inside(results_dir, "agreement.json")  # `idbench agree`'s analysis, the latest one asked for
    if agreement_file is not None and agreement_file.is_file():
        try:
            res.sections["agreement"] = json.loads(agreement_file.read_text())
        except (OSError, ValueError):
            pass

    metrics = [m for m in res.metrics if not m.startswith("cmc@")]
    methods = list(res.methods)
    rankings = metric_rankings(res, metrics)
    tables = table_data(res)
    study = res.sections.get("study", {})
    heatmaps = []
    shown = [k for k in metrics if any(k in v for d in res.subjects.values() for v in d.values())][:4]
    for metric in shown:
        subjects = sorted({s for m in methods for s in res.subjects.get(m, {})})
        if not subjects:
            continue
        mat = np.array([[res.subjects.get(m, {}).get(s, {}).get(metric, np.nan) for s in subjects] for m in methods], float)
        lo = -1.0 if np.nanmin(mat) < 0 else 0.0
        heatmaps.append({"metric": metric, "alt": f"per-subject mean of {metric} for each method, colour scale {lo:g} to 1",
                         "uri": _heatmap(mat, methods, subjects, f"{metric}: per-subject mean", vmin=lo, vmax=1.0,
                                         scale=f"{lo:g} to 1 (fixed)")})
    n_subjects = len({r["subject"] for r in res.rows})
    failed = study.get("protocols_failed") or {}
    not_run = study.get("not_run") or {}
    ran = set(study.get("protocols_run") or [])
    sections = []
    for key, title in PROTOCOL_TITLES:
        proto = _RUNS[key]
        mine = [_html_table(t) for t in tables if t["key"] == key]
        present = bool(mine) or key in res.sections
        why = failed.get(proto) and f"not scored: {failed[proto]}"
        if not present and not why:
            if key in ("face", "text", "learned"):
                continue  # parts of similarity: shown only when their encoders ran
            why = (f"not run: {not_run[proto]}" if proto in not_run else "not run") if proto not in ran else "no figures"
        elif key == "similarity" and not mine and not why:  # the protocol ran with face encoders or scorers only
            why = ("no image-encoder scores: the study has no image encoder (CLIP, DINO, DreamSim, ...)"
                   + ("; some encoders could not be created (see the inputs)" if res.problems.counts().get(
                       "encoder_unavailable") else ""))
        sections.append({"key": key, "title": title, "tables": mine, "why": why or "", "present": present})
    groups = problem_groups(res.problems)
    left_out = [g for g in groups if set(g["action_list"]) & {"skipped", "removed"}]
    kept = [g for g in groups if not set(g["action_list"]) & {"skipped", "removed"}]
    examples = res.sections.get("examples") or {}

    def thumbs(items):
        return [{**it, "images": [{**im, "uri": _thumb(results_dir, im.get("thumb"))} for im in it["images"]]}
                for it in items]

    ex = {"similarity": thumbs((examples.get("similarity") or {}).get("items", [])),
          "faces": {enc: {"scored": thumbs(f.get("scored", [])), "faceless": thumbs(f.get("faceless", []))}
                    for enc, f in (examples.get("faces") or {}).items()},
          "rca": thumbs((examples.get("rca") or {}).get("items", [])),
          "nearid": [{**it, "view_uris": [_thumb(results_dir, t) for t in it.get("view_thumbs", [])],
                      "distractor_uris": [_thumb(results_dir, t) for t in it.get("distractor_thumbs", [])]}
                     for it in (examples.get("nearid") or {}).get("items", [])]}
    ctx = {"command": res.command, "bootstrap": res.bootstrap, "methods": methods, "n_subjects": n_subjects,
           "n_images": len(res.rows), "encoders": study.get("encoders") or sorted({i.encoder for i in res.metrics.values()
                                                                                   if i.encoder}),
           "protocols_run": study.get("protocols_run") or [], "failed": failed, "answer": _answer(res, rankings),
           "sections": sections, "heatmaps": heatmaps, "examples": ex,
           "problems": res.problems.to_dict(), "left_out": left_out, "kept": kept,
           "n_left_out": sum(g["count"] for g in left_out), "n_kept": sum(g["count"] for g in kept), "extra": {}}
    sec = res.sections
    if "retrieval" in sec:
        r = sec["retrieval"]
        exs = []
        for e in r.get("examples", [])[:12]:
            exs.append({**e, "query_uri": _thumb(results_dir, e.get("query_thumb")),
                        "top": [{**t, "uri": _thumb(results_dir, t.get("thumb"))} for t in e["top"]]})
        ctx["extra"]["retrieval"] = {"examples": exs, "leakage": r.get("leakage", {}),
                                     "not_in_gallery": r.get("subjects_not_in_gallery") or {}}
    if "nearid" in sec and sec["nearid"].get("histogram", {}).get("counts"):
        n = sec["nearid"]
        ctx["extra"]["nearid"] = {"hist_uri": _histogram(n["histogram"]["edges"], n["histogram"]["counts"],
                                                         f"NearID margins ({n.get('encoder', '')})"),
                                  "review": n.get("review")}
    if "rca" in sec:
        levels = sec["rca"].get("levels", {})
        lv = next((k for k in reversed(list(levels)) if "methods" in levels[k]), None)
        conf = []
        if lv:
            worst = min(levels[lv]["methods"].items(), key=lambda kv: kv[1]["rca"], default=None)
            if worst:
                c = worst[1]["confusion"]
                mat = np.array(c["matrix"], float)
                conf.append({"title": f"{worst[0]} at level {lv} (lowest RCA)",
                             "alt": f"confusion matrix of the oracle on {worst[0]}'s generations at level {lv}: rows are "
                                    "the true identity, columns the predicted one, cells count images",
                             "uri": _heatmap(mat, c["labels"], c["labels"], f"oracle on {worst[0]} ({lv})", fmt="{:.0f}",
                                             vmin=0, vmax=max(1.0, float(mat.max())), scale="images (count)",
                                             xlabel="predicted identity", ylabel="true identity", integer=True)})
        ctx["extra"]["rca"] = {"confusions": conf}
    if "distribution" in sec:
        ctx["extra"]["distribution"] = sec["distribution"]
    if "meta" in sec:
        ctx["extra"]["meta"] = sec["meta"]
    points = inside(results_dir, "agreement_points.csv") or results_dir / "agreement_points.csv.link"
    if points.is_file():
        ctx["extra"]["agreement"] = _agreement_plots(points)
    agree = sec.get("agreement") or {}
    if agree.get("metrics"):
        from idbench.report.rows import agreement_table

        ctx["extra"]["agreement_table"] = agreement_table(agree, study.get("preset"))
    if agree.get("comparisons"):
        ctx["extra"]["agreement_pairs"] = [
            {"pair": f"{c['a']} − {c['b']}", "n": c["n"],
             "kendall": f"{fmt_num(c['kendall_tau_b']['diff'], signed=True)} {fmt_interval(*c['kendall_tau_b']['ci'])}",
             "pearson": f"{fmt_num(c['pearson']['diff'], signed=True)} {fmt_interval(*c['pearson']['ci'])}",
             "p": fmt_num(min(c["kendall_tau_b"].get("p_holm", 1.0), c["pearson"].get("p_holm", 1.0)), 4),
             "better": _closer(c)}
            for c in agree["comparisons"]]
        ctx["extra"]["agreement_ceiling"] = agree.get("human_ceiling")
    return ctx


def _closer(c: dict) -> str:
    """The metric a significant test finds closer to people (by that test's difference), else "not separated"."""
    for key in ("kendall_tau_b", "pearson"):
        if c[key].get("significant"):
            return c["a"] if c[key]["diff"] > 0 else c["b"]
    return "not separated"


def problem_groups(problems, n_examples: int = 3) -> list[dict]:
    """Problems grouped by kind: count, what was done, a few examples (the full list is in problems.csv)."""
    groups = [{"kind": kind, "count": len(ps), "actions": {p.action for p in ps}, "examples": ps[:n_examples]}
              for kind, ps in problems.by_kind().items()]
    return [{**g, "action_list": sorted(g["actions"]), "actions": ", ".join(sorted(g["actions"]))}
            for g in sorted(groups, key=lambda g: -g["count"])]


def _agreement_plots(path: Path) -> list[dict]:
    """Scatter of metric vs mean human score, one plot per metric, coloured by method."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by: dict[str, list[tuple[str, float, float]]] = {}
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            for r in csv.DictReader(f):
                try:
                    x, y = float(r["metric_score"]), float(r["human_score"])
                except (KeyError, TypeError, ValueError):
                    continue  # a row that is not a point (damaged or edited file): not drawn
                if np.isfinite(x) and np.isfinite(y):
                    by.setdefault(str(r.get("metric")), []).append((str(r.get("method")), x, y))
    except OSError:
        return []
    out = []
    for metric, rows in list(by.items())[:6]:
        fig, ax = plt.subplots(figsize=(4, 3))
        for m in sorted({r[0] for r in rows}):
            pts = [(x, y) for who, x, y in rows if who == m]
            ax.scatter(*zip(*pts), s=8, label=m, alpha=0.7)
        ax.set_xlabel(metric, fontsize=8)
        ax.set_ylabel("human score", fontsize=8)
        ax.legend(fontsize=6)
        out.append({"metric": metric, "uri": "data:image/png;base64," + base64.b64encode(_fig_png(fig)).decode()})
    return out


def render_report(results_dir: str | Path) -> Path:
    """Write ``results_dir/report.html`` from the results folder; returns its path."""
    results_dir = Path(results_dir)
    res = Results.read(results_dir)
    env = Environment(loader=PackageLoader("idbench.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = lambda x, digits=3, signed=False: fmt_num(x, digits, signed=signed)
    html = env.get_template("report.html.j2").render(**build_context(res, results_dir))
    from idbench.cache.results import atomic_write_bytes

    out = results_dir / "report.html"
    atomic_write_bytes(out, html.encode("utf-8"))
    return out
