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
    out = {}
    for m, d in (sections.get("content", {}).get("per_method") or {}).items():
        n = d.get("images", 0)
        parts = [f"{label} {d[key]}/{n}" for key, label in (("copies", "copy"), ("near_copies", "near-copy"),
                                                             ("blank", "blank")) if d.get(key)]
        out[m] = ", ".join(parts)
    return out


def baseline_rows(sections: dict, metrics: list[str]) -> list[tuple[str, list]]:
    """``[(label, [entry or None per metric])]``: the real and impostor rows of the similarity
    baselines, for the metrics that have them (empty when none has)."""
    base = sections.get("baselines") or {}
    if not any(m in base for m in metrics):
        return []
    rows = [("real references", [(base.get(m) or {}).get("real") for m in metrics]),
            ("impostor references", [(base.get(m) or {}).get("impostor") for m in metrics])]
    # methods scored on different subjects: each method's levels over its own subjects
    methods = dict.fromkeys(k for m in metrics for k in ((base.get(m) or {}).get("by_method") or {}))
    for meth in methods:
        for key, label in (("real", "real references"), ("impostor", "impostor references")):
            rows.append((f"{label} ({meth}'s subjects)",
                         [(((base.get(m) or {}).get("by_method") or {}).get(meth) or {}).get(key) for m in metrics]))
    return [(label, entries) for label, entries in rows if any(e for e in entries)]  # none: no row at all


def baseline_note(sections: dict) -> str:
    """What the real and impostor rows are (empty when there are none)."""
    base = sections.get("baselines") or {}
    if not base:
        return ""
    rule = next((b.get("impostor_from") for b in base.values() if b.get("impostor_from")), "other subjects")
    counted = next((b for b in base.values() if b.get("impostor_pairs")), None)
    pairs = (f" ({counted['impostor_cross_class']} of its {counted['impostor_pairs']} pairs cross classes)"
             if counted else "")
    return ("real references: each reference scored against its subject's other references (what a new real photo "
            f"gets); impostor references: {rule}{pairs}, scored against the subject's references (what another "
            "identity gets)")


def retrieval_rows(section: dict) -> list[dict]:
    """Per level: the real references' row (``real`` True), then one row per method. Figures are
    formatted; ``relative`` is ``–`` when no references were given (``has_real`` False)."""
    rows = []
    for lv in section.get("levels", []):
        real = section.get("real", {}).get(lv)
        if real:
            rows.append({"real": True, "has_real": True, "who": "", "level": lv,
                         "n_subjects": real.get("n_subjects", ""), "n_images": real.get("n_queries", ""),
                         "map": fmt_num(real.get("ap")), "r1": fmt_num(real.get("cmc@1")), "r5": fmt_num(real.get("cmc@5")),
                         "chance": fmt_num(real.get("chance", {}).get("ap")), "relative": "1.00"})
        for m, per in section.get("methods", {}).items():
            q = per.get(lv, {})
            rel = section.get("relative", {}).get(m, {}).get(lv)
            rows.append({"real": False, "has_real": bool(real), "who": m, "level": lv,
                         "n_subjects": q.get("n_subjects", ""), "n_images": q.get("n_queries", ""),
                         "map": fmt_num(q.get("ap")), "r1": fmt_num(q.get("cmc@1")), "r5": fmt_num(q.get("cmc@5")),
                         "chance": fmt_num(section.get("chance", {}).get(m, {}).get(lv, {}).get("ap")),
                         "relative": fmt_ci(rel, 2) if real else DASH})
    for r in rows:
        r["n"] = f"{r['n_subjects']} / {r['n_images']}"
    return rows


def rca_rows(section: dict, *, rca_digits: int = 2) -> list[dict]:
    """Per level and method: Acc_real, Acc_gen and RCA with their intervals, top-5, chance; a level
    that could not be scored gives one row with ``error``."""
    rows = []
    for lv, v in section.get("levels", {}).items():
        if "error" in v:
            rows.append({"level": lv, "error": v["error"]})
            continue
        for m, r in (v.get("methods") or {}).items():
            rows.append({"level": lv, "method": m, "error": "", "n_subjects": r.get("n_subjects", ""),
                         "n_images": r.get("n_images", ""), "n": f"{r.get('n_subjects', '')} / {r.get('n_images', '')}",
                         "acc_real": f"{fmt_num(v['acc_real'])} {fmt_interval(*(v.get('acc_real_ci') or [None, None]))}",
                         "acc_gen": f"{fmt_num(r['acc_gen'])} {fmt_interval(*(r.get('acc_gen_ci') or [None, None]))}",
                         "top5": fmt_num(r["acc_gen_top5"]),
                         "rca": f"{fmt_num(r['rca'], rca_digits, why='Acc_real is 0')} "
                                f"{fmt_interval(*(r.get('rca_ci') or [None, None]), digits=rca_digits)}",
                         "chance": fmt_num(v.get("chance_top1"))})
    return rows


def nearid_line(s: dict, title: str) -> str:
    """One line for a NearID section (or ``NearIDResult.summary()``): SSR and PA with intervals and counts."""
    if not s.get("n_samples"):
        return f"{title}: SSR – PA – (no complete sample: {s.get('n_incomplete', 0)} incomplete, a distractor missing)"
    ci = lambda k: " " + fmt_interval(*s[k]) if s.get(k) else ""  # noqa: E731
    return (f"{title}: SSR {fmt_num(s['ssr'])}{ci('ssr_ci')}  PA {fmt_num(s['pa'])}{ci('pa_ci')}  "
            f"({s['n_samples']} samples, {s['n_margins']} margins, {s['n_incomplete']} incomplete left out; "
            f"95% CI: cluster bootstrap over samples)")


def agreement_table(agree: dict, preset: dict | None) -> dict:
    """Stellar's layout: Kendall tau-b of each metric with the ratings, a column per aspect, the
    human-human ceiling as the last row, and the paper's own figures beside them when the study ran
    with a preset that has them (:func:`idbench.presets.published_agreement`)."""
    from idbench.metrics.catalogue import published_agreement

    aspects = agree.get("aspects") or {"overall": agree}
    metrics = list(dict.fromkeys(m for a in aspects.values() for m in a.get("metrics", {})))
    paper = {m: published_agreement(preset, m) for m in metrics}
    show_paper = any(v is not None for v in paper.values())
    header = ["metric", *aspects, *([f"{preset['name']} paper (overall)"] if show_paper else [])]
    rows = [[m, *[fmt_num((a.get("metrics", {}).get(m) or {}).get("pooled", {}).get("kendall_tau_b"), signed=True)
                  for a in aspects.values()], *([fmt_num(paper[m], signed=True) if paper[m] is not None else ""]
                                                if show_paper else [])] for m in metrics]
    ceiling = [fmt_num((a.get("human_ceiling") or {}).get("kendall_tau_b"), signed=True) if a.get("human_ceiling")
               else "" for a in aspects.values()]
    if any(ceiling):
        rows.append(["human–human (ceiling)", *ceiling, *([""] if show_paper else [])])
    return {"header": header, "rows": rows}
