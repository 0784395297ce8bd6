"""What a person sees of the similarity protocol: one paper table per metric group (similarity to
references, text, learned scores, faces per face encoder, grounding, scores shipped with the
benchmark), each with its real and impostor reference rows and any published figures."""

from __future__ import annotations

from idbench.baselines import BaselinesSection
from idbench.judge.run import JudgeSection
from idbench.metrics.catalogue import MetricId
from idbench.views.format import fmt_ci
from idbench.views.table import display_scale, metric_table, published_column, published_rows, scaled, shown_metrics

#: metric groups (``MetricInfo.protocol``) -> the table they go in, in the order of the tables
GROUPS = (("similarity", "Similarity to references"), ("text", "Text"), ("learned", "Learned preference scores"),
          ("face", "Faces"), ("grounding", "Grounding and relations"), ("relation", "Grounding and relations"),
          ("judge", "VLM judge"), ("external", "Scores shipped with the benchmark"))
#: the report sections the groups' tables go under
HEADINGS = (("similarity", "Similarity to references"), ("face", "Faces"), ("text", "Text"),
            ("learned", "Learned preference scores"), ("judge", "VLM judge"))
_ORDER = {"face_found": 0, "ips": 1, "sis": 2, "facesim": 3, "face_cos": 4}


def tables(res) -> list[dict]:
    shown = set(res.study.preset.metrics) if res.study.preset is not None else set()
    base = BaselinesSection.of(res) or BaselinesSection()
    metrics_all = shown_metrics(res)
    out, done = [], set()
    for group, title in GROUPS:
        if title in done:
            continue
        groups = {g for g, t in GROUPS if t == title}
        metrics = sorted((m for m in metrics_all if res.metrics[m].protocol in groups),
                         key=lambda m: _ORDER.get(MetricId.parse(m).id, -1))
        if group == "face" and "face_cos" not in shown:  # the raw face cosine stays in per_image.csv; tables show FaceSim
            metrics = [m for m in metrics if MetricId.parse(m).id != "face_cos"]
        if not metrics:
            continue
        done.add(title)
        by_enc: dict[str | None, list[str]] = {}
        for m in metrics:
            by_enc.setdefault(MetricId.parse(m).encoder if group == "face" else None, []).append(m)
        for enc, ms in by_enc.items():
            extra = [[label, *[fmt_ci(scaled(e, display_scale(res, m))) if e else "" for e, m in zip(entries, ms)]]
                     for label, entries in baseline_rows(base, ms)]
            if group == "similarity":
                extra += _published(res, ms)
            notes = ([baseline_note(base)] if baseline_note(base) and group != "judge"
                     and any(m in base.columns for m in ms) else [])
            if group == "judge":  # its reference rows are made its own way: said in its notes
                notes += judge_notes(res)
            out.append(metric_table(res, ms, title=title + (f" ({enc})" if enc else ""), key=group, extra_rows=extra,
                                    notes=notes))
    return out


def _published(res, metrics: list[str]) -> list[list[str]]:
    """Published DINO / CLIP-I / CLIP-T figures as rows ``[label, cell per metric]``, each under its column."""
    def place(p):
        j = published_column(p.metric, metrics)
        return None if j is None else (1 + j, display_scale(res, metrics[j]))

    return published_rows(res, 1 + len(metrics), place)


def judge_notes(res) -> list[str]:
    """Per judge: what was asked, what it cost, how reliable its answers were, and what failed."""
    from idbench.views.format import fmt_num

    out = []
    judges = JudgeSection.of(res)
    base = BaselinesSection.of(res) or BaselinesSection()
    for name, j in (judges.judges if judges is not None else {}).items():
        run = j.run
        money = f"${j.cost_usd:.2f}" if j.cost_usd is not None else "cost unknown (no price for this model)"
        line = (f"{name} at {j.endpoint}: prompts {', '.join(f'{a} {v}' for a, v in j.prompts.items())}"
                f"; {j.samples} answer(s) per question, score / 4; {run.answered} answered now, "
                f"{run.cached} from the cache, {run.requests} requests sent; "
                f"{run.tokens_in} input and {run.tokens_out} output tokens, {money}")
        if run.failed:
            line += "; without an answer: " + ", ".join(f"{k} {v}" for k, v in run.failed.items())
        entry = base.columns.get(f"judge_concept[{name}]")
        if entry is not None and entry.how:
            line += f"; its reference rows: {entry.how}"
        for aspect, r in j.reliability.items():
            line += f"; {aspect}: mean spread between answers {fmt_num(r.mean_sd)} (SD, {r.n_images} images)"
        out.append(line)
    return out


def baseline_rows(base: BaselinesSection, metrics: list[str]) -> list[tuple[str, list]]:
    """``[(label, [estimate or None per metric])]``: the real and impostor rows of the baselines, for
    the metrics that have them (empty when none has); when methods cover different subjects, also each
    method's rows over its own subjects."""
    entries = [base.columns.get(m) for m in metrics]
    if not any(entries):
        return []
    rows = [("real references", [e.real if e else None for e in entries]),
            ("impostor references", [e.impostor if e else None for e in entries])]
    methods = dict.fromkeys(k for e in entries if e and e.by_method for k in e.by_method)
    for meth in methods:
        for (key, label), overall in zip((("real", "real references"), ("impostor", "impostor references")), rows[:2]):
            own = [((e.by_method or {}).get(meth) or {}).get(key) if e else None for e in entries]
            if own != overall[1]:  # a method scored on every subject: its rows are the overall rows, not repeated
                rows.append((f"{label} ({meth}'s subjects)", own))
    return [(label, es) for label, es in rows if any(es)]  # none: no row at all


def baseline_note(base: BaselinesSection) -> str:
    """What the real and impostor rows are (empty when there are none)."""
    if not base.columns:
        return ""
    rule = next((b.impostor_from for b in base.columns.values() if b.impostor_from), "other subjects")
    counted = next((b for b in base.columns.values() if b.impostor_pairs), None)
    pairs = (f" ({counted.impostor_cross_class} of its {counted.impostor_pairs} pairs cross classes)"
             if counted else "")
    return ("real references: each reference scored against its subject's other references (what a new real photo "
            f"gets); impostor references: {rule}{pairs}, scored against the subject's references (what another "
            "identity gets)")
