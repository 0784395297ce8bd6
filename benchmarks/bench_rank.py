"""Exact ranking against the similarity matmul it cannot avoid, and against per-row argsort.

    .venv/bin/python benchmarks/bench_rank.py                                  # 2,000 x 50,000 x 512
    .venv/bin/python benchmarks/bench_rank.py --queries 10000 --gallery 200000 # 10,000 x 200,000 x 512

Random L2-normalised embeddings around 1,000 identities. In one process, best of --repeat runs:

* matmul: the blocked query x gallery similarity products alone (the floor of any exact method);
* engine: idbench's retrieval_metrics (every query's AP, CMC, R-precision, ... over the whole gallery);
* levels: retrieval_metrics_levels at 1, 2 and 3 nested levels (identity; class of 10; group of 100),
  against the per-level matmuls, for the trained embeddings and for a near-random encoder;
* argsort: per-row numpy argsort of the same blocks and AP read off the sorted relevance, as
  torchreid's evaluate_rank does (run on --argsort-queries queries, extrapolated linearly).

Prints engine/matmul and argsort/engine, and the largest AP difference between the two exact
methods (float rounding of near-tied similarities only). Peak memory is ru_maxrss.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def argsort_ap(Q, ql, G, gl, block: int, k: int, ties: bool = False) -> np.ndarray:
    """AP of the first k queries by sorting each row whole (torchreid's ``np.argsort``). With
    ``ties``, equal scores are ordered as the engine's pessimistic rule orders them (the relevant
    item after the others: ``np.lexsort``), so the two must agree to rounding."""
    aps = np.zeros(k)
    Gt = torch.from_numpy(G)
    for s in range(0, k, block):
        S = (torch.from_numpy(Q[s:s + block]) @ Gt.T).numpy()[: k - s]
        for i in range(len(S)):
            rel = gl == ql[s + i]
            order = np.lexsort((rel, -S[i])) if ties else np.argsort(-S[i])
            matches = rel[order].astype(np.float64)
            n = matches.sum()
            if n:
                cum = np.cumsum(matches)
                aps[s + i] = ((cum / np.arange(1, len(G) + 1)) * matches).sum() / n
    return aps


def matmul_only(Q, G, block: int) -> None:
    Gt = torch.from_numpy(G)
    for s in range(0, len(Q), block):
        torch.from_numpy(Q[s:s + block]) @ Gt.T


def _noisy(Q, G, noise: float):
    """The same data seen by a near-random encoder: identity signal drowned in noise."""
    rng = np.random.default_rng(1)
    q = Q + noise * rng.standard_normal(Q.shape).astype(np.float32) / np.sqrt(Q.shape[1])
    g = G + noise * rng.standard_normal(G.shape).astype(np.float32) / np.sqrt(G.shape[1])
    return q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)


def best(f, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--gallery", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--ids", type=int, default=1000)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--argsort-queries", type=int, default=400)
    ap.add_argument("--noise", type=float, default=2.0, help="Spread around each identity (higher: harder, lower mAP).")
    ap.add_argument("--random-noise", type=float, default=30.0, help="Noise norm added for the near-random encoder.")
    args = ap.parse_args()
    from idbench.metrics.retrieval import retrieval_metrics

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.ids, args.dim)).astype(np.float32)
    gl = rng.integers(0, args.ids, args.gallery)
    ql = rng.integers(0, args.ids, args.queries)
    G = centres[gl] + args.noise * rng.standard_normal((args.gallery, args.dim)).astype(np.float32)
    Q = centres[ql] + args.noise * rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    print(f"{args.queries} queries x {args.gallery} gallery x {args.dim}-d, {args.ids} identities; "
          f"data resident {_rss_mb():.0f} MB; torch threads {torch.get_num_threads()}; best of {args.repeat}")
    t_mm = best(lambda: matmul_only(Q, G, args.block), args.repeat)
    print(f"  matmul only:   {t_mm:.2f} s")
    res = {}
    t_en = best(lambda: res.setdefault("r", retrieval_metrics(Q, ql, G, gl, block_size=args.block)), args.repeat)
    print(f"  idbench engine: {t_en:.2f} s  (engine / matmul = {t_en / t_mm:.2f}x), mAP {res['r'].mean('ap'):.4f}, "
          f"peak RSS {_rss_mb():.0f} MB")
    # 1, 2 and 3 nested levels as the protocol ranks them (coarsest first: 100 identities a group,
    # 10 a class, then the identity), all levels from one similarity product per block, against the
    # per-level matmuls a separate ranking of each level would need; then the same with a near-random
    # encoder (every gallery item a candidate at every level)
    from idbench.metrics.retrieval import retrieval_metrics_levels

    encoders = [("trained", Q, G), ("near-random", *_noisy(Q, G, args.random_noise))]
    for name, q, g in encoders:
        for n_levels in (1, 2, 3):
            lv = [(ql // 100, gl // 100), (ql // 10, gl // 10), (ql, gl)][3 - n_levels:]
            out = {}

            def run(q=q, g=g, lv=lv, out=out):
                out["r"] = retrieval_metrics_levels(q, [a for a, _ in lv], g, [b for _, b in lv], block_size=args.block)

            t = best(run, args.repeat)
            maps = ", ".join(f"{r.mean('ap'):.3f}" for r in out["r"])
            print(f"  {name:<11} {n_levels} level{'s' if n_levels > 1 else ' '}: {t:.2f} s = "
                  f"{t / (n_levels * t_mm):.2f}x the {n_levels} per-level matmul{'s' if n_levels > 1 else ''} "
                  f"(mAP {maps})")
    k = min(args.argsort_queries, args.queries)
    t_k = best(lambda: res.__setitem__("a", argsort_ap(Q, ql, G, gl, args.block, k)), 1)
    t_as = t_k * args.queries / k
    gap = float(np.abs(res["a"] - res["r"].per_query["ap"][:k]).max())
    exact = float(np.abs(argsort_ap(Q, ql, G, gl, args.block, k, ties=True) - res["r"].per_query["ap"][:k]).max())
    print(f"  per-row argsort (torchreid style): {t_k:.2f} s for {k} queries -> {t_as:.1f} s for all "
          f"(argsort / engine = {t_as / t_en:.1f}x); max |AP difference| {gap:.1e} (equal float32 scores "
          f"ordered at random), {exact:.1e} with the engine's tie rule")


if __name__ == "__main__":
    main()
