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
    s = json.loads((tmp_path / "ev/summary.json").read_text())["sections"]["nearid"]
    assert s["n_samples"] == 16 and s["n_margins"] == 16 * 6 and s["n_incomplete"] == 0
    assert 0 <= s["ssr"] <= 1 and 0 <= s["pa"] <= 1
    r = CliRunner().invoke(cli, ["nearid", "train", "--world", str(tmp_path / "w"), "-e", "test-color", "-q",
                                 "-o", str(tmp_path / "head"), "--epochs", "3"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "head/config.json").read_text())
    assert cfg["backbone"] == "test-color" and cfg["training"]["identities"]["test"] >= 2
    from PIL import Image

    from idbench.encoders import create_encoder

    enc = create_encoder(f"nearid:{tmp_path / 'head'}")
    e = enc.embed_images([Image.new("RGB", (32, 32), (200, 30, 30))])
    assert e.shape == (1, cfg["out_dim"]) and np.isclose(np.linalg.norm(e), 1, atol=1e-5)


def test_needs_exactly_one_source(tmp_path):
    r = CliRunner().invoke(cli, ["nearid", "eval", "-e", "test-color"])
    assert r.exit_code != 0 and "exactly one of --samples" in r.output


def test_parts_command(tmp_path):
    import csv

    from PIL import Image

    rng = np.random.default_rng(0)
    rows = [["sample_id", "view1", "view2", "view1_edited", "view2_edited", "part_mask1", "object_mask1", "part_mask2", "object_mask2"]]
    obj = np.zeros((32, 32), np.uint8); obj[4:28, 4:28] = 255
    Image.fromarray(obj).save(tmp_path / "obj.png")
    for i in range(5):
        base = rng.integers(0, 255, 3)
        for name, shift in (("v1", 0), ("v2", 10), ("e1", 60 + 20 * i), ("e2", 50 + 20 * i)):
            Image.new("RGB", (32, 32), tuple(int(x) for x in np.clip(base + shift, 0, 255))).save(tmp_path / f"{i}{name}.png")
        part = np.zeros((32, 32), np.uint8); part[4:8 + 3 * i, 4:28] = 255
        Image.fromarray(part).save(tmp_path / f"{i}part.png")
        rows.append([f"s{i}", f"{i}v1.png", f"{i}v2.png", f"{i}e1.png", f"{i}e2.png", f"{i}part.png", "obj.png", f"{i}part.png", "obj.png"])
    with open(tmp_path / "parts.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    r = CliRunner().invoke(cli, ["nearid", "parts", "--samples", str(tmp_path / "parts.csv"), "-e", "test-color", "-q"])
    assert r.exit_code == 0, r.output
    assert "part-level: SSR" in r.output and "M-O" in r.output
