"""What a person sees of the agreement with human ratings in the report: one scatter per metric
against the mean human score, Kendall tau-b per aspect (with published rows under a preset), the
paired tests of one metric against another, and the human-human ceiling."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from idbench.views.figures import fig_png
from idbench.views.format import fmt_interval, fmt_num


def report(res, results_dir) -> dict:
    from idbench.folder import inside
    from idbench.protocols.agreement import AgreementSection

    agree = AgreementSection.of(res) or AgreementSection()
    out: dict = {}
    points = inside(results_dir, "agreement_points.csv") or Path(results_dir) / "agreement_points.csv.link"
    if points.is_file():
        out["plots"] = agreement_plots(points)
    if agree.metrics:
        from idbench.views.rows import agreement_table

        out["table"] = agreement_table(agree, res.study.preset)
    if agree.comparisons:
        out["pairs"] = [
            {"pair": f"{c.a} − {c.b}", "n": c.n,
             "kendall": f"{fmt_num(c.kendall_tau_b.diff, signed=True)} {fmt_interval(*c.kendall_tau_b.ci)}",
             "pearson": f"{fmt_num(c.pearson.diff, signed=True)} {fmt_interval(*c.pearson.ci)}",
             "p": fmt_num(min(_p(c.kendall_tau_b.p_holm), _p(c.pearson.p_holm)), 4),
             "better": _closer(c)}
            for c in agree.comparisons]
        out["ceiling"] = agree.human_ceiling
    return out


def _p(p: float | None) -> float:
    return 1.0 if p is None or p != p else p


def _closer(c) -> str:
    """The metric a significant test finds closer to people (by that test's difference), else "not separated"."""
    for test in (c.kendall_tau_b, c.pearson):
        if test.significant:
            return c.a if test.diff > 0 else c.b
    return "not separated"


def agreement_plots(path: Path) -> list[dict]:
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
        out.append({"metric": metric, "uri": "data:image/png;base64," + base64.b64encode(fig_png(fig)).decode()})
    return out
