"""Distractor builder: B in A's exact background, masks from GrabCut or files."""

import csv
import json

import cv2
import numpy as np
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.distractors.composite import make_distractor
from idbench.distractors.masks import mask_provider


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
    from idbench.data.nearid import load_samples

    loaded = load_samples(tmp_path / "out/samples.csv")
    assert all(d is not None and d.path.is_file() for s in loaded for d in s.distractors)
    assert (tmp_path / "out/provenance.jsonl").read_text().count("\n") == 6
    r = CliRunner().invoke(cli, ["distractors", "build", "--pool", str(tmp_path / "pool.csv"), "-o", str(tmp_path / "o2"),
                                 "--masks", "nosuch"])
    assert r.exit_code != 0 and "unknown mask provider" in r.output


# ----------------------------------------------------------------------------- gates


from idbench.distractors.gates import check_composite, check_mask  # noqa: E402
from tests.conftest import DREAMBOOTH  # noqa: E402


def test_mask_gates_on_made_to_fail_images():
    flat = np.full((96, 96, 3), 128, np.uint8)
    g = check_mask(flat, mask_provider("grabcut")(flat, None))
    assert not g.ok and g.gate == "no_subject"
    a, am = _scene(3, (250, 20, 20))
    assert check_mask(a, am).ok
    tiny = np.zeros_like(am)
    cv2.circle(tiny, (48, 48), 3, 255, -1)
    a2 = a.copy()
    a2[tiny > 0] = (20, 250, 20)
    g = check_mask(a2, tiny)
    assert not g.ok and g.gate == "mask_area"
    frag = np.zeros_like(am)
    for x in (15, 45, 75):
        cv2.circle(frag, (x, 48), 8, 255, -1)
    a3 = a.copy()
    a3[frag > 0] = (250, 250, 20)
    g = check_mask(a3, frag)
    assert not g.ok and g.gate == "mask_fragments" and "3 parts" in g.reason


def test_composite_gates_upscale_and_copy_of_the_view():
    a, am = _scene(0, (220, 30, 30))
    b, bm = _scene(1, (30, 30, 220), "rect")
    small = np.zeros_like(bm)
    cv2.rectangle(small, (45, 45), (52, 52), 255, -1)  # a tiny source crop: blown up about 6x
    d = make_distractor(a, am, b, small)
    g = check_composite(a, d, am)
    assert not g.ok and g.gate == "upscale" and d.provenance["scale"] > 2
    d = make_distractor(a, am, a, am)  # the source is a copy of the view itself
    g = check_composite(a, d, am)
    assert not g.ok and g.gate == "too_similar"
    assert check_composite(a, make_distractor(a, am, b, bm), am).ok


def _pool_with_empty_subject(tmp_path, rows):
    pool = [["path", "subject", "class"]]
    for s in ("backpack", "backpack_dog", "bear_plushie", "wolf_plushie"):
        for r in [r for r in rows if r["subject"] == s][:3]:
            pool.append([str(DREAMBOOTH / r["path"]), s, r["class"]])
    (tmp_path / "empty").mkdir()
    for k in range(3):  # a "subject" whose photos show no object at all
        Image.fromarray(np.full((240, 320, 3), 120 + k, np.uint8)).save(tmp_path / "empty" / f"{k}.png")
        pool.append([str(tmp_path / "empty" / f"{k}.png"), "nothing", "backpack"])
    with open(tmp_path / "pool.csv", "w", newline="") as f:
        csv.writer(f).writerows(pool)
    return tmp_path / "pool.csv"


def test_real_pool_gates_review_and_nearid(tmp_path, dreambooth_rows):
    pool = _pool_with_empty_subject(tmp_path, dreambooth_rows)
    out = tmp_path / "D"
    r = CliRunner().invoke(cli, ["distractors", "build", "--pool", str(pool), "-o", str(out), "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    review = list(csv.DictReader(open(out / "review.csv")))
    nothing = [x for x in review if x["sample_id"] == "nothing"]
    assert len(nothing) == 3 and all(x["accept"] == "0" and x["gate"] == "no_subject" for x in nothing)
    assert all(x["distractor"] == "" for x in nothing)  # nothing was built on those photos
    onto_nothing = [x for x in review if x["partner"] == "nothing"]
    assert onto_nothing and all(x["gate"] == "no_source" for x in onto_nothing)
    for x in nothing:
        assert x["view"].endswith(".png") and x["view"] in r.output  # each named on stderr with its reason
    prov = [json.loads(line) for line in (out / "provenance.jsonl").read_text().splitlines()]
    accepted = [x for x in review if x["accept"] == "1"]
    assert len(prov) == len(accepted) > 0
    for p in prov:
        assert p["scale"] <= 2.0
        d = np.asarray(Image.open(out / p["distractor"]).convert("RGB"), np.int16)
        v = np.asarray(Image.open(p["view"]).convert("RGB"), np.int16)
        x0, y0, x1, y1 = p["placed_box"]
        assert np.abs(d[y0:y1, x0:x1] - v[y0:y1, x0:x1]).mean() >= 8.0
    build = json.loads((out / "build.json").read_text())
    assert build["accepted"] == len(accepted) and build["rejected"]["no_subject"] == 3
    assert "rejected: no_subject" in (out / "sheet.html").read_text()
    problems = list(csv.DictReader(open(out / "problems.csv")))
    assert sum(p["kind"] == "rejected_no_subject" for p in problems) == 3
    # nearid eval honours the review: a person rejects one accepted distractor
    e1 = CliRunner().invoke(cli, ["nearid", "eval", "--samples", str(out / "samples.csv"), "-o", str(tmp_path / "n1"), "-q"],
                            catch_exceptions=False)
    s1 = json.loads((tmp_path / "n1" / "summary.json").read_text())["sections"]["nearid"]
    complete = [sid for sid in {x["sample_id"] for x in review}
                if all(x["accept"] == "1" for x in review if x["sample_id"] == sid)]
    first = next(x for x in accepted if x["sample_id"] == sorted(complete)[0])
    rows = list(csv.DictReader(open(out / "review.csv")))
    for x in rows:
        if x["sample_id"] == first["sample_id"] and x["slot"] == first["slot"]:
            x["accept"] = "0"
    with open(out / "review.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    e2 = CliRunner().invoke(cli, ["nearid", "eval", "--samples", str(out / "samples.csv"), "-o", str(tmp_path / "n2"), "-q"],
                            catch_exceptions=False)
    s2 = json.loads((tmp_path / "n2" / "summary.json").read_text())["sections"]["nearid"]
    assert e1.exit_code == 0 and e2.exit_code == 0
    assert s2["n_incomplete"] == s1["n_incomplete"] + 1 and s2["n_samples"] == s1["n_samples"] - 1
    summ = json.loads((tmp_path / "n2" / "summary.json").read_text())["sections"]["nearid"]
    assert summ["review"]["removed"] == 1 and summ["distractor_build"]["rejected"]["no_subject"] == 3
