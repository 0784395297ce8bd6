"""Ray backend overhead on one machine: embedding N distinct image files with effnet-lite0
in-process vs through a local Ray cluster (ray.init(num_cpus=2): one encoder actor, one CPU left
for reads), both into an empty cache, in one process.

    .venv/bin/python benchmarks/bench_ray.py [--n 222]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _photos import distinct_photos  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=222)
    args = ap.parse_args()
    import ray

    from idbench.cache.store import EmbeddingCache
    from idbench.data.records import ImageRecord
    from idbench.embed import embed_records
    from idbench.encoders import create_encoder
    from idbench.scale import prefill_cache_ray

    with tempfile.TemporaryDirectory() as tmp:
        recs = [ImageRecord(str(i), p, "s") for i, p in enumerate(distinct_photos(args.n, Path(tmp) / ""))]
        enc = create_encoder("effnet-lite0")
        embed_records(enc, recs[:2], progress=False)  # model loaded and exported before timing
        t = time.perf_counter()
        embed_records(enc, recs, cache=EmbeddingCache(Path(tmp) / "a"), progress=False)
        local = time.perf_counter() - t
        t = time.perf_counter()
        ray.init(num_cpus=2, object_store_memory=256 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
        t_init = time.perf_counter() - t
        t = time.perf_counter()
        prefill_cache_ray("effnet-lite0", recs, EmbeddingCache(Path(tmp) / "b"), encoder_cache_id=enc.cache_id)
        remote = time.perf_counter() - t
        ray.shutdown()
    print(f"{args.n} images: in-process {local:.1f} s; local Ray cluster {remote:.1f} s (+ {t_init:.1f} s ray.init), "
          f"ratio {remote / local:.2f}x ({(remote + t_init) / local:.2f}x with start-up)")


if __name__ == "__main__":
    main()
