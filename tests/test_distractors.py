"""Distractor builder: B in A's exact background, masks from GrabCut or files."""

import csv

import cv2
import numpy as np
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.distractors import make_distractor, mask_provider


def _scene(seed, color, shape="circle"):
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 255, (3,)).astype(np.uint8)
    img = np.tile(np.linspace(0, 1, 96)[:, None, None] * bg, (1, 96, 1)).astype(np.uint8)
    img = np.clip(img + rng.integers(-8, 8, img.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((96, 96), np.uint8)
    if shape == "circle":
        cv2.circle(mask, (48, 50), 22, 255, -1)
    else:
        cv2.rectangle(mask, (30, 28), (66, 72), 255, -1)
    img[mask > 0] = color
    return img, mask


def test_outside_changed_region_is_exactly_a():
    a, am = _scene(0, (220, 30, 30))
    b, bm = _scene(1, (30, 30, 220), "rect")
    d = make_distractor(a, am, b, bm)
    out = d.changed == 0
    assert out.mean() > 0.5 and np.array_equal(d.image[out], a[out])
    # the subject region now shows B's colour, not A's
    inside = am > 0
    assert d.image[inside][:, 2].mean() > 150 and d.image[inside][:, 0].mean() < 120
    assert d.provenance["a_box"][0] <= d.provenance["placed_box"][0]


def test_grabcut_finds_central_object():
    a, am = _scene(2, (250, 250, 20))
    m = mask_provider("grabcut")(a, None)
    inter = ((m > 0) & (am > 0)).sum() / ((m > 0) | (am > 0)).sum()
    assert inter > 0.7


def test_cli_with_file_masks(tmp_path):
    rows = [["path", "subject", "class"]]
    (tmp_path / "m").mkdir()
    for s, (color, shape) in enumerate([((220, 30, 30), "circle"), ((30, 220, 30), "rect")]):
        for v in range(3):
            img, mask = _scene(10 * s + v, color, shape)
            Image.fromarray(img).save(tmp_path / f"s{s}_{v}.png")
            Image.fromarray(mask).save(tmp_path / "m" / f"s{s}_{v}.png")
            rows.append([f"s{s}_{v}.png", f"s{s}", "toy"])
    with open(tmp_path / "pool.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    r = CliRunner().invoke(cli, ["distractors", "build", "--pool", str(tmp_path / "pool.csv"), "-o", str(tmp_path / "out"),
                                 "--masks", f"file:{tmp_path / 'm'}", "-q"])
    assert r.exit_code == 0, r.output
    samples = list(csv.DictReader(open(tmp_path / "out/samples.csv")))
    assert len(samples) == 2 and all(len(s["distractors"].split(";")) == 3 for s in samples)
    from idbench.nearid.samples import load_samples

    loaded = load_samples(tmp_path / "out/samples.csv")
    assert all(d is not None and d.path.is_file() for s in loaded for d in s.distractors)
    assert (tmp_path / "out/provenance.jsonl").read_text().count("\n") == 6
    r = CliRunner().invoke(cli, ["distractors", "build", "--pool", str(tmp_path / "pool.csv"), "-o", str(tmp_path / "o2"),
                                 "--masks", "nosuch"])
    assert r.exit_code != 0 and "unknown mask provider" in r.output
