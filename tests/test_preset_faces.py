"""The ArcFace presets (instantid, consisid, withanyone) end to end against insightface's own classes: a
tiny random antelopev2 pack (scrfd_10g_bnkps.onnx + glintr100.onnx) sits where ``arcface:antelopev2``
finds it, ``idbench run --preset NAME`` runs on real face photos, and each image's numbers must equal
the papers' pipeline written out here with insightface's SCRFD, ``norm_crop`` and ArcFaceONNX:

* the largest detected face of the generation and of the reference given to the generator;
* face_cos = their cosine (InstantID / PhotoMaker / PuLID), FaceSim-Arc = max(0, cos) (ConsisID);
* ConsisID: an image without a face is detected again padded by 0.25 x its longer side; faceless images
  are left out (no value), not scored 0;
* WithAnyone's copy-paste: (theta(g, t) - theta(g, r)) / theta(t, r), mean over the other photos t."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.data.images import load_image
from tests.conftest import SHARED
from tests.face_packs import write_pack

insightface = pytest.importorskip("insightface", reason="insightface 2.1 is installed by scripts/setup.sh --test")
FACES = SHARED / "datasets" / "faces-small"


@pytest.fixture
def antelopev2(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "insightface"))
    return write_pack(tmp_path / "insightface" / "models" / "antelopev2", det_name="scrfd_10g_bnkps.onnx",
                      rec_name="glintr100.onnx")


class Reference:
    """insightface's own detector and recognizer on the pack (FaceAnalysis' det_size 640, threshold 0.5)."""

    def __init__(self, pack):
        from insightface.model_zoo.arcface_onnx import ArcFaceONNX
        from insightface.model_zoo.scrfd import SCRFD

        self.det = SCRFD(model_file=str(pack / "scrfd_10g_bnkps.onnx"))
        self.det.prepare(-1, input_size=(640, 640), det_thresh=0.5, nms_thresh=0.4)
        self.rec = ArcFaceONNX(model_file=str(pack / "glintr100.onnx"))

    def largest_face(self, rgb: Image.Image, pad_retry: float = 0.0) -> np.ndarray | None:
        from insightface.utils import face_align

        bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
        det, kps = self.det.detect(bgr, input_size=(640, 640))
        if len(det) == 0 and pad_retry:  # ConsisID's retry: the image on a black canvas padded on every side
            m = int(round(pad_retry * max(rgb.size)))
            canvas = Image.new("RGB", (rgb.width + 2 * m, rgb.height + 2 * m), (0, 0, 0))
            canvas.paste(rgb, (m, m))
            bgr = np.ascontiguousarray(np.asarray(canvas)[:, :, ::-1])
            det, kps = self.det.detect(bgr, input_size=(640, 640))
        if len(det) == 0:
            return None
        i = int(np.argmax((det[:, 2] - det[:, 0]) * (det[:, 3] - det[:, 1])))
        f = self.rec.get_feat([face_align.norm_crop(bgr, landmark=kps[i], image_size=112)])[0]
        return f / np.linalg.norm(f)


def _study(tmp_path):
    """refs/obama (two photos); generations given obama.jpg as their input: another obama photo, biden, a
    partly hidden obama face, and a flat grey image in which the pack finds no face."""
    refs = tmp_path / "refs" / "obama"
    refs.mkdir(parents=True)
    for n in ("obama.jpg", "obama2.jpg"):
        (refs / n).write_bytes((FACES / "images" / "obama" / n).read_bytes())
    gen = tmp_path / "gen"
    gen.mkdir()
    paths = [FACES / "images" / "obama" / "obama3.jpg", FACES / "images" / "biden" / "biden.jpg",
             FACES / "images" / "obama" / "obama_partial_face.jpg"]
    Image.new("RGB", (256, 256), (128, 128, 128)).save(gen / "grey.png")
    paths.append(gen / "grey.png")
    with open(tmp_path / "gen.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "method", "subject", "input_reference"])
        for p in paths:
            w.writerow([str(p), "m", "obama", "obama.jpg"])
    return paths


def _run(tmp_path, preset):
    r = CliRunner().invoke(cli, ["run", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen.csv"), "--preset",
                                 preset, "-o", str(tmp_path / preset), "-q", "--no-report", "--bootstrap", "200"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert f"preset {preset}" in r.output and "settings as published" in r.output
    return list(csv.DictReader(open(tmp_path / preset / "per_image.csv")))


@pytest.mark.parametrize("preset", ["instantid"])  # consisid, withanyone: their own test files
def test_arcface_presets_equal_the_papers_pipeline(antelopev2, tmp_path, preset):
    paths = _study(tmp_path)
    rows = {r["path"]: r for r in _run(tmp_path, preset)}
    ref = Reference(antelopev2)
    pad = 0.0
    r_face = ref.largest_face(load_image(tmp_path / "refs" / "obama" / "obama.jpg"), pad)
    col = lambda m: f"{m}[arcface:antelopev2]"  # noqa: E731
    scored = 0
    for p in paths:
        row = rows[str(p)]
        g = ref.largest_face(load_image(p), pad)
        if g is None:  # every preset leaves a faceless image out of the face means or scores nothing
            assert row[col("face_found")] in ("0", "0.0") and row[col("face_cos")] == "", row
            continue
        scored += 1
        cos = float(g @ r_face)
        assert abs(float(row[col("face_cos")]) - cos) < 1e-4
        assert abs(float(row[col("facesim")]) - max(0.0, cos)) < 1e-4
    assert scored == 3  # the grey image has no face: left out
    # the tables show the columns the paper reports, with the face-found rate beside them
    header = next(x for x in (tmp_path / preset / "tables.md").read_text().splitlines() if x.startswith("| method"))
    want = {"instantid": ["face cosine"]}[preset]
    assert all(w in header for w in want + ["face found"]) and "IPS" not in header, header
