"""Embedding beyond one process: Ray Data fills idbench's embedding cache, then every protocol runs
unchanged (each finds its embeddings in the cache).

``prefill_cache_ray(spec, records, cache)`` hashes the files on the driver, skips those already
cached, and sends the rest through ``ray.data`` ``map_batches`` over an actor pool: one encoder per
actor (built from its spec string, so any registered encoder works), ``num_gpus=1`` per actor when
the cluster has GPUs. Each finished batch is written to the cache as it arrives, so an
interrupted run keeps what it finished, as in-process runs do.

Small machines: actors that take every CPU starve Ray's read tasks, so at most ``cpus - 1`` actors
are started (at least one); a local cluster gets an explicit ``object_store_memory``.
Install with ``pip install 'idbench[ray]'``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from idbench.data.problems import ProblemLog
from idbench.data.records import ImageRecord


class EncoderActor:
    """A Ray actor: one encoder, images in (paths), embedding rows out (as bytes, with shapes)."""

    def __init__(self, spec: str, device: str | None, cache_root: str | None):
        from idbench.cache.store import set_cache_root
        from idbench.encoders import create_encoder

        if cache_root:
            set_cache_root(cache_root)  # exported models and the like stay under the run's cache folder
        enc = create_encoder(spec, device=device)
        self.enc = enc.real() if hasattr(enc, "real") else enc

    def __call__(self, batch: dict) -> dict:
        """The batch through :func:`idbench.embed.embed_records`, the one guarded embedding loop (an
        unreadable image, a wrong number of results, NaN or inf rows: named per image, the rest kept),
        with the same reduced-size decoding as a local run."""
        from idbench.embed import embed_records

        keys, paths = [str(k) for k in batch["key"]], [str(p) for p in batch["path"]]
        recs = [ImageRecord(k, Path(p), "ray") for k, p in zip(keys, paths)]
        log = ProblemLog()
        try:
            embs = embed_records(self.enc, recs, cache=None, problems=log, progress=False, batch_size=max(1, len(recs)),
                                 num_workers=1)
        except Exception as e:  # noqa: BLE001 - the batch's failure is named on each of its images
            embs, log = {}, ProblemLog()
            for p in paths:
                log.add(p, "encoder_error", f"{type(e).__name__}: {e}")
        by_path = {}
        for prob in log.items:
            by_path.setdefault(prob.path, f"{prob.kind}\t{prob.reason}")
        errors = {k: by_path.get(p, "encoder_error\tnot embedded") for k, p in zip(keys, paths) if k not in embs}
        out = {"key": [], "n": [], "dim": [], "vectors": [], "boxes": [], "scores": [], "error": []}
        for k in keys:
            e = embs.get(k)
            out["key"].append(k)
            out["error"].append(errors.get(k, ""))
            out["n"].append(e.n if e is not None else 0)
            out["dim"].append(int(e.vectors.shape[1]) if e is not None else 0)
            out["vectors"].append(np.ascontiguousarray(e.vectors, np.float32).tobytes() if e is not None else b"")
            out["boxes"].append(np.ascontiguousarray(e.boxes, np.float32).tobytes() if e is not None and e.boxes is not None else b"")
            out["scores"].append(np.ascontiguousarray(e.scores, np.float32).tobytes() if e is not None and e.scores is not None else b"")
        return {k: np.array(v, dtype=object) for k, v in out.items()}


def check_reachable(address: str, timeout: float = 60.0) -> None:
    """Fail within ``timeout`` seconds, with a message, when a cluster address ``host:port`` (or
    ``ray://host:port``) does not accept a connection (``ray.init`` itself would retry for ever)."""
    import socket

    if address in ("auto", "local"):
        return  # Ray's own words: find the running cluster / start one here
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or "/" in text or not host:
        raise ConnectionError(f"{address!r} is not a Ray cluster address: give host:port, ray://host:port or auto "
                              "(--ray-address, RAY_ADDRESS)")
    t0, err = time.monotonic(), None
    while time.monotonic() - t0 < timeout:
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=min(5.0, timeout)):
                return
        except OSError as e:
            err = e
            time.sleep(1.0)
    raise ConnectionError(f"cannot reach the Ray cluster at {address} within {timeout:.0f} s ({err}); check the "
                          "address (--ray-address, RAY_ADDRESS) and that the cluster is up")


def _ensure_ray(address: str | None, object_store_memory: int, timeout: float = 60.0):
    try:
        import ray
    except ImportError as e:
        raise ImportError(f"--backend ray needs Ray: pip install 'idbench[ray]' ({e})") from None
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        if address:
            check_reachable(address, timeout)
            try:
                ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError, OSError) as e:
                raise ConnectionError(f"cannot join the Ray cluster at {address}: {type(e).__name__}: "
                                      f"{str(e).splitlines()[0] if str(e) else ''}") from None
        else:
            ray.init(object_store_memory=object_store_memory, ignore_reinit_error=True, log_to_driver=False,
                     include_dashboard=False)
    return ray


def prefill_cache_ray(spec: str, records: Sequence[ImageRecord], cache, *, encoder_cache_id: str,
                      problems: ProblemLog | None = None, address: str | None = None, batch_size: int = 32,
                      num_actors: int | None = None, device: str | None = None,
                      object_store_memory: int = 256 * 1024 * 1024) -> dict:
    """Encode every record not yet in ``cache`` on a Ray cluster; returns counts."""
    from idbench.cache.store import default_cache_dir
    from idbench.data.content import content_hashes, content_key
    from idbench.encoders.base import ImageEmbedding

    problems = problems if problems is not None else ProblemLog()
    hashes = content_hashes(records)
    path_of: dict[str, str] = {}
    for r in records:
        h = hashes.get(content_key(r))
        if h is not None:
            path_of.setdefault(h, str(Path(r.path).resolve()))
    have = cache.get_many(encoder_cache_id, list(path_of))
    todo = [h for h in path_of if h not in have]
    stats = {"images": len(path_of), "cached": len(have), "encoded": 0, "failed": 0}
    if not todo:
        return stats
    ray = _ensure_ray(address, object_store_memory)
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
    n = num_actors or (max(1, gpus) if gpus else max(1, cpus - 1))
    ds = ray.data.from_items([{"key": h, "path": path_of[h]} for h in todo])
    out = ds.map_batches(EncoderActor, fn_constructor_kwargs={"spec": spec, "device": device,
                                                              "cache_root": str(default_cache_dir())},
                         batch_size=batch_size, concurrency=n, num_gpus=1 if gpus else 0, num_cpus=1,
                         batch_format="numpy")
    for batch in out.iter_batches(batch_size=batch_size, batch_format="numpy"):
        new = {}
        for i, key in enumerate(batch["key"]):
            err = str(batch["error"][i])
            if err:
                kind, _, reason = err.partition("\t")
                problems.add(path_of[str(key)], kind, reason)
                stats["failed"] += 1
                continue
            nrow, dim = int(batch["n"][i]), int(batch["dim"][i])
            vec = np.frombuffer(batch["vectors"][i], np.float32).reshape(nrow, dim) if nrow else np.zeros((0, dim or 1), np.float32)
            boxes = np.frombuffer(batch["boxes"][i], np.float32).reshape(nrow, 4) if len(batch["boxes"][i]) else None
            scores = np.frombuffer(batch["scores"][i], np.float32).copy() if len(batch["scores"][i]) else None
            new[str(key)] = ImageEmbedding(vec.copy(), None if boxes is None else boxes.copy(), scores)
        if new:
            cache.put_many(encoder_cache_id, new)
            stats["encoded"] += len(new)
    return stats
