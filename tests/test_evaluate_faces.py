"""The face path of `evaluate`: IPS/SIS from per-face rows, detection failures counted, not zero-scored."""

import math

import numpy as np
from PIL import Image

from idbench.data.problems import ProblemLog
from idbench.data.records import GenerationSet, ImageRecord, ReferenceSet
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize
from idbench.protocols.similarity import evaluate_similarity


class ColourFaceEncoder(Encoder):
    """'Faces' are the image's red pixels: none when there is no red, one row per red image."""

    kind = "face"

    def __init__(self):
        self.name, self.dim = "test-face", 3

    def preprocess(self, image):
        return np.asarray(image, dtype=np.float32).mean(axis=(0, 1))

    def embed_batch(self, items):
        out = []
        for mean in items:
            if mean[0] < 50:
                out.append(ImageEmbedding(np.zeros((0, 3), np.float32), np.zeros((0, 4), np.float32)))
            else:
                out.append(ImageEmbedding(l2_normalize(mean[None]), np.array([[0, 0, 8, 8]], np.float32)))
        return out


def _img(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), rgb).save(path)
    return path


def test_face_metrics_and_failures(tmp_path):
    refs = ReferenceSet([
        ImageRecord("r1", _img(tmp_path / "r1.png", (200, 0, 0)), "alice"),
        ImageRecord("r2", _img(tmp_path / "r2.png", (200, 100, 0)), "alice"),
        ImageRecord("r3", _img(tmp_path / "r3.png", (0, 0, 200)), "alice"),  # no face in this reference
    ])
    gens = GenerationSet([
        ImageRecord("g1", _img(tmp_path / "g1.png", (200, 50, 0)), "alice", method="m"),
        ImageRecord("g2", _img(tmp_path / "g2.png", (0, 200, 0)), "alice", method="m"),  # no face
    ])
    log = ProblemLog()
    res = evaluate_similarity(refs, gens, [ColourFaceEncoder()], problems=log, progress=False)
    rows = res.row_index()
    g1 = l2_normalize(np.array([[200, 50, 0]], np.float32))[0]
    pair = [float(g1 @ l2_normalize(np.array([c], np.float32))[0]) for c in ([200, 0, 0], [200, 100, 0])]
    assert math.isclose(rows[("m", "g1")]["ips[test-face]"], np.mean(pair), rel_tol=1e-5)
    assert math.isclose(rows[("m", "g1")]["sis[test-face]"], min(pair), rel_tol=1e-5)
    # default rule (Stellar): no face scores 0; the face-found rate stands beside it
    assert rows[("m", "g2")]["ips[test-face]"] == 0.0 and rows[("m", "g2")]["face_found[test-face]"] == 0.0
    face = res.sections["face"].encoders["test-face"]
    assert face.methods["m"].detection_failure_rate == 0.5 and face.policy.no_face == "zero"
    assert face.reference_images_without_face == 1
    # ConsisID's rule: left out
    from idbench.protocols.similarity import FacePolicy

    res2 = evaluate_similarity(refs, gens, [ColourFaceEncoder()], problems=ProblemLog(), progress=False,
                               face_policy=FacePolicy(no_face="skip"))
    assert "ips[test-face]" not in res2.row_index()[("m", "g2")]
    assert sorted(p.path.split("/")[-1] for p in log.items if p.kind == "no_face") == ["g2.png", "r3.png"]


def test_aps_group(tmp_path):
    """APS from labelled faces: subject labels from its references, balanced accuracy per method."""
    from idbench.protocols.similarity import score_aps
    from idbench.results import Results

    enc = ColourFaceEncoder()
    rows = []
    for i, (r, g) in enumerate([(250, 0), (240, 10), (230, 200), (220, 210), (210, 5), (200, 220)]):
        p = _img(tmp_path / f"a{i}.png", (r, g, 0))
        rows.append({"path": str(p), "subject": "x", "Green": str(int(g > 100))})
    refs = ReferenceSet([ImageRecord("r", tmp_path / "a0.png", "alice")])  # alice: Green = 0
    gens = GenerationSet([ImageRecord("g1", _img(tmp_path / "g1.png", (240, 5, 0)), "alice", method="keeps"),
                          ImageRecord("g2", _img(tmp_path / "g2.png", (200, 230, 0)), "alice", method="loses")])
    out = score_aps(enc, rows, ["Green"], refs, gens, results=Results(), progress=False)
    assert out.methods["keeps"]["aps"] == 1.0 and out.methods["loses"]["aps"] == 0.0


class TwoFaceEncoder(ColourFaceEncoder):
    """As ColourFaceEncoder, but an image with green above 150 holds two faces (two boxes)."""

    def embed_batch(self, items):
        out = super().embed_batch(items)
        for k, mean in enumerate(items):
            if mean[1] > 150 and out[k].n:
                out[k] = ImageEmbedding(np.concatenate([out[k].vectors, out[k].vectors]),
                                        np.array([[0, 0, 4, 4], [4, 4, 8, 8]], np.float32))
        return out


def test_report_face_examples_show_references_with_boxes_and_the_multi_face_case(tmp_path):
    from idbench.report.examples import build_examples, store_thumbnails

    refs = ReferenceSet([ImageRecord("r1", _img(tmp_path / "r1.png", (200, 0, 0)), "alice"),
                         ImageRecord("r2", _img(tmp_path / "r2.png", (200, 100, 0)), "alice")])
    gens = GenerationSet([ImageRecord("g1", _img(tmp_path / "g1.png", (200, 50, 0)), "alice", method="m"),
                          ImageRecord("g2", _img(tmp_path / "g2.png", (200, 200, 0)), "alice", method="m"),  # 2 faces
                          ImageRecord("g3", _img(tmp_path / "g3.png", (0, 200, 0)), "alice", method="m")])  # none
    res = evaluate_similarity(refs, gens, [TwoFaceEncoder()], progress=False)
    res.summarise(n_resamples=100)
    ex = build_examples(res).faces["test-face"]
    assert [it.subject for it in ex.multi] == ["alice"] and ex.multi[0].caption.startswith("2 faces")
    for it in ex.scored + ex.multi + ex.faceless:
        roles = [im.role for im in it.images]
        assert roles == ["reference", "reference", "generation"]
        assert all(im.boxes == [[0.0, 0.0, 8.0, 8.0]] for im in it.images if im.role == "reference")
    shown = [it.images[-1].path for it in ex.scored + ex.multi]
    assert len(shown) == len(set(shown))  # each generation shown once
    res.sections["examples"] = ex_all = build_examples(res)
    store_thumbnails(res.sections, tmp_path / "out")
    assert all(im.thumb for f in ex_all.faces.values() for it in f.multi for im in it.images)
