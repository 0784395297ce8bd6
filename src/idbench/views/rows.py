"""The rows every view of a results folder shows (console, HTML report, paper tables), built once
from the summary's sections so that the three never drift apart."""

from __future__ import annotations

from idbench.views.format import DASH, fmt_ci, fmt_interval, fmt_num

FLAGS_NOTE = ("flags: images that copy a reference or gallery image (bytes or near-copy; column copy_of of "
              "per_image.csv) or are blank. A copy is scored leave-one-out (never against its own source), and a "
              "method is ranked or bold on its other images only")


def content_flags(sections: dict) -> dict[str, str]:
    """``{method: "copy 60/60"}``: each method's copies, near-copies and blank images, for its row
    in every view (empty string when it has none)."""
    from idbench.section import section_of

    content = section_of(sections, "content")
    out = {}
    for m, d in (content.per_method if content is not None else {}).items():
        parts = [f"{label} {k}/{d.images}" for k, label in ((d.copies, "copy"), (d.near_copies, "near-copy"),
                                                            (d.blank, "blank")) if k]
        out[m] = ", ".join(parts)
    return out


def retrieval_rows(section) -> list[dict]:
    """Per level of a retrieval section: the real references' row (``real`` True), then one row per
    method. Figures are formatted; ``relative`` is ``–`` when no references were given (``has_real`` False)."""
    rows = []
    for lv in section.levels:
        real = section.real.get(lv)
        if real:
            rows.append({"real": True, "has_real": True, "who": "", "level": lv,
                         "n_subjects": real.get("n_subjects", ""), "n_images": real.get("n_queries", ""),
                         "map": fmt_num(real.get("ap")), "r1": fmt_num(real.get("cmc@1")), "r5": fmt_num(real.get("cmc@5")),
                         "chance": fmt_num((real.get("chance") or {}).get("ap")), "relative": "1.00"})
        for m, per in section.methods.items():
            q = per.get(lv, {})
            rel = section.relative.get(m, {}).get(lv)
            rows.append({"real": False, "has_real": bool(real), "who": m, "level": lv,
                         "n_subjects": q.get("n_subjects", ""), "n_images": q.get("n_queries", ""),
                         "map": fmt_num(q.get("ap")), "r1": fmt_num(q.get("cmc@1")), "r5": fmt_num(q.get("cmc@5")),
                         "chance": fmt_num(section.chance.get(m, {}).get(lv, {}).get("ap")),
                         "relative": fmt_ci(rel, 2) if real else DASH})
    for r in rows:
        r["n"] = f"{r['n_subjects']} / {r['n_images']}"
    return rows


def rca_rows(section, *, rca_digits: int = 2) -> list[dict]:
    """Per level and method of an RCA section: Acc_real, Acc_gen and RCA with their intervals, top-5,
    chance; a level that could not be scored gives one row with ``error``."""
    rows = []
    for lv, v in section.levels.items():
        if v.error:
            rows.append({"level": lv, "error": v.error})
            continue
        for m, r in v.methods.items():
            rows.append({"level": lv, "method": m, "error": "", "n_subjects": r.n_subjects,
                         "n_images": r.n_images, "n": f"{r.n_subjects} / {r.n_images}",
                         "acc_real": f"{fmt_num(v.acc_real)} {fmt_interval(*(v.acc_real_ci or [None, None]))}",
                         "acc_gen": f"{fmt_num(r.acc_gen)} {fmt_interval(*(r.acc_gen_ci or [None, None]))}",
                         "top5": fmt_num(r.acc_gen_top5),
                         "rca": f"{fmt_num(r.rca, rca_digits, why='Acc_real is 0')} "
                                f"{fmt_interval(*(r.rca_ci or [None, None]), digits=rca_digits)}",
                         "chance": fmt_num(v.chance_top1)})
    return rows


def nearid_line(s, title: str) -> str:
    """One line for a NearID section: SSR and PA with intervals and counts."""
    if not s.n_samples:
        return f"{title}: SSR – PA – (no complete sample: {s.n_incomplete} incomplete, a distractor missing)"
    ci = lambda v: " " + fmt_interval(*v) if v else ""  # noqa: E731
    return (f"{title}: SSR {fmt_num(s.ssr)}{ci(s.ssr_ci)}  PA {fmt_num(s.pa)}{ci(s.pa_ci)}  "
            f"({s.n_samples} samples, {s.n_margins} margins, {s.n_incomplete} incomplete left out; "
            f"95% CI: cluster bootstrap over samples)")


def agreement_table(agree, preset) -> dict:
    """Stellar's layout (``agree``: an agreement section, ``preset``: the study's preset record or None):
    Kendall tau-b of each metric with the ratings, a column per aspect, the
    human-human ceiling as the last row, and the paper's own figures beside them when the study ran
    with a preset that has them (:func:`idbench.presets.published_agreement`)."""
    from idbench.metrics.catalogue import published_agreement

    aspects = agree.aspects or {"overall": agree}
    metrics = list(dict.fromkeys(m for a in aspects.values() for m in a.metrics))
    paper = {m: published_agreement(preset, m) for m in metrics}
    show_paper = any(v is not None for v in paper.values())
    header = ["metric", *aspects, *([f"{preset.name} paper (overall)"] if show_paper else [])]
    rows = [[m, *[fmt_num(a.metrics[m].pooled.kendall_tau_b if m in a.metrics else None, signed=True)
                  for a in aspects.values()], *([fmt_num(paper[m], signed=True) if paper[m] is not None else ""]
                                                if show_paper else [])] for m in metrics]
    ceiling = [fmt_num(a.human_ceiling.kendall_tau_b, signed=True) if a.human_ceiling else "" for a in aspects.values()]
    if any(ceiling):
        rows.append(["human–human (ceiling)", *ceiling, *([""] if show_paper else [])])
    return {"header": header, "rows": rows}
