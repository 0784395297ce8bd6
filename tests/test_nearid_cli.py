"""`idbench nearid eval|train` on a tiny synthetic world, and the nearid:<dir> encoder."""

import json

import numpy as np
from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.world import WorldSpec, make_world


def test_world_samples_train_and_encoder(tmp_path):
    make_world(tmp_path / "w", WorldSpec(seed=3, categories=2, subclasses=2, instances=4, views=3, refs=1, size=96))
    r = CliRunner().invoke(cli, ["nearid", "eval", "--world", str(tmp_path / "w"), "-e", "test-color", "-q",
                                 "-o", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "ev/nearid.json").read_text())
    assert s["n_samples"] == 16 and s["n_margins"] == 16 * 6 and s["n_incomplete"] == 0
    assert 0 <= s["ssr"] <= 1 and 0 <= s["pa"] <= 1
    r = CliRunner().invoke(cli, ["nearid", "train", "--world", str(tmp_path / "w"), "-e", "test-color", "-q",
                                 "-o", str(tmp_path / "head"), "--epochs", "3"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "head/config.json").read_text())
    assert cfg["backbone"] == "test-color" and cfg["training"]["identities"]["test"] >= 2
    from idbench.encoders import create_encoder
    from PIL import Image

    enc = create_encoder(f"nearid:{tmp_path / 'head'}")
    e = enc.embed_images([Image.new("RGB", (32, 32), (200, 30, 30))])
    assert e.shape == (1, cfg["out_dim"]) and np.isclose(np.linalg.norm(e), 1, atol=1e-5)


def test_needs_exactly_one_source(tmp_path):
    r = CliRunner().invoke(cli, ["nearid", "eval", "-e", "test-color"])
    assert r.exit_code != 0 and "exactly one of --samples" in r.output
