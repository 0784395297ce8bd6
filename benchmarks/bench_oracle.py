"""RCA's cross-fitted oracle: seconds to fit, and how close a faster fit's answers are.

    .venv/bin/python benchmarks/bench_oracle.py                          # 4,000 x 1,280, 200 subjects in 20 classes
    .venv/bin/python benchmarks/bench_oracle.py --images 16000 --subjects 800

Synthetic L2-normalised embeddings shaped like a gallery: a class centre, a subject offset within
its class and per-photo noise, so that the subject level is harder than the class level, as on
real photos. Both levels are fitted the way the RCA protocol fits them (folds stratified on
subjects, 5 folds x 3 repeats), in one process:

* ``sklearn``: every probe fitted by scikit-learn's ``LogisticRegression(C=10, max_iter=2000)``
  (lbfgs, float64: idbench before this change);
* ``probe``: :func:`idbench.metrics.rca.fit_oracle` with 3 repeats (:func:`~idbench.metrics.rca.fit_probe`:
  the same objective and tolerance, L-BFGS in float32 with torch, in the row space of X when there
  are fewer images than dimensions): the probe's own speed-up;
* ``idbench``: as it runs now, with its default 2 repeats (10 probes per level instead of 15);
* ``1 repeat``: the same with ``repeats=1`` (5 probes).

``--study DIR`` (a study ``benchmarks/bench_scale.py`` built and ran once, so that its embedding
cache holds every image) fits the oracle on that study's gallery as the RCA protocol would (its
effnet-lite0 embeddings, classes and subjects: the issue's 3,000 x 20,000 case, about 16,000 training
images per fold), its first method's generations as the "generations".

Prints seconds per level and their ratios, L-BFGS iterations, and the differences between the two
fits: Acc_real, the share of held-out real images any probe predicts differently, and Acc_gen on a
second set of "generations" (fresh photos of the same subjects).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def world(n: int, n_subjects: int, n_classes: int, dim: int, seed: int, noise: float = 3.0):
    rng = np.random.default_rng(seed)
    classes = rng.normal(size=(n_classes, dim))
    subj_class = np.arange(n_subjects) % n_classes
    subjects = classes[subj_class] + 0.9 * rng.normal(size=(n_subjects, dim))

    def photos(m):
        s = rng.integers(0, n_subjects, m)
        X = subjects[s] + noise * rng.normal(size=(m, dim))
        return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), s

    X, s = photos(n)
    Xg, sg = photos(n // 4)
    return X, s, subj_class, Xg, sg


def study_world(work: str):
    """A bench_scale study's gallery and first method's generations, as the RCA protocol sees them:
    (X, subject codes, class code per subject, Xg, subject codes of Xg, subject names, class names)."""
    import csv
    from pathlib import Path

    from idbench.cache.store import EmbeddingCache
    from idbench.data.records import ImageRecord
    from idbench.embed import embed_records
    from idbench.encoders import create_encoder

    work = Path(work)
    with open(work / "gallery.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    gens = sorted((work / "gen").glob("method0/*/*.jpg"))
    subjects = sorted({r["subject"] for r in rows})
    code = {n: k for k, n in enumerate(subjects)}
    cls_of = {r["subject"]: r["class"] for r in rows}
    classes = sorted(set(cls_of.values()))
    enc = create_encoder("effnet-lite0").real()
    cache = EmbeddingCache(work / "cache")
    recs = [ImageRecord(f"l{i}", r["path"], r["subject"]) for i, r in enumerate(rows)]
    grecs = [ImageRecord(f"g{i}", p, p.parent.name) for i, p in enumerate(gens)]
    e = embed_records(enc, recs + grecs, cache=cache, progress=False)
    ok = [r for r in recs if r.id in e]
    gok = [r for r in grecs if r.id in e and r.subject in code]
    X = np.stack([e[r.id].vectors[0] for r in ok]).astype(np.float32)
    Xg = np.stack([e[r.id].vectors[0] for r in gok]).astype(np.float32)
    return (X, np.array([code[r.subject] for r in ok]), np.array([classes.index(cls_of[n]) for n in subjects]), Xg,
            np.array([code[r.subject] for r in gok]), np.array(subjects), np.array(classes))


def _sklearn_probe(X, y, C, seed):
    import warnings

    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():  # identity oracles always have few images per class
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        return LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(X, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4000)
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=3.0, help="per-photo noise (3: Acc_real about 0.7 at the subject level)")
    ap.add_argument("--study", help="a study folder bench_scale.py built and ran: fit on its gallery's embeddings")
    args = ap.parse_args()
    from idbench.metrics import rca

    if args.study:
        X, s, subj_class, Xg, sg, names, class_names = study_world(args.study)
    else:
        X, s, subj_class, Xg, sg = world(args.images, args.subjects, args.classes, args.dim, args.seed, args.noise)
        names = np.array([f"s{k}" for k in range(args.subjects)])
        class_names = np.array([f"c{c}" for c in range(args.classes)])
    print(f"{len(X)} real x {X.shape[1]}, {len(names)} subjects in {len(class_names)} classes; "
          f"{len(Xg)} generations; 5 folds per level")
    for level, y, yg in (("class", class_names[subj_class[s]], class_names[subj_class[sg]]),
                         ("subject", names[s], names[sg])):
        out = {}
        # scikit-learn with 3 repeats (idbench before this change); idbench's probe with 3 repeats (the
        # probe's own speed-up); idbench as it runs now (2 repeats, the default); 1 repeat
        for mode, probe, repeats in (("sklearn", _sklearn_probe, 3), ("probe", None, 3), ("idbench", None, None),
                                     ("1 repeat", None, 1)):
            kw = {} if repeats is None else {"repeats": repeats}
            t = time.perf_counter()
            o = rca.fit_oracle(X, y, seed=args.seed, strata=names[s], probe=probe, **kw)
            sec = time.perf_counter() - t
            res = rca.relative_classification_accuracy(o, Xg, yg, strata=names[sg])
            out[mode] = (sec, o, res)
        (ts, os_, rs), (tp, op, rp) = out["sklearn"], out["probe"]
        (ti, oi, ri), (t1, o1, r1) = out["idbench"], out["1 repeat"]
        differ = float(np.mean([(a.predict(X) != b.predict(X)).mean() for a, b in zip(os_.models, op.models)]))
        it = lambda o: sum(int(np.max(m.n_iter_)) for m in o.models)  # noqa: E731
        print(f"{level:8s} sklearn x3 {ts:6.1f} s ({it(os_)} it)  idbench probe x3 {tp:6.1f} s ({it(op)} it, {ts / tp:4.2f}x)  "
              f"idbench default ({len(oi.models) // oi.n_folds} repeats) {ti:6.1f} s ({ts / ti:4.2f}x)  "
              f"1 repeat {t1:6.1f} s ({ts / t1:4.2f}x)\n"
              f"         probe - sklearn (3 repeats each): Acc_real {op.acc_real - os_.acc_real:+.4f}  "
              f"Acc_gen {rp.acc_gen - rs.acc_gen:+.4f}  probe predictions that differ {differ:.3%}   "
              f"(Acc_real / Acc_gen: sklearn {os_.acc_real:.3f} / {rs.acc_gen:.3f}, default {oi.acc_real:.3f} / "
              f"{ri.acc_gen:.3f}, 1 repeat {o1.acc_real:.3f} / {r1.acc_gen:.3f})")

if __name__ == "__main__":
    main()
