"""The self-contained HTML report: one file, images embedded as thumbnails, no network.

Sections appear when the results folder has them: the methods x metrics table with intervals and
significance marks, per-subject heatmaps, retrieval examples (query + top-5, correct ones marked),
NearID margins, RCA confusion, the meta-evaluation, and every skipped input. Every file name,
prompt and label is escaped (jinja2 autoescape).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from idbench.report.format import fmt_ci, fmt_num
from idbench.results import Results

THUMB = 112


def thumbnail_jpeg(path: str | Path, size: int = THUMB) -> bytes | None:
    """A small JPEG of an image the study read (None when it cannot be read)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=80)
        return buf.getvalue()
    except Exception:
        return None


def store_thumbnails(sections: dict, out_dir: Path) -> list[Path]:
    """Copy the report's example images into the results folder as thumbnails (``thumbs/``), from the
    files the study itself read, and record their names in the section: the report then reads
    only files inside its folder, never a path a summary.json names."""
    import hashlib

    from idbench.cache.results import atomic_write_bytes

    written = []

    def keep(path: str) -> str | None:
        name = "thumbs/" + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:20] + ".jpg"
        if not (out_dir / name).is_file():
            data = thumbnail_jpeg(path)
            if data is None:
                return None
            atomic_write_bytes(out_dir / name, data)
            written.append(out_dir / name)
        return name

    for e in (sections.get("retrieval") or {}).get("examples") or []:
        if "query_thumb" not in e:
            e["query_thumb"] = keep(e["query_path"])
            for t in e.get("top", []):
                t["thumb"] = keep(t["path"])
    return written


def _thumb(results_dir: Path, name: str | None) -> str | None:
    """A stored thumbnail as a data URI: only a file under ``results_dir/thumbs``."""
    if not name:
        return None
    base = (results_dir / "thumbs").resolve()
    p = (results_dir / name).resolve()
    if base not in p.parents or not p.is_file():
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


def _heatmap(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, fmt: str = "{:.2f}") -> str:
    return _figure(["heatmap", np.asarray(matrix, np.float64), rows, cols, title, fmt],
                   lambda: _draw_heatmap(matrix, rows, cols, title, fmt))


def _draw_heatmap(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, fmt: str) -> bytes:
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


def build_context(res: Results, results_dir: Path) -> dict:
    from idbench.report.rows import FLAGS_NOTE, baseline_note, baseline_rows, content_flags, metric_rankings, rca_rows, retrieval_rows

    metrics = [m for m in res.metrics if not m.startswith("cmc@")]
    methods = list(res.methods)
    table, rankings = [], metric_rankings(res, metrics)
    counts = res.method_counts()
    flags = content_flags(res.sections)
    for m in methods:
        cells = []
        for metric in metrics:
            rk = rankings[metric]
            e = res.methods[m].get(metric)
            cov = f"n={e['n_images']}/{e['n_images'] + e['n_missing']}" if e and e.get("n_missing") else ""
            cells.append({"text": _fmt(e), "best": bool(rk and rk.best == m),
                          "rank": rk.ranks.get(m) if rk and rk.ranked else None, "coverage": cov})
        table.append({"method": m, "truth": res.truth.get(m, {}).get("drift"), "cells": cells, "flags": flags.get(m, ""),
                      "n_subjects": counts.get(m, (0, 0))[0], "n_images": counts.get(m, (0, 0))[1]})
    not_ranked = sorted({rk.why for rk in rankings.values() if rk and not rk.ranked and len(methods) > 1})
    heatmaps = []
    # the first four metrics that have a per-subject value (a metric no image has, e.g. IPS when no
    # face was found, would draw an empty map)
    shown = [k for k in metrics if any(k in v for d in res.subjects.values() for v in d.values())][:4]
    for metric in shown:
        subjects = sorted({s for m in methods for s in res.subjects.get(m, {})})
        if not subjects:
            continue
        mat = np.array([[res.subjects.get(m, {}).get(s, {}).get(metric, np.nan) for s in subjects] for m in methods], float)
        heatmaps.append({"metric": metric, "uri": _heatmap(mat, methods, subjects, f"{metric}: per-subject mean")})
    sec_study = res.sections.get("study", {})
    ctx = {"command": res.command, "bootstrap": res.bootstrap, "metrics": metrics, "table": table,
           "has_truth": any("drift" in t for t in res.truth.values()), "heatmaps": heatmaps,
           "descriptions": {k: v.description for k, v in res.metrics.items()},
           "problems": res.problems.to_dict(), "sections": {}, "not_ranked": not_ranked,
           "has_flags": any(flags.values()), "failed": sec_study.get("protocols_failed") or {},
           "baselines": [{"label": lab, "cells": [_fmt(e) if e else "" for e in es]}
                         for lab, es in baseline_rows(res.sections, metrics)],
           "table_notes": [n for n in (baseline_note(res.sections),) if n]
           + ([FLAGS_NOTE] if any(flags.values()) else []),
           "problem_groups": problem_groups(res.problems)}
    sec = res.sections
    if "retrieval" in sec:
        r = sec["retrieval"]
        ex = []
        for e in r.get("examples", [])[:12]:
            ex.append({**e, "query_uri": _thumb(results_dir, e.get("query_thumb")),
                       "top": [{**t, "uri": _thumb(results_dir, t.get("thumb"))} for t in e["top"]]})
        rows = [{**x, "who": "real references (upper bound)" if x["real"] else x["who"],
                 "relative": x["relative"] if x["has_real"] else "– (no references given)"} for x in retrieval_rows(r)]
        ctx["sections"]["retrieval"] = {"examples": ex, "rows": rows, "leakage": r.get("leakage", {}),
                                        "copies": r.get("copies", {}), "near": r.get("near_duplicates", {}),
                                        "gallery_size": r.get("gallery_size")}
    if "nearid" in sec and sec["nearid"].get("histogram", {}).get("counts"):
        n = sec["nearid"]
        ctx["sections"]["nearid"] = {**n, "hist_uri": _histogram(n["histogram"]["edges"], n["histogram"]["counts"],
                                                                 f"NearID margins ({n.get('encoder', '')})")}
    if "rca" in sec:
        levels = sec["rca"].get("levels", {})
        rows = rca_rows(sec["rca"])
        lv = next((k for k in reversed(list(levels)) if "methods" in levels[k]), None)
        conf = []
        if lv:
            worst = min(levels[lv]["methods"].items(), key=lambda kv: kv[1]["rca"], default=None)
            if worst:
                c = worst[1]["confusion"]
                conf.append({"title": f"{worst[0]} at level {lv} (lowest RCA)",
                             "uri": _heatmap(np.array(c["matrix"], float), c["labels"], c["labels"],
                                             f"confusion on generated images: {worst[0]} ({lv})", fmt="{:.0f}")})
        ctx["sections"]["rca"] = {"rows": rows, "confusions": conf}
    if "distribution" in sec:
        ctx["sections"]["distribution"] = sec["distribution"]
    if "face" in sec:
        faces = {}
        for enc, f in sec["face"].items():
            rows = {}
            for m, r in (f.get("methods") or {}).items():
                per = res.methods.get(m, {})
                rows[m] = {"n_images": r.get("n_images", ""), "found": _fmt(per.get(f"face_found[{enc}]")),
                           "ips": _fmt(per.get(f"ips[{enc}]")), "facesim": _fmt(per.get(f"facesim[{enc}]")),
                           "cp": _fmt(per.get(f"copy_paste[{enc}]"))}
            base = [{"label": f"{key} references", "n": (f.get(key) or {}).get("ips", {}) and
                     f"{f[key]['ips']['n_pairs']} pairs", "ips": _fmt((f.get(key) or {}).get("ips")),
                     "facesim": _fmt((f.get(key) or {}).get("facesim"))} for key in ("real", "impostor") if f.get(key)]
            faces[enc] = {"how_failures_enter_means": f.get("how_failures_enter_means", ""), "rows": rows,
                          "baselines": base}
        ctx["sections"]["face"] = faces
    if "meta" in sec:
        ctx["sections"]["meta"] = sec["meta"]
    points = results_dir / "agreement_points.csv"
    if points.is_file():
        ctx["sections"]["agreement"] = _agreement_plots(points)
    return ctx


def problem_groups(problems, n_examples: int = 3) -> list[dict]:
    """Problems grouped by kind: count, what was done, a few examples (the full list is in problems.csv)."""
    groups: dict[str, dict] = {}
    for p in problems.items:
        g = groups.setdefault(p.kind, {"kind": p.kind, "count": 0, "actions": set(), "examples": []})
        g["count"] += 1
        g["actions"].add(p.action)
        if len(g["examples"]) < n_examples:
            g["examples"].append(p)
    return [{**g, "actions": ", ".join(sorted(g["actions"]))} for g in sorted(groups.values(), key=lambda g: -g["count"])]


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
