"""Relative Classification Accuracy over records.

RCA per level: the oracle is fit on the real gallery images at that level; each generated image
gets ``top1:<level>[enc]`` (1 if the oracle names its conditioning identity) as a per-image
column, so its mean is Acc_gen with a cluster-bootstrap interval; RCA = Acc_gen / Acc_real, and
its interval is the Acc_gen interval divided by Acc_real (Acc_real treated as fixed, stated in
the section).
"""

from __future__ import annotations

import numpy as np

from idbench.data.content import content_hashes
from idbench.embed import embed_records
from idbench.metrics.rca import Oracle, fit_oracle, relative_classification_accuracy, wilson_interval
from idbench.protocols.common import check_query_labels, embedding_matrix, flag_generation_copies, subject_labels


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
               "chance": "uniform guess: 1/K for top-1 and min(5, K)/K for top-5, K = number of oracle classes; "
                         "chance_majority: the share of the method's images in its most frequent class (the best "
                         "constant guess when classes are unbalanced)",
               "copies": copies, "levels": {}}
    if len(recs) == 0 or len(qrecs) == 0:
        raise ValueError("no real or no generated image could be embedded")
    for lv in levels:
        y_all = np.array([r.label(lv) for r in recs], dtype=object)
        labels, counts = np.unique(y_all.astype(str), return_counts=True)
        thin = {str(lab) for lab, c in zip(labels, counts) if c < 2}
        keep = np.array([str(v) not in thin for v in y_all], bool)
        X_lv, y = X[keep], y_all[keep].tolist()
        q_keep = [labels_of[r.subject].get(lv, "") not in thin for r in qrecs]
        if thin:
            problems.add(f"rca level {lv}", "rca_thin_identity",
                         f"{len(thin)} identit{'y' if len(thin) == 1 else 'ies'} with a single real image left out of the "
                         f"oracle (a held-out accuracy needs 2): {', '.join(sorted(thin)[:8])}"
                         f"{', ...' if len(thin) > 8 else ''}; their {len(q_keep) - sum(q_keep)} generated image(s) are "
                         "not scored at this level", "warning")
        try:
            oracle = _oracle(X_lv, y, seed, cache)
        except ValueError as e:
            section["levels"][lv] = {"error": str(e)}
            problems.add(f"rca level {lv}", "rca_level", f"level not scored: {e}", "warning")
            continue
        qsel = [r for r, k in zip(qrecs, q_keep) if k]
        Qsel = Q[np.array(q_keep, bool)]
        if not qsel:
            section["levels"][lv] = {"error": "no generated image of an identity the oracle knows"}
            continue
        yq = [labels_of[r.subject].get(lv, "") for r in qsel]
        res = relative_classification_accuracy(oracle, Qsel, yq)
        name = f"top1:{lv}[{encoder.name}]"
        results.add_metric(name, f"oracle top-1 correct at level {lv} (mean = Acc_gen; RCA = Acc_gen / Acc_real)",
                           encoder=encoder.name, protocol="rca")
        for r, c in zip(qsel, res.correct):
            rows[(r.method or "", r.id)][name] = float(c)
        K = len(oracle.classes)
        n_real = len(y)
        k_real = int(round(oracle.acc_real * n_real))
        per_method = {}
        for m in sorted({r.method or "" for r in qsel}):
            idx = np.array([(r.method or "") == m for r in qsel])
            sub = relative_classification_accuracy(oracle, Qsel[idx], np.asarray(yq)[idx])
            _, counts = np.unique(np.asarray(yq)[idx], return_counts=True)
            per_method[m] = {"acc_gen": sub.acc_gen, "acc_gen_top5": sub.acc_gen_top5, "rca": sub.rca,
                             "n_images": int(idx.sum()), "chance_majority": float(counts.max() / counts.sum()),
                             "n_subjects": len({r.subject for r, k in zip(qsel, idx) if k}),
                             "most_confused": sub.most_confused(5),
                             "confusion": {"labels": sub.labels.tolist(), "matrix": sub.confusion.tolist()}}
        section["levels"][lv] = {"acc_real": oracle.acc_real, "acc_real_ci": list(wilson_interval(k_real, n_real)),
                                 "n_real_images": n_real, "n_folds": oracle.n_folds, "n_classes": K,
                                 "chance_top1": 1.0 / K, "chance_top5": min(5, K) / K, "metric": name,
                                 "identities_left_out": sorted(thin),
                                 "methods": per_method}
    results.sections["rca"] = section
    results.after_summary.append(attach_rca_intervals)
    return section


def _oracle(X, y, seed: int, cache):
    """The oracle for these training embeddings and labels, fitted once and then read from the
    results cache (keyed by the embeddings' bytes, the labels, C, the folds' seed and sklearn's version)."""
    import sklearn

    from idbench.cache.results import cached_arrays
    from idbench.cache.store import default_cache_dir

    root = default_cache_dir() if cache is not None else None
    d = cached_arrays("rca-oracle", ["oracle-v1", sklearn.__version__, np.asarray(X, np.float32),
                                     np.asarray(y).astype(str), 10.0, seed],
                      lambda: fit_oracle(X, y, seed=seed).to_arrays(), root=root)
    return Oracle.from_arrays(d)


def attach_rca_intervals(results) -> None:
    """After :meth:`Results.summarise`: copy each method's Acc_gen interval into the RCA section and
    derive the RCA interval from it (Acc_real fixed)."""
    sec = results.sections.get("rca")
    if not sec:
        return
    for v in sec.get("levels", {}).values():
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


def _run(data, ctx) -> None:
    levels = ctx.opt("rca", "levels") or list(data.gallery.levels)
    rca_protocol(data.gallery, data.generations, ctx.image_encoder, levels=levels, results=ctx.results, cache=ctx.cache,
                 problems=ctx.problems, progress=ctx.progress, seed=ctx.seed, references=data.references)


from idbench.options import Option  # noqa: E402
from idbench.protocols.registry import Protocol  # noqa: E402

OPTIONS = (Option("levels", "list", None, "gallery label levels the oracle names (default: every level)"),)

PROTOCOL = Protocol("rca", ("gallery", "generations"), _run,
                    "Relative Classification Accuracy: an oracle trained on the labelled gallery names the identity "
                    "of each generated image", options=OPTIONS, order=30, needs_image_encoder=True)
