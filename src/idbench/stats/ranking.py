"""Method rankings of a results object, computed once and stored with it.

A ranking of one metric comes from the Holm-corrected paired tests over subjects
(:func:`idbench.stats.compare.compare_methods`, :func:`idbench.stats.compare.rank_methods`), with the
study's own resamples and seed. A method whose images copy references or gallery images is ranked
on its *other* images only, and left out when it has none. :meth:`idbench.results.Results.summarise`
computes every metric's ranking and ``summary.json`` keeps them (``"rankings"``), so the console,
``tables.md``/``tables.tex``, the report and ``idbench compare`` read one set of ranks and never
disagree.

This module reads the results object's plain fields (``methods``, ``subjects``, ``rows``,
``sections``, ``bootstrap``, ``metrics``); it imports nothing above ``stats``.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np

from idbench.stats.compare import Comparison, Ranking, compare_methods, rank_methods

#: kinds of ``copy_kind`` (column of per_image.csv) that keep an image out of its method's ranking
COPY_KINDS = ("copy", "near-copy")
#: the significance level of every stored ranking (``idbench compare --alpha`` re-ranks the stored tests)
ALPHA = 0.05


def flagged_methods(sections: dict) -> dict[str, str]:
    """``{method: "n of N images copy ..."}`` for methods with copies or near-copies (from the content
    section's per-method counts): such a method is marked on its row and ranked (or bold) on its
    other images only.

    >>> flagged_methods({"content": {"per_method": {"a": {"images": 4, "copies": 1, "near_copies": 1, "blank": 0}}}})
    {'a': '2 of 4 images copy a reference or gallery image'}
    """
    from idbench.section import section_of

    content = section_of(sections, "content")
    out = {}
    for m, d in (content.per_method if content is not None else {}).items():
        n = d.copies + d.near_copies
        if n:
            out[m] = f"{n} of {d.images} images copy a reference or gallery image"
    return out


def _num(v) -> float:
    try:
        return float(v) if v not in (None, "") else math.nan
    except (TypeError, ValueError):
        return math.nan


def ranking_inputs(res, metric: str) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, str]]:
    """``(means, per-subject means, left out)`` a ranking uses: a method whose images copy references
    or gallery images is ranked on its *other* images only (never on the strength of its copies);
    one with no other image is left out, with the reason."""
    flagged = flagged_methods(res.sections)
    means = {m: v[metric]["mean"] for m, v in res.methods.items() if metric in v}
    subj = {m: {s: d[metric] for s, d in res.subjects.get(m, {}).items() if metric in d} for m in means}
    left_out = {}
    for m in [m for m in means if m in flagged]:
        vals: dict[str, list[float]] = {}
        for r in res.rows:
            v = _num(r.get(metric))
            if r.get("method") == m and r.get("copy_kind") not in COPY_KINDS and v == v:
                vals.setdefault(r["subject"], []).append(v)
        if not vals:
            left_out[m] = flagged[m] + ": no other image to rank it on"
            means.pop(m)
            subj.pop(m)
            continue
        subj[m] = {s: float(np.mean(v)) for s, v in vals.items()}
        means[m] = float(np.mean([x for v in vals.values() for x in v]))
    return means, subj, left_out


def ranking_settings(res) -> tuple[int, int]:
    """``(n_resamples, seed)`` of every ranking of a results folder: the run's own (``--bootstrap``,
    ``--seed``)."""
    b = res.bootstrap or {}
    return int(b.get("n_resamples") or 2000), int(b.get("seed") or 0)


def _state(res) -> list:
    """What a stored ranking was computed from: a ranking whose state differs is computed again."""
    n, seed = ranking_settings(res)
    return [n, seed, ALPHA, len(res.rows), sorted(res.methods), sorted(flagged_methods(res.sections).items())]


def _to_dict(r: Ranking | None, comps: list[Comparison]) -> dict | None:
    return None if r is None else {**asdict(r), "comparisons": [asdict(c) for c in comps]}


def _from_dict(d: dict | None) -> Ranking | None:
    if d is None:
        return None
    return Ranking(dict(d["ranks"]), bool(d["ranked"]), d.get("best"), d.get("why", ""), dict(d.get("flagged") or {}))


def stored_comparisons(res, metric: str) -> list[Comparison] | None:
    """The paired tests behind ``metric``'s stored ranking (None when none is stored for this state)."""
    store = res.rankings or {}
    d = (store.get("metrics") or {}).get(metric) if store.get("state") == _jsonable_state(res) else None
    if not d:
        return None
    return [Comparison(**{k: (math.nan if v is None else v) for k, v in c.items()}) for c in d.get("comparisons", [])]


def _jsonable_state(res) -> list:
    import json

    return json.loads(json.dumps(_state(res)))


def metric_rankings(res, metrics) -> dict[str, Ranking | None]:
    """``{metric: Ranking or None}`` for ``metrics``, from ``res.rankings`` when they are stored for
    the results' present state (same rows, methods, flags, resamples and seed), else computed and
    stored there: each metric's ranking is computed once, whoever asks."""
    n, seed = ranking_settings(res)
    state = _jsonable_state(res)
    if (res.rankings or {}).get("state") != state:
        res.rankings = {"state": state, "metrics": {}}
    store = res.rankings["metrics"]
    out: dict[str, Ranking | None] = {}
    for metric in metrics:
        if metric not in store:
            means, subj, left_out = ranking_inputs(res, metric)
            comps = compare_methods(subj, metric, n_resamples=n, seed=seed) if len(subj) > 1 else []
            info = res.metrics.get(metric)
            r = (rank_methods(means, comps, higher_is_better=getattr(info, "higher_is_better", True), alpha=ALPHA,
                              flagged=left_out) if means or left_out else None)
            store[metric] = _to_dict(r, comps)
        out[metric] = _from_dict(store[metric])
    return out


__all__ = ["ALPHA", "COPY_KINDS", "flagged_methods", "metric_rankings", "ranking_inputs", "ranking_settings",
           "stored_comparisons"]
