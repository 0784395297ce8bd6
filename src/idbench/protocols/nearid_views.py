"""What a person sees of NearID: SSR and PA with intervals and chance (with any published figures
under them), the console line per source, and the margin histogram in the report."""

from __future__ import annotations

from idbench.views.format import fmt_interval, fmt_num
from idbench.views.rows import nearid_line
from idbench.views.table import format_table, published_rows, sentence


def tables(res) -> list[dict]:
    n = res.sections.get("nearid")
    if not n:
        return []
    ci = lambda k: fmt_interval(*(n.get(k) or [None, None]))  # noqa: E731
    rows = [[n.get("encoder", ""), str(n.get("n_samples", "")), str(n.get("n_incomplete", "")),
             f"{fmt_num(n.get('ssr'))} {ci('ssr_ci')}".strip(), f"{fmt_num(n.get('pa'))} {ci('pa_ci')}".strip(),
             fmt_num(n.get("chance", {}).get("pa"))]]
    cell = {"SSR": 3, "PA": 4}  # the published SSR / PA go under the study's
    pub = published_rows(res, 6, lambda p: (cell[p["metric"]], 1) if p["metric"] in cell else None)
    notes = [sentence("SSR: share of samples whose every margin is > 0 (strict); PA: share of winning margins; "
                      "95% CI: cluster bootstrap over samples")]
    notes += [sentence(f"The {k.upper()} interval has zero width because every one of the {n.get('n_samples')} "
                       "samples gives the same value; more samples are needed for a wider view") for k in ("ssr", "pa")
              if (n.get(f"{k}_ci") or [0, 1])[0] == (n.get(f"{k}_ci") or [0, 1])[1]]
    return [{"title": "NearID", "key": "nearid",
             "header": ["encoder", "samples", "incomplete", "SSR [95% CI]", "PA [95% CI]", "chance PA"],
             "rows": rows + pub, "bold": set(), "rules": [len(rows)] if pub else [], "notes": notes}]


def console(res) -> list[str]:
    section = res.sections.get("nearid")
    if not section:
        return []
    out = []
    review = section.get("review")
    if review:
        out.append(f"review {review['review_file']}: {review['removed']} distractor(s) rejected by a person, "
                   f"{review['restored']} restored, {review.get('unknown_rows', 0) + review.get('conflicting_rows', 0)} "
                   "row(s) not used (each named in problems.csv)")
    b = section.get("distractor_build")
    if b:
        out.append(f"distractors: {b.get('accepted')} of {b.get('attempts')} attempts passed the gates; rejected: "
                   + (", ".join(f"{g} {n}" for g, n in (b.get("rejected") or {}).items()) or "none"))
    out.append(nearid_line(section, f"NearID [{section.get('encoder')}]"))
    per = section.get("per_source") or {}
    if section.get("n_samples") and len(per) > 1:
        out.append(format_table(["source", "SSR", "PA", "samples"],
                                [[k, fmt_num(v["ssr"]), fmt_num(v["pa"]), str(v["n_samples"])] for k, v in per.items()]))
    return out


def report(res, results_dir) -> dict:
    from idbench.views.figures import histogram

    n = res.sections.get("nearid") or {}
    if not n.get("histogram", {}).get("counts"):
        return {}
    return {"hist_uri": histogram(n["histogram"]["edges"], n["histogram"]["counts"],
                                  f"NearID margins ({n.get('encoder', '')})"),
            "review": n.get("review")}
