"""Learned scorers on hostile input: a broken file, a generation without a prompt, an image the model fails
on, a faceless grey image, a warm re-run. Each is named and counted; the rest is scored; nothing is
scored twice. A tiny in-process scorer stands in for the learned models (their parity is
tests/test_learned_scorers.py); the protocol path is the one every scorer takes."""

from __future__ import annotations

import csv
import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.encoders import register
from idbench.encoders.scorer import Scorer


class MeanRed(Scorer):
    """score = mean red value x (1 + number of words of the prompt); fails on a near-black image."""

    metric = "pickscore"  # a catalogued id, so the column is read like PickScore's
    calls = 0

    def __init__(self, needs_prompt=True):
        self.needs_prompt = needs_prompt
        self.name = "mean-red" if needs_prompt else "mean-red-img"

    @property
    def cache_id(self):
        return f"{self.name}@1"

    def preprocess(self, image):
        return np.asarray(image, np.float32)[..., 0].mean() / 255.0

    def score_batch(self, items, prompts):
        MeanRed.calls += 1
        if any(v < 0.02 for v in items):
            raise RuntimeError("the model fails on this image")
        return np.array([v * (1 + (len(p.split()) if p else 0)) for v, p in zip(items, prompts)], np.float32)


register("mean-red")(lambda arg=None, device=None, **kw: MeanRed())
register("mean-red-img")(lambda arg=None, device=None, **kw: MeanRed(needs_prompt=False))


def _tree(tmp_path):
    refs = tmp_path / "refs" / "s"
    refs.mkdir(parents=True)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(refs / "r.jpg")
    gen = tmp_path / "gen" / "m" / "s"
    gen.mkdir(parents=True)
    for name, color, prompt in (("a", (250, 0, 0), "a red thing"), ("b", (100, 0, 0), "a thing"),
                                ("black", (0, 0, 0), "a black thing"), ("noprompt", (120, 0, 0), None)):
        Image.new("RGB", (64, 64), color).save(gen / f"{name}.png")
        if prompt:
            (gen / f"{name}.txt").write_text(prompt)
    (gen / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (gen / "broken.txt").write_text("a broken thing")


def _run(tmp_path, out, *encoders):
    args = ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "-o", str(tmp_path / out),
            "--no-report", "--bootstrap", "100", "--cache-dir", str(tmp_path / "cache")]
    for e in encoders:
        args += ["-e", e]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {x["image_id"]: x for x in csv.DictReader(open(tmp_path / out / "per_image.csv"))}
    return r.output, rows, json.loads((tmp_path / out / "summary.json").read_text())


def test_each_bad_input_is_named_and_the_rest_is_scored(tmp_path):
    _tree(tmp_path)
    MeanRed.calls = 0
    out, rows, summary = _run(tmp_path, "o", "mean-red", "mean-red-img")
    col, img_col = "pickscore[mean-red]", "pickscore[mean-red-img]"
    assert abs(float(rows["m/s/a"][col]) - 250 / 255 * 4) < 1e-5  # "a red thing": 3 words
    assert abs(float(rows["m/s/b"][col]) - 100 / 255 * 3) < 1e-5
    assert rows["m/s/noprompt"][col] == "" and abs(float(rows["m/s/noprompt"][img_col]) - 120 / 255) < 1e-5
    assert rows["m/s/black"][col] == "" and rows["m/s/black"][img_col] == ""  # the model failed on it alone
    problems = (tmp_path / "o" / "problems.csv").read_text()
    assert "no_prompt" in problems and "noprompt.png" in problems
    assert "encoder_error" in problems and "black.png" in problems and "the model fails on this image" in problems
    assert "broken.png" in problems
    # a warm re-run scores nothing again, and gives the same numbers
    calls = MeanRed.calls
    _, again, _ = _run(tmp_path, "o2", "mean-red", "mean-red-img")
    assert MeanRed.calls == calls + 2  # only the image the model fails on is tried again (failures are not cached)
    assert all(again[k][col] == rows[k][col] and again[k][img_col] == rows[k][img_col] for k in rows)


def test_a_changed_prompt_is_scored_again(tmp_path):
    _tree(tmp_path)
    _, rows, _ = _run(tmp_path, "o", "mean-red")
    (tmp_path / "gen" / "m" / "s" / "a.txt").write_text("a red thing on a table")
    _, rows2, _ = _run(tmp_path, "o2", "mean-red")
    assert abs(float(rows2["m/s/a"]["pickscore[mean-red]"]) - 250 / 255 * 7) < 1e-5
    assert rows2["m/s/b"]["pickscore[mean-red]"] == rows["m/s/b"]["pickscore[mean-red]"]


def test_scorers_are_passed_over_by_protocols_that_need_a_backbone(tmp_path, study_inputs):
    t = study_inputs
    r = CliRunner().invoke(cli, ["run", "--refs", str(t / "refs"), "--gen", str(t / "gen"), "--gallery",
                                 str(t / "gallery.csv"), "-e", "mean-red-img", "-e", "effnet-lite0", "-o", str(t / "o"),
                                 "-q", "--no-report", "--bootstrap", "100"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((t / "o" / "summary.json").read_text())
    assert s["sections"]["retrieval"]["encoder"] == "effnet-lite0" and "pickscore[mean-red-img]" in s["metrics"]


def test_images_with_different_prompts_share_a_batch(tmp_path):
    from idbench.data.records import ImageRecord
    from idbench.encoders.scorer import score_records

    paths = []
    for k in range(5):
        p = tmp_path / f"{k}.png"
        Image.new("RGB", (32, 32), (60 + 30 * k, 0, 0)).save(p)
        paths.append(p)
    recs = [ImageRecord(f"g{k}", p, "s") for k, p in enumerate(paths)]
    MeanRed.calls = 0
    out = score_records(MeanRed(), recs, {f"g{k}": "word " * (k + 1) for k in range(5)}, progress=False)
    assert MeanRed.calls == 1  # one forward pass for five prompts
    assert [round(out[f"g{k}"], 5) for k in range(5)] == [round((60 + 30 * k) / 255 * (k + 2), 5) for k in range(5)]
