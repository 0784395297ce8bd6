"""One face policy for every face encoder, on real photos (faces-small, dlib-face: the offline
default): no-face zero vs skip, largest vs best faces, padded retry, FaceSim, copy-paste."""

import csv
import json
import math
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.metrics.similarity import copy_paste, facesim, select_faces
from tests.conftest import DREAMBOOTH, SHARED

FACES = SHARED / "datasets" / "faces-small" / "images"


def _tree(tmp_path):
    if not FACES.is_dir():
        pytest.skip("faces-small not found")
    refs = tmp_path / "refs"
    (refs / "obama").mkdir(parents=True)
    shutil.copy(FACES / "obama" / "obama.jpg", refs / "obama" / "a_input.jpg")
    shutil.copy(FACES / "obama" / "obama2.jpg", refs / "obama" / "b_other.jpg")
    gen = tmp_path / "gen"
    for m in ("same-person", "other-person", "half-faceless"):
        (gen / m / "obama").mkdir(parents=True)
    shutil.copy(FACES / "obama" / "obama3.jpg", gen / "same-person" / "obama" / "0.jpg")
    shutil.copy(FACES / "obama" / "obama.jpg", gen / "same-person" / "obama" / "1_copy.jpg")
    shutil.copy(FACES / "biden" / "biden.jpg", gen / "other-person" / "obama" / "0.jpg")
    shutil.copy(FACES / "obama" / "obama3.jpg", gen / "half-faceless" / "obama" / "0.jpg")
    Image.open(DREAMBOOTH / "images" / "vase" / "00.jpg").convert("RGB").save(gen / "half-faceless" / "obama" / "1.jpg")
    return refs, gen


def _run(tmp_path, refs, gen, *extra):
    out = tmp_path / ("out" + "_".join(extra).replace("-", ""))
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(refs), "--gen", str(gen), "-e", "dlib-face", "-o", str(out),
                                 "-q", "--bootstrap", "200", "--no-report", *extra], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    return s, rows, r.output


def test_no_face_rule_same_vs_other_person_and_found_rate(tmp_path):
    refs, gen = _tree(tmp_path)
    s, rows, out = _run(tmp_path, refs, gen)
    ips = {m: v["ips[dlib-face]"]["mean"] for m, v in s["methods"].items()}
    assert ips["same-person"] > ips["other-person"] + 0.1
    # default (Stellar): the faceless image scores 0 -> the method falls below 0.6
    assert ips["half-faceless"] < 0.6
    assert s["methods"]["half-faceless"]["face_found[dlib-face]"]["mean"] == 0.5
    headers = [x for x in out.splitlines() if x.startswith("method")]
    assert any("face found" in h and "IPS" in h for h in headers)  # the found rate stands beside IPS
    # ConsisID's rule: left out -> near its face-only score
    s2, _, _ = _run(tmp_path, refs, gen, "--no-face", "skip")
    face_only = next(float(r["ips[dlib-face]"]) for r in rows if r["method"] == "half-faceless" and r["ips[dlib-face]"] != "0")
    assert math.isclose(s2["methods"]["half-faceless"]["ips[dlib-face]"]["mean"], face_only, rel_tol=1e-6)
    assert s2["sections"]["face"]["encoders"]["dlib-face"]["policy"]["no_face"] == "skip"
    from idbench.report.html import render_report

    html = render_report(tmp_path / "out").read_text()
    assert 'class="face-table"' in html and "0.500" in html  # half-faceless: face found 0.500


def test_facesim_and_copy_paste_on_real_faces(tmp_path):
    refs, gen = _tree(tmp_path)
    _, rows, _ = _run(tmp_path, refs, gen)
    by = {(r["method"], r["image_id"].split("/")[-1]): r for r in rows}
    copy = by[("same-person", "1_copy")]
    # a byte copy of the input reference: copy-paste +1; FaceSim is leave-one-out (never against its own source)
    assert float(copy["face_cos[dlib-face]"]) < 0.999
    assert float(copy["copy_paste[dlib-face]"]) == pytest.approx(1.0, abs=1e-3)
    assert copy["copy_kind"] == "copy"
    other = by[("same-person", "0")]
    assert -1 <= float(other["copy_paste[dlib-face]"]) < 0.9
    assert float(other["facesim[dlib-face]"]) == max(0.0, float(other["face_cos[dlib-face]"]))
    assert copy["copy_of"].startswith("reference:")


def test_input_reference_column_picks_r(tmp_path):
    refs, gen = _tree(tmp_path)
    with open(tmp_path / "gen.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "method", "subject", "input_reference"])
        w.writerow([str(gen / "same-person" / "obama" / "1_copy.jpg"), "m", "obama", "b_other.jpg"])
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(refs), "--gen", str(tmp_path / "gen.csv"), "-e", "dlib-face",
                                 "-o", str(tmp_path / "o"), "-q", "--no-report"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    row = next(csv.DictReader(open(tmp_path / "o" / "per_image.csv")))
    assert float(row["copy_paste[dlib-face]"]) == pytest.approx(-1.0, abs=1e-3)  # it copies t, not the named r


class BorderShyFaces:
    """A face 'detector' that, like many CNN detectors, misses a face touching the image border:
    the face is the bright square; it is found only with at least 10 px of margin around it."""

    kind, name, dim, cache_id = "face", "border-shy", 3, "border-shy@1"

    def preprocess(self, image):
        return np.asarray(image.convert("L"), np.float32)

    def embed_batch(self, items):
        from idbench.encoders.base import ImageEmbedding

        out = []
        for a in items:
            ys, xs = np.nonzero(a > 128)
            if len(xs) == 0 or xs.min() < 10 or ys.min() < 10 or xs.max() >= a.shape[1] - 10 or ys.max() >= a.shape[0] - 10:
                out.append(ImageEmbedding(np.zeros((0, 3), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32)))
                continue
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            out.append(ImageEmbedding(np.array([[1.0, 0, 0]], np.float32), box, np.ones(1, np.float32)))
        return out


def test_padded_retry_finds_a_frame_filling_face_and_maps_boxes_back():
    from idbench.encoders.face_retry import PaddedRetry

    enc = BorderShyFaces()
    framed = Image.new("RGB", (100, 80), (0, 0, 0))
    framed.paste((255, 255, 255), (20, 20, 60, 50))
    filling = Image.new("RGB", (60, 40), (255, 255, 255))  # the face fills the frame
    assert enc.embed_batch([enc.preprocess(filling)])[0].n == 0
    wrapped = PaddedRetry(enc, 0.25)
    got = wrapped.embed_batch([wrapped.preprocess(framed), wrapped.preprocess(filling)])
    assert got[0].boxes.tolist() == [[20, 20, 60, 50]]  # found at once: untouched
    assert got[1].n == 1 and got[1].boxes.tolist() == [[0, 0, 60, 40]]  # found on the padded canvas, in original pixels
    assert wrapped.cache_id == "border-shy@1+padretry0.25"
    with pytest.raises(ValueError):
        PaddedRetry(enc, 0.0)


def test_select_faces_and_copy_paste_against_loops():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(4, 8)).astype(np.float32)
    boxes = np.array([[0, 0, 3, 3], [0, 0, 10, 2], [5, 5, 9, 9], [0, 0, 1, 1]], np.float32)
    assert np.array_equal(select_faces(f, boxes, "largest")[0], f[1])  # areas 9, 20, 16, 1
    for _ in range(50):
        g, r = rng.normal(size=16), rng.normal(size=16)
        T = rng.normal(size=(3, 16))
        g, r = g / np.linalg.norm(g), r / np.linalg.norm(r)
        T /= np.linalg.norm(T, axis=1, keepdims=True)
        want = np.mean([(math.acos(max(-1, min(1, g @ t))) - math.acos(max(-1, min(1, g @ r))))
                        / math.acos(max(-1, min(1, t @ r))) for t in T])
        assert copy_paste(g, r, T) == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert facesim(g, g)[0] == pytest.approx(1.0)
