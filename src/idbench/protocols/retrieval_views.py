"""What a person sees of the retrieval protocol: its paper table, its console lines and its report
section (query and top-5 examples, leakage, subjects missing from the gallery)."""

from __future__ import annotations

from idbench.protocols.retrieval import RetrievalSection
from idbench.stats.ranking import metric_rankings
from idbench.views.format import DASH, fmt_ci, fmt_num
from idbench.views.rows import FLAGS_NOTE, content_flags, retrieval_rows
from idbench.views.table import base_notes, format_table_within, method_rows, metric_headers, sentence


def tables(res) -> list[dict]:
    return [retrieval_table(res)] if RetrievalSection.of(res) is not None else []


def retrieval_table(res) -> dict:
    """The retrieval table: mAP per level with intervals, gen / real at the finest level, the real
    references' row and each method's exact chance level."""
    r = RetrievalSection.of(res)
    levels = r.levels
    enc = r.encoder
    cols = [f"ap:{lv}[{enc}]" for lv in levels]
    flags = content_flags(res.sections)
    show_flags = any(flags.values())
    ranks = metric_rankings(res, cols)
    rows, bold, first = method_rows(res, cols, ranks, flags, show_flags)
    finest = levels[-1] if levels else None
    header = ["method", "subj. / img.", *(["flags"] if show_flags else []), *metric_headers(cols)]
    rel = r.relative
    if r.real:
        header.append(f"gen / real ({finest})")
        for row, m in zip(rows, res.methods):
            row.append(fmt_ci(rel.get(m, {}).get(finest), 2) if m in rel else DASH)
    rules = [len(rows)]
    pad = [""] * (first - 1)
    if r.real:
        real = r.real
        rows.append(["real references", *pad[:1], *pad[1:],
                     *[fmt_num(real.get(lv, {}).get("ap")) for lv in levels], "1.00"])
    chance = r.chance
    per_method = {m: tuple(round(chance[m].get(lv, {}).get("ap") or 0.0, 3) for lv in levels) for m in chance}
    extra = [""] if r.real else []
    if per_method and len(set(per_method.values())) == 1:
        rows.append(["chance", *pad, *[fmt_num(v) for v in next(iter(per_method.values()))], *extra])
    else:
        for m, vals in per_method.items():
            rows.append([f"chance ({m})", *pad, *[fmt_num(v) for v in vals], *extra])
    notes = base_notes(res, ranks, cols)
    notes.append(f"Gallery of {r.gallery_size} images; chance: the exact expected AP of a random ranking of "
                 "this gallery for each method's queries; real references: the references as queries (the upper bound)")
    if not r.real:
        notes.append("No references were given: there is no real-image upper bound")
    if show_flags:
        notes.append(FLAGS_NOTE)
    return {"title": f"Retrieval ({enc})", "key": "retrieval", "header": header, "rows": rows, "bold": bold,
            "rules": rules, "notes": [sentence(n) for n in notes]}


def console(res) -> list[str]:
    """Per level: the real references' row and each method's mAP, R@1, R@5, chance and gen / real."""
    section = RetrievalSection.of(res)
    if section is None:
        return []
    rows = [["(real references)" if x["real"] else x["who"], x["level"], str(x["n_subjects"]), str(x["n_images"]),
             x["map"], x["r1"], x["r5"], x["chance"], x["relative"]] for x in retrieval_rows(section)]
    out = [format_table_within(["queries", "level", "subjects", "images", "mAP", "R@1", "R@5", "chance mAP",
                                "gen/real mAP [95% CI]"], rows, keep=2)]
    if not section.real:
        out.append(f"gen/real mAP: {DASH} because no references were given (--refs): there is no real-image upper bound")
    out.append("chance mAP: exact expected AP of a random ranking of this gallery for these queries")
    leak = section.leakage
    if leak.gallery_copies_of_references:
        out.append(f"{leak.gallery_copies_of_references} gallery image(s) copy a reference (bytes or near-copy): "
                   f"{'removed from the gallery' if leak.policy == 'remove' else 'kept (--leaked keep)'}")
    return out


def report(res, results_dir) -> dict:
    """Up to 12 queries with their top 5 (thumbnails from the results folder), leakage, missing subjects."""
    from idbench.views.figures import thumb

    r = RetrievalSection.of(res)
    if r is None:
        return {}
    exs = [{"method": e.method, "subject": e.subject, "query_uri": thumb(results_dir, e.query_thumb),
            "reference_uri": thumb(results_dir, e.reference_thumb),
            "top": [{"label": t.label, "correct": t.correct, "sim": t.sim, "uri": thumb(results_dir, t.thumb)}
                    for t in e.top]}
           for e in r.examples[:12]]
    return {"examples": exs, "leakage": r.leakage, "not_in_gallery": r.subjects_not_in_gallery}
