"""Agreement of every metric with human ratings, on the images both cover (runs on summarised
results: the per-image rows are what it correlates)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from idbench.section import Section
from idbench.stats.agreement import Agreement


@dataclass(kw_only=True)
class MetricAgreement:
    """One metric against the ratings: pooled over images, per method, and the Fisher-z mean over methods."""

    pooled: Agreement
    per_method: dict[str, Agreement] = field(default_factory=dict)
    fisher_z_mean: dict[str, float | None] = field(default_factory=dict)  # pearson, spearman, kendall_tau_b


@dataclass(kw_only=True)
class PairedDifference:
    """One correlation of metric a minus metric b, its bootstrap interval and test (Holm-adjusted)."""

    diff: float | None = None
    ci: list[float | None] = field(default_factory=lambda: [None, None])
    p: float | None = None
    p_holm: float | None = None
    significant: bool = False
    williams_t: float | None = None
    williams_p: float | None = None
    williams_p_holm: float | None = None


@dataclass(kw_only=True)
class AgreementComparison:
    """Whether metric a agrees with people better than metric b, resampling rated units."""

    a: str
    b: str
    n: int
    n_units: int
    kendall_tau_b: PairedDifference
    pearson: PairedDifference


@dataclass(kw_only=True)
class HumanCeiling:
    """How well one rater agrees with the mean of the others (Fisher-z mean over raters)."""

    pearson: float | None = None
    spearman: float | None = None
    kendall_tau_b: float | None = None
    n_raters: int = 0


@dataclass(kw_only=True)
class RatingsNotInResults:
    n_images: int
    examples: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class AgreementPoint:
    metric: str
    method: str
    metric_score: float
    human_score: float


@dataclass(kw_only=True)
class AgreementSection(Section):
    """``sections.agreement`` (also ``agreement.json`` of ``idbench agree``): each metric's agreement
    with the mean human rating, the paired tests between metrics, the human ceiling, inter-rater alpha;
    with several rated aspects, one such section per aspect in ``aspects``."""

    NAME = "agreement"
    n_rated_images: int = 0
    n_ratings: int = 0
    raters: list[str] = field(default_factory=list)
    metrics: dict[str, MetricAgreement] = field(default_factory=dict)
    ratings_not_in_results: RatingsNotInResults | None = None
    krippendorff_alpha_interval: float | None = None
    krippendorff_alpha_why_missing: str = ""
    comparisons: list[AgreementComparison] = field(default_factory=list)
    comparison_unit: str | None = None
    human_ceiling: HumanCeiling | None = None
    points: list[AgreementPoint] | None = None  # (metric, human) pairs, when not written to agreement_points.csv
    aspects: dict[str, AgreementSection] | None = None
    published_agreement: dict[str, float] | None = None  # the preset's paper figures, for orientation


def agreement_section(results, ratings: dict[str, dict[str, float]], metrics=None, *, unit: str = "image",
                      n_resamples: int = 500, seed: int = 0) -> tuple[AgreementSection, list[dict]]:
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
    return AgreementSection.from_dict(out), points


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
    section.points = [AgreementPoint(**p) for p in points]
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
                    sections=(AgreementSection,),
                    views=Views(report=agreement_views.report))
