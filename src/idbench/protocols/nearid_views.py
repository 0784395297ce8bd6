"""What a person sees of NearID: SSR and PA with intervals and chance (with any published figures
under them), the console line per source, and the margin histogram in the report."""

from __future__ import annotations

from idbench.protocols.nearid import NearIDSection
from idbench.views.format import fmt_interval, fmt_num
from idbench.views.rows import nearid_line
from idbench.views.table import format_table, published_rows, sentence


def tables(res) -> list[dict]:
    n = NearIDSection.of(res)
    if n is None:
        return []
    ci = lambda v: fmt_interval(*(v or [None, None]))  # noqa: E731
    rows = [[n.encoder, str(n.n_samples), str(n.n_incomplete), f"{fmt_num(n.ssr)} {ci(n.ssr_ci)}".strip(),
             f"{fmt_num(n.pa)} {ci(n.pa_ci)}".strip(), fmt_num(n.chance.pa)]]
    cell = {"SSR": 3, "PA": 4}  # the published SSR / PA go under the study's
    pub = published_rows(res, 6, lambda p: (cell[p.metric], 1) if p.metric in cell else None)
    notes = [sentence("SSR: share of samples whose every margin is > 0 (strict); PA: share of winning margins; "
                      "95% CI: cluster bootstrap over samples")]
    notes += [sentence(f"The {k} interval has zero width because every one of the {n.n_samples} "
                       "samples gives the same value; more samples are needed for a wider view")
              for k, v in (("SSR", n.ssr_ci), ("PA", n.pa_ci)) if v and v[0] is not None and v[0] == v[1]]
    return [{"title": "NearID", "key": "nearid",
             "header": ["encoder", "samples", "incomplete", "SSR [95% CI]", "PA [95% CI]", "chance PA"],
             "rows": rows + pub, "bold": set(), "rules": [len(rows)] if pub else [], "notes": notes}]


def console(res) -> list[str]:
    section = NearIDSection.of(res)
    if section is None:
        return []
    out = []
    review = section.review
    if review:
        out.append(f"review {review.review_file}: {review.removed} distractor(s) rejected by a person, "
                   f"{review.restored} restored, {review.unknown_rows + review.conflicting_rows} "
                   "row(s) not used (each named in problems.csv)")
    b = section.distractor_build
    if b:
        out.append(f"distractors: {fmt_num(b.accepted, 0)} of {fmt_num(b.attempts, 0)} attempts passed the gates; "
                   "rejected: " + (", ".join(f"{g} {n}" for g, n in b.rejected.items()) or "none"))
    out.append(nearid_line(section, f"NearID [{section.encoder}]"))
    per = section.per_source
    if section.n_samples and len(per) > 1:
        out.append(format_table(["source", "SSR", "PA", "samples"],
                                [[k, fmt_num(v.ssr), fmt_num(v.pa), str(v.n_samples)] for k, v in per.items()]))
    return out


def report(res, results_dir) -> dict:
    """The margin histogram and the review (when there are margins), and the examples: each chosen
    sample's views above its distractors, thumbnails from the results folder."""
    from idbench.views.figures import histogram, thumb

    n = NearIDSection.of(res)
    if n is None:
        return {}
    out = {"examples": [{"sample_id": e.sample_id, "source": e.source, "margins": e.margins,
                         "view_uris": [thumb(results_dir, t) for t in e.view_thumbs or []],
                         "distractor_uris": [thumb(results_dir, t) for t in e.distractor_thumbs or []]}
                        for e in n.examples]}
    if n.histogram.counts:
        out.update(hist_uri=histogram(n.histogram.edges, n.histogram.counts, f"NearID margins ({n.encoder})"),
                   review=n.review)
    return out


def files(res, out_dir, figures: bool = True) -> list:
    """``nearid_samples.csv``: each scored sample's id, distractor source, smallest margin and success."""
    from pathlib import Path

    from idbench.atomic import atomic_write_bytes
    from idbench.folder import csv_bytes

    n = NearIDSection.of(res)
    if n is None:
        return []
    rows = [{"sample_id": r.sample_id, "source": r.source,
             "min_margin": "" if r.min_margin is None else f"{r.min_margin:.6g}",
             "success": "" if r.success is None else r.success} for r in n.samples]
    path = Path(out_dir) / "nearid_samples.csv"
    atomic_write_bytes(path, csv_bytes(["sample_id", "source", "min_margin", "success"], rows))
    return [path]
