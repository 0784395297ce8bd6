"""What a person sees of Relative Classification Accuracy: its paper table, its console lines, its
report section (the oracle's confusion on the method with the lowest RCA) and its files: the
confusion matrices, ``rca_confusion_<level>_<method>.csv`` and ``.png`` (names made safe: a method
called ``sd/v1.5`` never writes outside the folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from idbench.protocols.rca import RCASection
from idbench.safe_names import safe_filename
from idbench.stats.ranking import metric_rankings
from idbench.views.format import DASH, fmt_interval, fmt_num
from idbench.views.rows import FLAGS_NOTE, content_flags, rca_rows
from idbench.views.table import format_table_within, sentence


def tables(res) -> list[dict]:
    return [rca_table(res)] if RCASection.of(res) is not None else []


def rca_table(res) -> dict:
    """The RCA table: RCA per level with intervals, then Acc_real, chance top-1 and the majority share."""
    sec = RCASection.of(res)
    ranks = metric_rankings(res, [v.metric for v in sec.levels.values() if v.metric])
    levels = sec.levels
    ok = [lv for lv, v in levels.items() if not v.error]
    flags = content_flags(res.sections)
    show_flags = any(flags.values())
    counts = res.method_counts()
    header = ["method", "subj. / img.", *(["flags"] if show_flags else []), *[f"RCA ({lv})" for lv in ok]]
    rows, bold = [], set()
    first = 3 if show_flags else 2
    for i, m in enumerate(res.methods):
        # the images RCA scored (every level scores the same generations), not every image of the method
        scored = [levels[lv].methods[m] for lv in ok if m in levels[lv].methods]
        n_subj, n_img = (max((e.n_subjects for e in scored), default=0),
                         max((e.n_images for e in scored), default=0)) if ok else counts.get(m, (0, 0))
        cells = [m, f"{n_subj} / {n_img}", *([flags.get(m, "")] if show_flags else [])]
        for j, lv in enumerate(ok):
            e = levels[lv].methods.get(m)
            if e is None:
                cells.append(DASH)
                continue
            cells.append(f"{fmt_num(e.rca, 2, why='Acc_real is 0')} "
                         f"{fmt_interval(*(e.rca_ci or [None, None]), digits=2)}".strip())
            rk = ranks.get(levels[lv].metric)
            if rk is not None and rk.best == m:
                bold.add((i, first + j))
        rows.append(cells)
    rules = [len(rows)]
    pad = [""] * (first - 1)
    rows.append(["Acc_real (held out)", *pad, *[f"{fmt_num(levels[lv].acc_real, 2)} "
                                                 f"{fmt_interval(*(levels[lv].acc_real_ci or [None, None]), digits=2)}"
                                                 for lv in ok]])
    rows.append(["chance top-1 (1/K)", *pad, *[fmt_num(levels[lv].chance_top1, 3) for lv in ok]])
    majority = {lv: max((e.chance_majority or 0.0 for e in levels[lv].methods.values()), default=None) for lv in ok}
    rows.append(["majority share (max over methods)", *pad, *[fmt_num(majority[lv], 3) for lv in ok]])
    notes = [f"RCA = Acc_gen / Acc_real of a cross-fitted oracle ({sec.encoder} probes, one per fold): 1 means "
             "as recognisable as real photos; the interval is Acc_gen's divided by Acc_real; subj. / img. are the "
             "images RCA scored"]
    weak = [lv for lv in ok if (levels[lv].acc_real or 0) < 0.8]
    for lv in weak:
        notes.append(f"Level {lv}: the probe recognises only {levels[lv].acc_real or 0:.0%} of held-out real photos, so RCA "
                     "above 1 means the generations are easier for a weak probe, not better than real photos; read "
                     "Acc_gen against the majority share and chance")
    notes += [f"Level {lv} not scored: {v.error}" for lv, v in levels.items() if v.error]
    if show_flags:
        notes.append(FLAGS_NOTE)
    return {"title": f"Relative Classification Accuracy ({sec.encoder})", "key": "rca", "header": header,
            "rows": rows, "bold": bold, "rules": rules, "notes": [sentence(n) for n in notes]}


def console(res) -> list[str]:
    section = RCASection.of(res)
    if section is None:
        return []
    out, rows = [], []
    for x in rca_rows(section, rca_digits=3):
        if x["error"]:
            out.append(f"RCA level {x['level']}: not scored: {x['error']}")
            continue
        rows.append([x["method"], x["level"], str(x["n_subjects"]), str(x["n_images"]), x["acc_real"], x["acc_gen"],
                     x["top5"], x["rca"], x["chance"]])
    if rows:
        out.insert(0, format_table_within(["method", "level", "subjects", "images", "Acc_real [95% CI]",
                                           "Acc_gen [95% CI]", "top-5", "RCA [95% CI]", "chance top-1"], rows, keep=2))
    return out


FIGURE_LABELS = 40  # identities a confusion figure shows at most (the CSV keeps them all)


def most_confused(labels: list[str], matrix, k: int = FIGURE_LABELS) -> tuple[list[str], np.ndarray, str]:
    """The part of a confusion matrix a figure can show: all of it up to ``k`` identities, else the
    ``k`` identities with the most confused images (off-diagonal counts in their row and column;
    ties: the earlier label), in their original order. Returns ``(labels, matrix, note)``, the note
    saying what was left out ("" when nothing was).

    >>> m = np.array([[5, 0, 0], [3, 1, 0], [0, 0, 2]])
    >>> most_confused(["a", "b", "c"], m, k=2)[0]
    ['a', 'b']
    """
    mat = np.asarray(matrix, np.int64).reshape(len(labels), len(labels))
    if len(labels) <= k:
        return list(labels), mat, ""
    off = mat - np.diag(np.diag(mat))
    keep = np.sort(np.argsort(-(off.sum(0) + off.sum(1)), kind="stable")[:k])
    return ([labels[i] for i in keep], mat[np.ix_(keep, keep)],
            f"the {k} of {len(labels)} identities with the most confused images (the CSV holds them all)")


def report(res, results_dir) -> dict:
    """The confusion matrix of the oracle on the method with the lowest RCA at the finest level scored."""
    from idbench.views.figures import heatmap

    sec = RCASection.of(res)
    levels = sec.levels if sec is not None else {}
    lv = next((k for k in reversed(list(levels)) if levels[k].methods), None)
    conf = []
    if lv:
        worst = min(levels[lv].methods.items(), key=lambda kv: _low(kv[1].rca), default=None)
        if worst:
            c = worst[1].confusion
            labels, mat, shown = most_confused(list(c.labels), c.matrix)
            conf.append({"title": f"{worst[0]} at level {lv} (lowest RCA)" + (f": {shown}" if shown else ""),
                         "alt": f"confusion matrix of the oracle on {worst[0]}'s generations at level {lv}: rows are "
                                "the true identity, columns the predicted one, cells count images",
                         "uri": heatmap(**confusion_heatmap(labels, mat, f"oracle on {worst[0]} ({lv})"))})
    return {"confusions": conf}


def _low(v: float | None) -> float:
    """An RCA to find the lowest by (a missing one is never the lowest)."""
    return float("inf") if v is None or v != v else v


def files(res, out_dir: str | Path, figures: bool = True) -> list[Path]:
    """The confusion matrices of the RCA section as CSV files, and as PNG figures when ``figures``
    (only with a report)."""
    from idbench.atomic import atomic_write_bytes
    from idbench.folder import csv_bytes

    rca_section = RCASection.of(res)
    if rca_section is None:
        return []
    out = Path(out_dir)
    written = []
    for level, v in rca_section.levels.items():
        for m, r in v.methods.items():
            stem = safe_filename(f"rca_confusion_{level}_{m}")
            atomic_write_bytes(out / f"{stem}.csv", csv_bytes(
                ["true \\ predicted", *r.confusion.labels],
                [[lab, *row] for lab, row in zip(r.confusion.labels, r.confusion.matrix)]))
            written.append(out / f"{stem}.csv")
            if figures:
                confusion_png(out / f"{stem}.png", r.confusion, f"{m}: confusion at level {level}")
                written.append(out / f"{stem}.png")
    return written


def confusion_png(path: Path, confusion, title: str) -> None:
    """The confusion matrix as a PNG figure (drawn once per content; the results cache keeps it)."""
    from idbench.atomic import atomic_write_bytes
    from idbench.cache.results import cached_png
    from idbench.cache.store import default_cache_dir

    key = ["confusion-v3", list(map(str, confusion.labels)), np.asarray(confusion.matrix, np.int64), title]
    atomic_write_bytes(path, cached_png(key, lambda: _draw_confusion(confusion, title), root=default_cache_dir()))


def _draw_confusion(confusion, title: str) -> bytes:
    from idbench.views.figures import heatmap_png

    labels, mat, shown = most_confused(list(confusion.labels), confusion.matrix)
    return heatmap_png(**confusion_heatmap(labels, mat, f"{title}\n{shown}" if shown else title))


def confusion_heatmap(labels: list[str], mat: np.ndarray, title: str) -> dict:
    """The arguments of :func:`idbench.views.figures.heatmap` (or ``heatmap_png``) for a confusion
    matrix: counts on a stated scale from 0 to the largest cell, rows the true identity, columns the
    predicted one. The report's figure and the file's are drawn alike."""
    m = np.asarray(mat, np.float64)
    return {"matrix": m, "rows": labels, "cols": labels, "title": title, "fmt": "{:.0f}", "vmin": 0.0,
            "vmax": max(1.0, float(m.max(initial=0))), "scale": "images (count)", "xlabel": "predicted identity",
            "ylabel": "true identity", "integer": True}
