"""The self-contained HTML report: one file, images embedded as thumbnails, no network.

Sections appear when the results folder has them: the methods x metrics table with intervals and
significance marks, per-subject heatmaps, retrieval examples (query + top-5, correct ones marked),
NearID margins, RCA confusion, the meta-evaluation, and every skipped input. Every file name,
prompt and label is escaped (jinja2 autoescape).
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from idbench.results import Results

THUMB = 112


def _thumb(path: str | Path, size: int = THUMB) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:
        return None


def _fig_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _heatmap(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, fmt: str = "{:.2f}") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(cols) + 2), max(2.5, 0.35 * len(rows) + 1)))
    im = ax.imshow(np.ma.masked_invalid(matrix), aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    if matrix.size <= 200:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                if np.isfinite(matrix[i, j]):
                    ax.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", fontsize=6, color="w")
    return _fig_uri(fig)


def _histogram(edges: list[float], counts: list[int], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    e = np.asarray(edges)
    ax.bar(e[:-1], counts, width=np.diff(e), align="edge", color="#4a7", edgecolor="k", linewidth=0.3)
    ax.axvline(0, color="r", lw=1)
    ax.set_xlabel("margin  sim(view_i, view_j) - sim(view, distractor)")
    ax.set_title(title, fontsize=9)
    return _fig_uri(fig)


def _fmt(entry: dict | None) -> str:
    if not entry or entry.get("mean") is None or (isinstance(entry["mean"], float) and math.isnan(entry["mean"])):
        return "–"
    return f"{entry['mean']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def build_context(res: Results, results_dir: Path) -> dict:
    from idbench.stats.compare import compare_methods, rank_with_ties

    metrics = [m for m in res.metrics if not m.startswith("cmc@")]
    methods = list(res.methods)
    table, ranks = [], {}
    for metric in metrics:
        means = {m: res.methods[m][metric]["mean"] for m in methods if metric in res.methods[m]}
        subj = {m: res.subjects.get(m, {}) for m in means}
        subj = {m: {s: v.get(metric, float("nan")) for s, v in d.items()} for m, d in subj.items()}
        comps = compare_methods(subj, metric, n_resamples=2000) if len(means) > 1 else []
        hib = res.metrics[metric].higher_is_better
        ranks[metric] = dict((m, r) for r, m in rank_with_ties(means, comps, higher_is_better=hib)) if means else {}
    for m in methods:
        cells = []
        for metric in metrics:
            r = ranks[metric].get(m)
            cells.append({"text": _fmt(res.methods[m].get(metric)), "best": r == 1,
                          "rank": r})
        table.append({"method": m, "truth": res.truth.get(m, {}).get("drift"), "cells": cells})
    heatmaps = []
    for metric in metrics[:4]:
        subjects = sorted({s for m in methods for s in res.subjects.get(m, {})})
        if not subjects:
            continue
        mat = np.array([[res.subjects.get(m, {}).get(s, {}).get(metric, np.nan) for s in subjects] for m in methods], float)
        heatmaps.append({"metric": metric, "uri": _heatmap(mat, methods, subjects, f"{metric}: per-subject mean")})
    ctx = {"command": res.command, "bootstrap": res.bootstrap, "metrics": metrics, "table": table,
           "has_truth": any("drift" in t for t in res.truth.values()), "heatmaps": heatmaps,
           "descriptions": {k: v.description for k, v in res.metrics.items()},
           "problems": res.problems.to_dict(), "sections": {}}
    sec = res.sections
    if "retrieval" in sec:
        ex = []
        for e in sec["retrieval"].get("examples", [])[:12]:
            ex.append({**e, "query_uri": _thumb(_abs(e["query_path"], results_dir)),
                       "top": [{**t, "uri": _thumb(_abs(t["path"], results_dir))} for t in e["top"]]})
        real = sec["retrieval"].get("real", {})
        ctx["sections"]["retrieval"] = {"examples": ex, "levels": sec["retrieval"]["levels"], "real": real,
                                        "relative": sec["retrieval"].get("relative", {}),
                                        "methods": sec["retrieval"].get("methods", {})}
    if "nearid" in sec and sec["nearid"].get("histogram", {}).get("counts"):
        n = sec["nearid"]
        ctx["sections"]["nearid"] = {**n, "hist_uri": _histogram(n["histogram"]["edges"], n["histogram"]["counts"],
                                                                 f"NearID margins ({n.get('encoder', '')})")}
    if "rca" in sec:
        levels = sec["rca"].get("levels", {})
        lv = list(levels)[-1] if levels else None
        conf = []
        if lv and "methods" in levels[lv]:
            worst = min(levels[lv]["methods"].items(), key=lambda kv: kv[1]["rca"], default=None)
            if worst:
                c = worst[1]["confusion"]
                conf.append({"title": f"{worst[0]} at level {lv} (lowest RCA)",
                             "uri": _heatmap(np.array(c["matrix"], float), c["labels"], c["labels"],
                                             f"confusion on generated images: {worst[0]} ({lv})", fmt="{:.0f}")})
        ctx["sections"]["rca"] = {"levels": levels, "confusions": conf}
    if "distribution" in sec:
        ctx["sections"]["distribution"] = sec["distribution"]
    if "face" in sec:
        ctx["sections"]["face"] = sec["face"]
    if "meta" in sec:
        ctx["sections"]["meta"] = sec["meta"]
    points = results_dir / "agreement_points.csv"
    if points.is_file():
        ctx["sections"]["agreement"] = _agreement_plots(points)
    return ctx


def _agreement_plots(path: Path) -> list[dict]:
    """Scatter of metric vs mean human score, one plot per metric, coloured by method."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by: dict[str, list[dict]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            by.setdefault(r["metric"], []).append(r)
    out = []
    for metric, rows in list(by.items())[:6]:
        fig, ax = plt.subplots(figsize=(4, 3))
        for m in sorted({r["method"] for r in rows}):
            pts = [(float(r["metric_score"]), float(r["human_score"])) for r in rows if r["method"] == m]
            ax.scatter(*zip(*pts), s=8, label=m, alpha=0.7)
        ax.set_xlabel(metric, fontsize=8)
        ax.set_ylabel("human score", fontsize=8)
        ax.legend(fontsize=6)
        out.append({"metric": metric, "uri": _fig_uri(fig)})
    return out


def _abs(p: str, base: Path) -> Path:
    q = Path(p)
    return q if q.is_absolute() else base / q


def render_report(results_dir: str | Path) -> Path:
    """Write ``results_dir/report.html`` from the results folder; returns its path."""
    results_dir = Path(results_dir)
    res = Results.read(results_dir)
    env = Environment(loader=PackageLoader("idbench.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(**build_context(res, results_dir))
    out = results_dir / "report.html"
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
