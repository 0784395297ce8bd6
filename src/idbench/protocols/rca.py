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
from idbench.metrics.rca import fit_oracle, relative_classification_accuracy
from idbench.protocols.rank import _matrix, subject_labels


def rca_protocol(gallery, generations, encoder, *, levels, results, cache=None, problems=None, progress=True, seed=0,
                 references=None) -> dict:
    emb_g = embed_records(encoder, gallery.records, cache=cache, problems=problems, progress=progress, desc="real (oracle)")
    emb_q = embed_records(encoder, generations.records, cache=cache, problems=problems, progress=progress, desc="generations")
    X, recs = _matrix(emb_g, gallery.records)
    labels_of = subject_labels(gallery, references)
    known = [g for g in generations if g.subject in labels_of]
    Q, qrecs = _matrix(emb_q, known)
    rows = results.row_index()
    section = {"encoder": encoder.name, "acc_real_from": "stratified k-fold cross-validation on the real gallery",
               "rca_interval": "Acc_gen interval / Acc_real (Acc_real fixed)", "levels": {}}
    for lv in levels:
        y = [r.label(lv) for r in recs]
        try:
            oracle = fit_oracle(X, y, seed=seed)
        except ValueError as e:
            section["levels"][lv] = {"error": str(e)}
            continue
        yq = [labels_of[r.subject].get(lv, "") for r in qrecs]
        res = relative_classification_accuracy(oracle, Q, yq)
        name = f"top1:{lv}[{encoder.name}]"
        results.add_metric(name, f"oracle top-1 correct at level {lv} (mean = Acc_gen; RCA = Acc_gen / Acc_real)",
                           encoder=encoder.name, protocol="rca")
        for r, c in zip(qrecs, res.correct):
            rows[(r.method or "", r.id)][name] = float(c)
        per_method = {}
        for m in sorted({r.method or "" for r in qrecs}):
            idx = np.array([(r.method or "") == m for r in qrecs])
            sub = relative_classification_accuracy(oracle, Q[idx], np.asarray(yq)[idx])
            per_method[m] = {"acc_gen": sub.acc_gen, "acc_gen_top5": sub.acc_gen_top5, "rca": sub.rca,
                             "most_confused": sub.most_confused(5),
                             "confusion": {"labels": sub.labels.tolist(), "matrix": sub.confusion.tolist()}}
        section["levels"][lv] = {"acc_real": oracle.acc_real, "n_folds": oracle.n_folds, "n_classes": len(oracle.classes),
                                 "methods": per_method}
    results.sections["rca"] = section
    return section


def distribution_protocol(real_records, generations, encoder, *, results, cache=None, problems=None, progress=True, seed=0):
    emb_r = embed_records(encoder, real_records, cache=cache, problems=problems, progress=progress, desc="real (FID)")
    emb_q = embed_records(encoder, generations.records, cache=cache, problems=problems, progress=progress, desc="generations")
    R, _ = _matrix(emb_r, real_records)
    out = {"encoder": encoder.name, "real_images": len(R), "methods": {}, "warnings": []}
    for m, recs in generations.by_method().items():
        G, _ = _matrix(emb_q, recs)
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
