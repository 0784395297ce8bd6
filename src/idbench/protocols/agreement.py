"""Agreement of every metric with human ratings, on the images both cover (runs on summarised
results: the per-image rows are what it correlates)."""

from __future__ import annotations

import numpy as np


def agreement_section(results, ratings: dict[str, dict[str, float]], metrics=None) -> tuple[dict, list[dict]]:
    """``(section, points)``: per metric, pooled / per-method / Fisher-z agreement with the mean
    human score of each image, Krippendorff's alpha between raters, and the (metric, human) points."""
    from idbench.stats.agreement import agreement_by_method, krippendorff_alpha_interval

    raters = sorted({k for d in ratings.values() for k in d})
    out = {"n_rated_images": len(ratings), "n_ratings": sum(len(d) for d in ratings.values()), "raters": raters,
           "metrics": {}}
    if len(raters) >= 2:
        ids = sorted(ratings)
        alpha, why = krippendorff_alpha_interval(np.array([[ratings[i].get(r, np.nan) for i in ids] for r in raters]))
        out["krippendorff_alpha_interval"] = alpha
        if why:
            out["krippendorff_alpha_why_missing"] = why
    points = []
    for metric in (list(metrics) if metrics else list(results.metrics)):
        pts = [(float(row[metric]), float(np.mean(list(ratings[row["image_id"]].values()))), row["method"])
               for row in results.rows
               if row["image_id"] in ratings and isinstance(row.get(metric), (int, float)) and np.isfinite(row[metric])]
        if not pts:
            continue
        m, h, meth = map(np.array, zip(*pts))
        points += [{"metric": metric, "method": mt, "metric_score": float(a), "human_score": float(b)} for a, b, mt in pts]
        out["metrics"][metric] = agreement_by_method(m, h, meth)
    return out, points


def _run(data, ctx) -> None:
    section, points = agreement_section(ctx.results, data.ratings)
    section["points"] = points
    ctx.results.sections["agreement"] = section


from idbench.protocols.registry import Protocol  # noqa: E402

PROTOCOL = Protocol("agreement", ("ratings", "generations"), _run,
                    "Pearson / Spearman / Kendall tau-b / pairwise accuracy of each metric with human ratings",
                    order=60, after_summary=True)
