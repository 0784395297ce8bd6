"""RCA and distribution metrics over records.

RCA per level: the oracle is fit on the real gallery images at that level; each generated image
gets ``top1:<level>[enc]`` (1 if the oracle names its conditioning identity) as a per-image
column, so its mean is Acc_gen with a cluster-bootstrap interval; RCA = Acc_gen / Acc_real, and
its interval is the Acc_gen interval divided by Acc_real (Acc_real treated as fixed, stated in
the section).
"""

from __future__ import annotations

import warnings

import numpy as np

from idbench.embed import embed_records
from idbench.metrics.distribution import frechet_distance, kernel_inception_distance
from idbench.metrics.rca import fit_oracle, relative_classification_accuracy, wilson_interval
from idbench.data.content import content_hashes
from idbench.protocols.common import (check_query_labels, embedding_matrix, flag_generation_copies,
                                      subject_labels)

_matrix = embedding_matrix


def rca_protocol(gallery, generations, encoder, *, levels, results, cache=None, problems=None, progress=True, seed=0,
                 references=None) -> dict:
    """RCA per level; adds ``top1:<level>[enc]`` per image and returns the ``rca`` section.

    Raises :class:`~idbench.protocols.common.UnknownLabelError` when a generation's label is not
    one of the oracle's classes (named, with the closest labels)."""
    problems = problems if problems is not None else results.problems
    labels_of = subject_labels(gallery, references)
    check_query_labels({"generation": generations.records}, labels_of,
                       {lv: {r.label(lv) for r in gallery} for lv in levels}, "the oracle's training labels")
    hashes = content_hashes(list(gallery.records) + list(generations.records))
    copies = flag_generation_copies(generations.records, {"gallery": gallery.records}, hashes, results, problems)
    emb_g = embed_records(encoder, gallery.records, cache=cache, problems=problems, progress=progress, desc="real (oracle)")
    emb_q = embed_records(encoder, generations.records, cache=cache, problems=problems, progress=progress, desc="generations")
    X, recs = embedding_matrix(emb_g, gallery.records)
    Q, qrecs = embedding_matrix(emb_q, generations.records)
    rows = results.row_index()
    section = {"encoder": encoder.name, "acc_real_from": "stratified k-fold cross-validation on the real gallery",
               "acc_real_interval": "Wilson score interval over the real images' held-out predictions",
               "rca_interval": "Acc_gen cluster-bootstrap interval over subjects / Acc_real (Acc_real fixed)",
               "chance": "uniform guess: 1/K for top-1 and min(5, K)/K for top-5, K = number of oracle classes",
               "copies": copies, "levels": {}}
    if len(recs) == 0 or len(qrecs) == 0:
        raise ValueError("no real or no generated image could be embedded")
    for lv in levels:
        y = [r.label(lv) for r in recs]
        try:
            oracle = fit_oracle(X, y, seed=seed)
        except ValueError as e:
            section["levels"][lv] = {"error": str(e)}
            problems.add(f"rca level {lv}", "rca_level", f"level not scored: {e}", "warning")
            continue
        yq = [labels_of[r.subject].get(lv, "") for r in qrecs]
        res = relative_classification_accuracy(oracle, Q, yq)
        name = f"top1:{lv}[{encoder.name}]"
        results.add_metric(name, f"oracle top-1 correct at level {lv} (mean = Acc_gen; RCA = Acc_gen / Acc_real)",
                           encoder=encoder.name, protocol="rca")
        for r, c in zip(qrecs, res.correct):
            rows[(r.method or "", r.id)][name] = float(c)
        K = len(oracle.classes)
        n_real = len(y)
        k_real = int(round(oracle.acc_real * n_real))
        per_method = {}
        for m in sorted({r.method or "" for r in qrecs}):
            idx = np.array([(r.method or "") == m for r in qrecs])
            sub = relative_classification_accuracy(oracle, Q[idx], np.asarray(yq)[idx])
            per_method[m] = {"acc_gen": sub.acc_gen, "acc_gen_top5": sub.acc_gen_top5, "rca": sub.rca,
                             "n_images": int(idx.sum()),
                             "n_subjects": len({r.subject for r, k in zip(qrecs, idx) if k}),
                             "most_confused": sub.most_confused(5),
                             "confusion": {"labels": sub.labels.tolist(), "matrix": sub.confusion.tolist()}}
        section["levels"][lv] = {"acc_real": oracle.acc_real, "acc_real_ci": list(wilson_interval(k_real, n_real)),
                                 "n_real_images": n_real, "n_folds": oracle.n_folds, "n_classes": K,
                                 "chance_top1": 1.0 / K, "chance_top5": min(5, K) / K, "metric": name,
                                 "methods": per_method}
    results.sections["rca"] = section
    results.after_summary.append(attach_rca_intervals)
    return section


def attach_rca_intervals(results) -> None:
    """After :meth:`Results.summarise`: copy each method's Acc_gen interval into the RCA section and
    derive the RCA interval from it (Acc_real fixed)."""
    sec = results.sections.get("rca")
    if not sec:
        return
    for lv, v in sec.get("levels", {}).items():
        name = v.get("metric")
        if not name:
            continue
        for m, r in v.get("methods", {}).items():
            e = results.methods.get(m, {}).get(name)
            if not e or e.get("ci_low") is None:
                continue
            r["acc_gen_ci"] = [e["ci_low"], e["ci_high"]]
            ar = v["acc_real"]
            r["rca_ci"] = [e["ci_low"] / ar, e["ci_high"] / ar] if ar > 0 else None


def distribution_protocol(real_records, generations, encoder, *, results, cache=None, problems=None, progress=True, seed=0):
    emb_r = embed_records(encoder, real_records, cache=cache, problems=problems, progress=progress, desc="real (FID)")
    emb_q = embed_records(encoder, generations.records, cache=cache, problems=problems, progress=progress, desc="generations")
    R, _ = embedding_matrix(emb_r, real_records)
    out = {"encoder": encoder.name, "real_images": len(R), "methods": {}, "warnings": []}
    for m, recs in generations.by_method().items():
        G, _ = embedding_matrix(emb_q, recs)
        if len(G) < 2:
            continue
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fid = frechet_distance(G, R)
        kid = kernel_inception_distance(G, R, subset_size=1000, n_subsets=50, seed=seed)
        out["methods"][m] = {"fid": fid, "kid": kid.mean, "kid_std": kid.std, "kid_subset_size": kid.subset_size,
                             "n": len(G)}
        out["warnings"] += sorted({str(x.message) for x in w} - set(out["warnings"]))
    results.sections["distribution"] = out
    return out


def demo_step(*, gallery, full_gallery, refs, gens, encoder, cache, results, problems, progress, seed, **_):
    rca_protocol(gallery, gens, encoder, levels=list(gallery.levels), results=results, cache=cache, problems=problems,
                 progress=progress, seed=seed, references=refs)
    distribution_protocol(gallery.records, gens, encoder, results=results, cache=cache, problems=problems,
                          progress=progress, seed=seed)
