"""arcface:<pack>: boxes, keypoints, aligned crops and embeddings equal insightface 2.1's own code on
the same (tiny, random) packs and real photos; pack errors are messages, not tracebacks."""

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.data.images import load_image
from idbench.encoders.arcface import ArcFaceEncoder, PackError, resolve_pack
from tests.conftest import SHARED
from tests.face_packs import write_pack

FACES = SHARED / "datasets" / "faces-small"
insightface = pytest.importorskip("insightface", reason="insightface 2.1 is installed by scripts/setup.sh --test")


def _photos():
    if not FACES.is_dir():
        pytest.skip("faces-small not found")
    return sorted(FACES.glob("images/*/*.jpg"))


@pytest.mark.parametrize("det_size", [(320, 320), (640, 640)])
def test_detection_alignment_embedding_equal_insightface(tmp_path, det_size):
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX
    from insightface.model_zoo.scrfd import SCRFD
    from insightface.utils import face_align

    pack = write_pack(tmp_path / "buffalo_tiny")
    enc = ArcFaceEncoder(str(pack), det_size=det_size)
    ref_det = SCRFD(model_file=str(pack / "det_10g.onnx"))
    ref_det.prepare(-1, input_size=det_size, det_thresh=0.5, nms_thresh=0.4)
    ref_rec = ArcFaceONNX(model_file=str(pack / "w600k_r50.onnx"))
    n_faces = 0
    for p in _photos():
        bgr = enc.preprocess(load_image(p))
        det, kps, crops = enc.detect_and_align(bgr)
        want_det, want_kps = ref_det.detect(bgr, input_size=det_size)
        assert det.shape == want_det.shape and det.shape[0] > 0
        np.testing.assert_array_equal(det, want_det)
        np.testing.assert_array_equal(kps, want_kps)
        want_crops = [face_align.norm_crop(bgr, landmark=k, image_size=112) for k in want_kps[:8]]
        for c, w in zip(crops, want_crops):
            np.testing.assert_array_equal(c, w)
        ours = enc.recognizer.embed(crops[:8])
        theirs = ref_rec.get_feat(want_crops)
        np.testing.assert_array_equal(ours, theirs)
        e = enc.embed_batch([bgr])[0]
        np.testing.assert_allclose(e.vectors[:8], theirs / np.linalg.norm(theirs, axis=1, keepdims=True), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(e.boxes, det[:, :4])
        n_faces += e.n
    assert n_faces > 0


def test_batched_recognizer_equals_batch_one_export(tmp_path):
    dyn = ArcFaceEncoder(str(write_pack(tmp_path / "a", batch="None")))
    one = ArcFaceEncoder(str(write_pack(tmp_path / "b", batch=1)))
    bgr = dyn.preprocess(load_image(_photos()[0]))
    _, _, crops = dyn.detect_and_align(bgr)
    np.testing.assert_allclose(dyn.recognizer.embed(crops[:5]), one.recognizer.embed(crops[:5]), rtol=1e-5, atol=1e-6)


def test_pack_by_name_routing_and_nested_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "if"))
    # antelopev2's names, one folder down (how its zip unpacks), plus a landmark-like extra model
    nested = write_pack(tmp_path / "if" / "models" / "antelopev2" / "antelopev2", det_name="scrfd_10g_bnkps.onnx",
                        rec_name="glintr100.onnx")
    import onnx

    from tests.face_packs import arcface_model

    m = arcface_model(5)
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 96  # a 96x96 model: not a recognizer
    m.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 96
    onnx.save(m, str(nested / "genderage.onnx"))
    folder, note = resolve_pack("antelopev2")
    assert folder == nested and "antelopev2/antelopev2" in note
    enc = ArcFaceEncoder("antelopev2")
    assert enc.models["detection"].name == "scrfd_10g_bnkps.onnx" and enc.models["recognition"].name == "glintr100.onnx"


@pytest.mark.parametrize("case", ["missing", "empty", "no_recognizer", "damaged"])
def test_pack_errors_name_the_path_and_the_files(tmp_path, case, dreambooth_rows):
    pack = tmp_path / "pack"
    if case == "empty":
        pack.mkdir()
    elif case == "no_recognizer":
        write_pack(pack)
        (pack / "w600k_r50.onnx").unlink()
    elif case == "damaged":
        write_pack(pack)
        (pack / "det_10g.onnx").write_bytes(b"not onnx")
    with pytest.raises(PackError) as e:
        ArcFaceEncoder(str(pack))
    msg = str(e.value)
    assert str(pack) in msg or "pack" in msg
    assert {"missing": "not found", "empty": "no .onnx", "no_recognizer": "no recognition model",
            "damaged": "no detection model"}[case] in msg
    # through the CLI: one message, no traceback
    refs = tmp_path / "refs" / "obama"
    refs.mkdir(parents=True)
    shutil.copy(_photos()[1], refs / "a.jpg")
    gen = tmp_path / "gen" / "m" / "obama"
    gen.mkdir(parents=True)
    shutil.copy(_photos()[2], gen / "a.jpg")
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "-e",
                                 f"arcface:{pack}", "-o", str(tmp_path / "o"), "-q"], catch_exceptions=False)
    assert r.exit_code != 0 and "cannot create encoder" in r.output and "Traceback" not in r.output


def test_faceless_image_gives_zero_faces(tmp_path):
    enc = ArcFaceEncoder(str(write_pack(tmp_path / "p")), det_size=(320, 320))
    # a score bias of -20 makes every anchor fail the 0.5 threshold: a detection failure, not an error
    import onnx

    from tests.face_packs import scrfd_model

    onnx.save(scrfd_model(0, score_bias=-20.0), str(tmp_path / "p" / "det_10g.onnx"))
    enc = ArcFaceEncoder(str(tmp_path / "p"), det_size=(320, 320))
    e = enc.embed_batch([enc.preprocess(Image.new("RGB", (200, 100), (128, 128, 128)))])[0]
    assert e.n == 0 and e.vectors.shape == (0, 512)
