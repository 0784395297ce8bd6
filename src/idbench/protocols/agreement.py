"""Agreement of every metric with human ratings, on the images both cover (runs on summarised
results: the per-image rows are what it correlates)."""

from __future__ import annotations

import numpy as np


def agreement_section(results, ratings: dict[str, dict[str, float]], metrics=None, *, unit: str = "image",
                      n_resamples: int = 500, seed: int = 0) -> tuple[dict, list[dict]]:
    """``(section, points)``: per metric, pooled / per-method / Fisher-z agreement with the mean
    human score of each image; for every pair of metrics, whether one agrees significantly better
    (:func:`idbench.stats.agreement.compare_agreements`, resampling rated ``unit``s: image, subject
    or prompt); the human-human ceiling; Krippendorff's alpha between raters; the (metric, human) points."""
    from idbench.stats.agreement import agreement_by_method, compare_agreements, human_ceiling, krippendorff_alpha_interval

    unknown = [m for m in (metrics or []) if m not in results.metrics]
    if unknown:
        from idbench.registry import did_you_mean

        raise ValueError(f"unknown metric {unknown[0]!r}{did_you_mean(unknown[0], list(results.metrics))}; the results "
                         f"have: {', '.join(results.metrics)}")
    in_results = {row["image_id"] for row in results.rows}
    not_in = sorted(i for i in ratings if i not in in_results)
    ratings = {i: d for i, d in ratings.items() if i in in_results}  # only ratings of scored images are used
    raters = sorted({k for d in ratings.values() for k in d})
    out = {"n_rated_images": len(ratings), "n_ratings": sum(len(d) for d in ratings.values()), "raters": raters,
           "metrics": {}}
    if not_in:
        out["ratings_not_in_results"] = {"n_images": len(not_in), "examples": not_in[:5]}
    if len(raters) >= 2:
        ids = sorted(ratings)
        alpha, why = krippendorff_alpha_interval(np.array([[ratings[i].get(r, np.nan) for i in ids] for r in raters]))
        out["krippendorff_alpha_interval"] = alpha
        if why:
            out["krippendorff_alpha_why_missing"] = why
    points = []
    for metric in (list(metrics) if metrics else list(results.metrics)):
        pts = [(float(row[metric]), mean_rating(ratings[row["image_id"]]), row["method"])
               for row in results.rows
               if row["image_id"] in ratings and isinstance(row.get(metric), (int, float)) and np.isfinite(row[metric])]
        if not pts:
            continue
        m, h, meth = map(np.array, zip(*pts))
        points += [{"metric": metric, "method": mt, "metric_score": float(a), "human_score": float(b)} for a, b, mt in pts]
        out["metrics"][metric] = agreement_by_method(m, h, meth)
    rated = [row for row in results.rows if row["image_id"] in ratings]
    names = list(out["metrics"])
    if len(names) >= 2 and rated:
        def val(row, metric):
            v = row.get(metric)
            return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else np.nan

        human = np.array([mean_rating(ratings[r["image_id"]]) for r in rated])
        units = np.array([r["image_id"] if unit == "image" else r.get(unit, r["image_id"]) or r["image_id"] for r in rated])
        out["comparisons"] = compare_agreements({m: np.array([val(r, m) for r in rated]) for m in names}, human, units,
                                                n_resamples=n_resamples, seed=seed)
        out["comparison_unit"] = unit
    ceiling = human_ceiling(ratings)
    if ceiling:
        out["human_ceiling"] = ceiling
    return out, points


def mean_rating(by_rater: dict) -> float:
    """The mean of one image's ratings, computed scaled so that huge finite ratings do not overflow to inf.

    >>> mean_rating({"a": 1e308, "b": 1e308})
    1e+308
    """
    v = np.asarray(list(by_rater.values()), np.float64)
    scale = float(np.max(np.abs(v))) or 1.0
    return float(np.mean(v / scale) * scale)


def _run(data, ctx) -> None:
    section, points = agreement_section(ctx.results, data.ratings, ctx.opt("agreement", "metrics"),
                                        unit=ctx.opt("agreement", "compare_unit"), n_resamples=ctx.n_resamples, seed=ctx.seed)
    section["points"] = points
    ctx.results.sections["agreement"] = section


from idbench.options import Option  # noqa: E402
from idbench.protocols import agreement_views  # noqa: E402
from idbench.protocols.registry import Protocol, Views  # noqa: E402

OPTIONS = (Option("compare_unit", "str", "image", "what is resampled when testing whether one metric agrees better than "
                  "another: the rated images, or all images of a subject / prompt together",
                  choices=("image", "subject", "prompt"), flag="--agreement-unit"),
           Option("metrics", "list", None, "the metrics whose agreement is measured (default: every metric)",
                  flag="--agreement-metrics"))

PROTOCOL = Protocol("agreement", ("ratings", "generations"), _run,
                    "Pearson / Spearman / Kendall tau-b / pairwise accuracy of each metric with human ratings",
                    options=OPTIONS, order=60, after_summary=True, title="Agreement with human ratings",
                    views=Views(report=agreement_views.report))
