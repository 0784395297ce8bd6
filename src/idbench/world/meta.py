"""Meta-evaluation: does a metric follow the known identity drift?

For each metric, Kendall tau-b between the metric and the *negated* drift (so +1 means the metric
drops exactly as identity is lost, whatever the metric's direction), per method and per image,
and whether it orders the methods as the truth does (every pair of methods with different drift
ordered correctly; methods with equal drift may come in any order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from idbench.section import Section


@dataclass(frozen=True)
class MetaRow:
    metric: str
    tau_methods: float | None
    p_methods: float | None
    tau_images: float | None
    true_order: bool
    n_methods: int
    n_images: int


@dataclass(kw_only=True)
class MetaSection(Section):
    """``sections.meta`` (the demo's synthetic world, whose true drift is known): how well each metric
    follows that drift."""

    NAME = "meta"
    against: str = ""
    rows: list[MetaRow] = field(default_factory=list)


def _oriented(scores: np.ndarray, higher_is_better: bool) -> np.ndarray:
    return scores if higher_is_better else -scores


def orders_like_truth(scores: dict[str, float], drift: dict[str, float], higher_is_better: bool = True) -> bool:
    """True when every pair of methods with different drift is ordered by the metric as by the truth
    (less drift -> better score; a tie in the score counts as wrong)."""
    sign = 1.0 if higher_is_better else -1.0
    for a, b in combinations(sorted(set(scores) & set(drift)), 2):
        if drift[a] == drift[b]:
            continue
        lo, hi = (a, b) if drift[a] < drift[b] else (b, a)
        if not sign * scores[lo] > sign * scores[hi]:
            return False
    return True


def meta_evaluate(
    method_means: dict[str, dict[str, float]],
    drift: dict[str, float],
    higher_is_better: dict[str, bool],
    image_scores: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> list[MetaRow]:
    """One :class:`MetaRow` per metric.

    Parameters
    ----------
    method_means : ``{metric: {method: mean score}}``
    drift : ``{method: true drift in [0, 1]}``
    higher_is_better : ``{metric: bool}``
    image_scores : optional ``{metric: (scores, drifts)}`` over images, for the per-image tau.
    """
    from scipy.stats import kendalltau  # imported when a meta-evaluation runs, not when its section is read

    rows = []
    for metric, per_method in method_means.items():
        methods = sorted(m for m in per_method if m in drift and np.isfinite(per_method[m]))
        hib = higher_is_better.get(metric, True)
        s = _oriented(np.array([per_method[m] for m in methods]), hib)
        t = -np.array([drift[m] for m in methods])
        tau, p = kendalltau(s, t, variant="b") if len(methods) >= 2 else (np.nan, np.nan)
        tau_i, n_i = np.nan, 0
        if image_scores and metric in image_scores:
            xs, ds = (np.asarray(a, float) for a in image_scores[metric])
            ok = np.isfinite(xs)
            n_i = int(ok.sum())
            if n_i >= 2:
                tau_i = kendalltau(_oriented(xs[ok], hib), -ds[ok], variant="b")[0]
        rows.append(MetaRow(metric, float(tau), float(p), float(tau_i),
                            orders_like_truth({m: per_method[m] for m in methods}, drift, hib), len(methods), n_i))
    return rows
