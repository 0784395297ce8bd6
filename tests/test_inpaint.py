"""--source diffusers:<model> on a tiny randomly initialised inpainting pipeline built here: the
pipeline loads through diffusers' own from_pretrained, redraws only the masked region (every other
pixel is the view's, bit for bit), passes through the same gates, and reaches samples.csv."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_pipe(tmp_path_factory):
    from tests.tiny_inpaint import make_tiny_inpaint_pipeline

    return make_tiny_inpaint_pipeline(tmp_path_factory.mktemp("inpaint"))


def test_inpainter_keeps_the_background_exactly(tiny_pipe, dreambooth_rows):
    from idbench.data.images import load_image
    from idbench.distractors.inpaint import DiffusersInpainter
    from idbench.distractors.masks import mask_provider

    inp = DiffusersInpainter(str(tiny_pipe), steps=2, size=64)
    rgb = np.asarray(load_image(DREAMBOOTH / "images" / "can" / "00.jpg"))
    mask = mask_provider("grabcut")(rgb, None)
    d = inp(rgb, mask, "can")
    outside = d.changed == 0
    assert outside.any() and np.array_equal(d.image[outside], rgb[outside])
    assert (d.changed[mask > 0] > 0).all()  # the whole subject is redrawn
    assert d.provenance["prompt"] == "a photo of a can" and d.provenance["seed"] == 0
    again = inp(rgb, mask, "can")
    assert np.array_equal(again.image, d.image)  # seeded: the same distractor twice


def test_cli_diffusers_source(tiny_pipe, tmp_path, dreambooth_rows):
    pool = [["path", "subject", "class"]]
    for s in ("can", "clock"):
        for r in [r for r in dreambooth_rows if r["subject"] == s][:3]:
            pool.append([str(DREAMBOOTH / r["path"]), s, r["class"]])
    with open(tmp_path / "pool.csv", "w", newline="") as f:
        csv.writer(f).writerows(pool)
    out = tmp_path / "D"
    r = CliRunner().invoke(cli, ["distractors", "build", "--pool", str(tmp_path / "pool.csv"), "-o", str(out), "--source",
                                 f"diffusers:{tiny_pipe}", "--steps", "2", "--size", "64", "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    review = list(csv.DictReader(open(out / "review.csv")))
    assert len(review) == 6 and all(x["partner"].startswith("inpaint:") for x in review)
    build = json.loads((out / "build.json").read_text())
    assert build["source"].startswith("diffusers:") and build["attempts"] == 6
    for line in (out / "provenance.jsonl").read_text().splitlines():
        p = json.loads(line)
        assert p["source"].startswith("diffusers") and p["steps"] == 2
    bad = CliRunner().invoke(cli, ["distractors", "build", "--pool", str(tmp_path / "pool.csv"), "-o", str(tmp_path / "E"),
                                   "--source", f"diffusers:{tmp_path / 'nosuch'}", "-q"], catch_exceptions=False)
    assert bad.exit_code != 0 and "cannot load inpainting pipeline" in bad.output
