"""--backend ray: Ray Data fills the same cache, on a local cluster (ray.init(num_cpus=2)), and the
embeddings equal the in-process backend's."""

import shutil

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from idbench.cache.store import EmbeddingCache  # noqa: E402
from idbench.data.records import ImageRecord  # noqa: E402
from idbench.embed import embed_records  # noqa: E402
from idbench.encoders import create_encoder  # noqa: E402
from tests.conftest import DREAMBOOTH  # noqa: E402


@pytest.fixture(scope="module")
def local_cluster():
    ray.init(num_cpus=2, object_store_memory=128 * 1024 * 1024, include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True)
    yield
    ray.shutdown()


def test_ray_prefill_equals_in_process(local_cluster, tmp_path, dreambooth_rows):
    from idbench.scale import prefill_cache_ray

    recs = [ImageRecord(f"r{i}", DREAMBOOTH / r["path"], r["subject"]) for i, r in enumerate(dreambooth_rows[:20])]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    recs.append(ImageRecord("bad", bad, "x"))
    enc = create_encoder("effnet-lite0")
    ray_cache = EmbeddingCache(tmp_path / "ray_cache")
    from idbench.data.problems import ProblemLog

    log = ProblemLog()
    stats = prefill_cache_ray("effnet-lite0", recs, ray_cache, encoder_cache_id=enc.cache_id, problems=log, batch_size=8)
    assert stats["encoded"] == 20 and stats["failed"] == 1 and log.items[0].path == str(bad.resolve())
    again = prefill_cache_ray("effnet-lite0", recs, ray_cache, encoder_cache_id=enc.cache_id, batch_size=8)
    assert again["encoded"] == 0 and again["cached"] == 20  # a re-run sends nothing to the cluster
    from_ray = embed_records(enc, recs[:20], cache=ray_cache, progress=False)
    local = embed_records(create_encoder("effnet-lite0", cached=False), recs[:20], cache=None, progress=False, batch_size=8)
    for r in recs[:20]:
        np.testing.assert_allclose(from_ray[r.id].vectors, local[r.id].vectors, rtol=0, atol=1e-6)


def test_run_with_ray_backend_fills_the_cache_then_runs(local_cluster, tmp_path, dreambooth_rows):
    import json

    from click.testing import CliRunner

    from idbench.cli.main import cli

    for s in ("can", "clock"):
        rows = [r for r in dreambooth_rows if r["subject"] == s]
        (tmp_path / "refs" / s).mkdir(parents=True)
        (tmp_path / "gen" / "m" / s).mkdir(parents=True)
        shutil.copy(DREAMBOOTH / rows[0]["path"], tmp_path / "refs" / s / "0.jpg")
        shutil.copy(DREAMBOOTH / rows[1]["path"], tmp_path / "gen" / "m" / s / "0.jpg")
    r = CliRunner().invoke(cli, ["run", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "--backend", "ray",
                                 "-o", str(tmp_path / "o"), "-q", "--bootstrap", "200", "--no-report",
                                 "--cache-dir", str(tmp_path / "c")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["sections"]["study"]["ray"]["effnet-lite0"]["encoded"] == 4
    assert "cos[effnet-lite0]" in s["methods"]["m"]
