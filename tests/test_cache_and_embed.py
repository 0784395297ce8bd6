import multiprocessing as mp
import sqlite3

import numpy as np
import pytest
from PIL import Image

from idbench.cache.store import EmbeddingCache
from idbench.data.problems import ProblemLog
from idbench.data.records import ImageRecord
from idbench.embed import embed_records, stack_single
from idbench.encoders.base import ImageEmbedding
from tests.conftest import DREAMBOOTH, ColorHistEncoder


def _records(rows, n=None):
    rows = rows[:n] if n else rows
    return [ImageRecord(id=r["path"], path=DREAMBOOTH / r["path"], subject=r["subject"]) for r in rows]


def test_put_get_roundtrip_with_faces(tmp_path):
    c = EmbeddingCache(tmp_path)
    v = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    e = ImageEmbedding(v, boxes=np.arange(12, dtype=np.float32).reshape(3, 4), scores=np.array([1, 2, 3], np.float32))
    empty = ImageEmbedding(np.zeros((0, 8), np.float32), boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32))
    c.put_many("enc", {"h1": e, "h2": empty})
    got = EmbeddingCache(tmp_path).get_many("enc", ["h1", "h2", "h3"])
    assert set(got) == {"h1", "h2"}
    assert np.array_equal(got["h1"].vectors, v) and np.array_equal(got["h1"].boxes, e.boxes)
    assert np.array_equal(got["h1"].scores, e.scores)
    assert got["h2"].n == 0
    assert c.get_many("other-encoder", ["h1"]) == {}


def test_second_run_encodes_nothing(tmp_path, dreambooth_rows):
    recs = _records(dreambooth_rows, 20)
    cache = EmbeddingCache(tmp_path)
    enc = ColorHistEncoder()
    first = embed_records(enc, recs, cache=cache, batch_size=8, progress=False)
    assert enc.n_embedded == 20 and len(first) == 20
    enc2 = ColorHistEncoder()
    second = embed_records(enc2, recs, cache=EmbeddingCache(tmp_path), batch_size=8, progress=False)
    assert enc2.n_embedded == 0
    ids = [r.id for r in recs]
    assert np.array_equal(stack_single(first, ids), stack_single(second, ids))


def test_embeddings_match_direct_call_and_are_normalised(dreambooth_rows):
    from idbench.data.images import load_image

    recs = _records(dreambooth_rows, 5)
    enc = ColorHistEncoder()
    got = stack_single(embed_records(enc, recs, progress=False, batch_size=2), [r.id for r in recs])
    direct = enc.embed_images([load_image(r.path) for r in recs])
    assert np.allclose(got, direct)
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_identical_files_encoded_once(tmp_path):
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes())
    recs = [ImageRecord("a", tmp_path / "a.png", "s"), ImageRecord("b", tmp_path / "b.png", "s")]
    enc = ColorHistEncoder()
    out = embed_records(enc, recs, progress=False)
    assert set(out) == {"a", "b"} and enc.n_embedded == 1


def test_interrupted_run_keeps_finished_batches(tmp_path, dreambooth_rows):
    recs = _records(dreambooth_rows, 24)
    enc = ColorHistEncoder(fail_on_call=3)  # batches 1 and 2 finish, batch 3 is interrupted
    with pytest.raises(KeyboardInterrupt):
        embed_records(enc, recs, cache=EmbeddingCache(tmp_path), batch_size=8, progress=False)
    resumed = ColorHistEncoder()
    out = embed_records(resumed, recs, cache=EmbeddingCache(tmp_path), batch_size=8, progress=False)
    assert len(out) == 24 and resumed.n_embedded == 8


def test_bad_images_are_named_and_skipped(tmp_path, dreambooth_rows):
    good = _records(dreambooth_rows, 3)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    bad = [ImageRecord("broken", tmp_path / "broken.jpg", "s"), ImageRecord("gone", tmp_path / "gone.png", "s")]
    log = ProblemLog()
    out = embed_records(ColorHistEncoder(), good + bad, problems=log, progress=False)
    assert set(out) == {r.id for r in good}
    assert {p.kind for p in log.items} == {"not_image", "missing_file"} or {p.kind for p in log.items} == {"corrupt", "missing_file"}
    assert any("broken.jpg" in p.path for p in log.items) and any("gone.png" in p.path for p in log.items)


def _writer(args):
    directory, worker = args
    cache = EmbeddingCache(directory)
    rng = np.random.default_rng(worker)
    for i in range(30):
        cache.put_many("enc", {f"w{worker}-{i}-{j}": ImageEmbedding(rng.standard_normal((1, 16)).astype(np.float32)) for j in range(5)})
    return worker


def test_concurrent_processes_do_not_corrupt(tmp_path):
    with mp.get_context("spawn").Pool(3) as pool:
        assert sorted(pool.map(_writer, [(str(tmp_path), w) for w in range(3)])) == [0, 1, 2]
    info = EmbeddingCache(tmp_path).info()
    assert info["entries"] == 3 * 30 * 5
    (ok,) = sqlite3.connect(tmp_path / "embeddings.sqlite").execute("PRAGMA integrity_check").fetchone()
    assert ok == "ok"


def test_cache_clear(tmp_path):
    c = EmbeddingCache(tmp_path)
    c.put_many("a", {"x": ImageEmbedding(np.ones((1, 2), np.float32))})
    c.put_many("b", {"x": ImageEmbedding(np.ones((1, 2), np.float32))})
    assert c.clear("a") == 1 and c.info()["by_encoder"] == {"b": 1}
    assert c.clear() == 1 and c.info()["entries"] == 0


def test_file_hashes_are_remembered_across_runs_and_a_changed_file_is_hashed_again(tmp_path, monkeypatch):
    import hashlib

    import idbench.data.images as images
    from idbench.cache.store import EmbeddingCache

    files = []
    for k in range(3):
        f = tmp_path / f"{k}.bin"
        f.write_bytes(bytes([k]) * 1000)
        files.append(f)
    EmbeddingCache(tmp_path / "cache")  # the store of this "run"
    first = {f: images.file_sha256(f) for f in files}
    images.save_hashes()
    assert first == {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}

    monkeypatch.setattr(images, "_HASHES", {})  # a new process: nothing in memory
    EmbeddingCache(tmp_path / "cache")
    reads = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, name: reads.append(f.name) or real(f, name))
    images.recall_hashes(files)
    assert {f: images.file_sha256(f) for f in files} == first and reads == []  # no file read again

    files[1].write_bytes(bytes([9]) * 1000)  # same size, new content
    images.recall_hashes(files)
    assert images.file_sha256(files[1]) == hashlib.sha256(bytes([9]) * 1000).hexdigest() and len(reads) == 1


def test_a_results_key_hashes_each_array_as_its_bytes_without_a_whole_copy():
    """The results cache's key: SHA-256 over, per part, ``array:<dtype>:<shape>:`` and the array's bytes
    (an object array as its fixed-width text array), or ``value:<repr>:``. Written here from that
    definition; the key streams large arrays (a 200,000-id object array is hashed 4,096 ids at a time)."""
    import hashlib

    from idbench.cache.results import content_key

    def by_definition(parts):
        h = hashlib.sha256()
        for p in parts:
            if isinstance(p, np.ndarray):
                a = np.ascontiguousarray(p).astype(str) if p.dtype == object else np.ascontiguousarray(p)
                h.update(f"array:{a.dtype.str}:{a.shape}:".encode())
                h.update(a.tobytes())
            else:
                h.update(f"value:{p!r}:".encode())
        return h.hexdigest()

    rng = np.random.default_rng(0)
    ids = np.array([f"{'é' * int(k % 7)}{k:x}" for k in rng.integers(0, 10**9, 9000)], dtype=object)
    for parts in ([ids], [ids.reshape(3, -1).T], [np.array([], dtype=object)], [np.array([1, None, 2.5], dtype=object)],
                  [np.arange(12.0).reshape(3, 4)[:, ::2]], [np.zeros((0, 3), np.float32)], [rng.random((5, 7)).T],
                  [np.array([[True, False]]), 3, "s", 0.5]):
        assert content_key(parts) == by_definition(parts)
    assert content_key([ids]) != content_key([ids[::-1]])


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_a_file_swapped_for_a_fifo_after_it_was_looked_at_is_refused_not_waited_on(tmp_path):
    import os

    from idbench.data import images

    p = tmp_path / "x.jpg"
    p.write_bytes(b"abc")
    key = images._stat_keys([p])[0]  # hash_files looked at a regular file ...
    p.unlink()
    os.mkfifo(p)  # ... which became a FIFO with no writer before it was read
    with pytest.raises(OSError, match="FIFO"):
        images._hash_and_remember(p, key)
    assert images.hash_files([p]) == [(None, "is a FIFO, not a regular file")]
