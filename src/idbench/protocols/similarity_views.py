"""What a person sees of the similarity protocol: one paper table per metric group (similarity to
references, text, learned scores, faces per face encoder, grounding, scores shipped with the
benchmark), each with its real and impostor reference rows and any published figures."""

from __future__ import annotations

from idbench.metrics.catalogue import MetricId
from idbench.views.format import fmt_ci
from idbench.views.rows import baseline_note, baseline_rows
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
    shown = set(((res.sections.get("study") or {}).get("preset") or {}).get("metrics") or ())
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
                     for label, entries in baseline_rows(res.sections, ms)]
            if group == "similarity":
                extra += _published(res, ms)
            notes = ([baseline_note(res.sections)] if baseline_note(res.sections) and group != "judge"
                     and any(m in (res.sections.get("baselines") or {}) for m in ms) else [])
            if group == "judge":  # its reference rows are made its own way: said in its notes
                notes += judge_notes(res)
            out.append(metric_table(res, ms, title=title + (f" ({enc})" if enc else ""), key=group, extra_rows=extra,
                                    notes=notes))
    return out


def _published(res, metrics: list[str]) -> list[list[str]]:
    """Published DINO / CLIP-I / CLIP-T figures as rows ``[label, cell per metric]``, each under its column."""
    def place(p):
        j = published_column(p["metric"], metrics)
        return None if j is None else (1 + j, display_scale(res, metrics[j]))

    return published_rows(res, 1 + len(metrics), place)


def judge_notes(res) -> list[str]:
    """Per judge: what was asked, what it cost, how reliable its answers were, and what failed."""
    from idbench.views.format import fmt_num

    out = []
    for name, j in ((res.sections.get("judge") or {}).items()):
        run = j.get("run") or {}
        cost = j.get("cost_usd")
        money = f"${cost:.2f}" if isinstance(cost, (int, float)) else "cost unknown (no price for this model)"
        line = (f"{name} at {j.get('endpoint')}: prompts {', '.join(f'{a} {v}' for a, v in (j.get('prompts') or {}).items())}"
                f"; {j.get('samples')} answer(s) per question, score / 4; {run.get('answered', 0)} answered now, "
                f"{run.get('cached', 0)} from the cache, {run.get('requests', 0)} requests sent; "
                f"{run.get('tokens_in', 0)} input and {run.get('tokens_out', 0)} output tokens, {money}")
        failed = run.get("failed") or {}
        if failed:
            line += "; without an answer: " + ", ".join(f"{k} {v}" for k, v in failed.items())
        how = ((res.sections.get("baselines") or {}).get(f"judge_concept[{name}]") or {}).get("how")
        if how:
            line += f"; its reference rows: {how}"
        for aspect, r in (j.get("reliability") or {}).items():
            line += f"; {aspect}: mean spread between answers {fmt_num(r.get('mean_sd'))} (SD, {r.get('n_images')} images)"
        out.append(line)
    return out
