"""The consisid preset gives the FaceSim-Arc that ConsisID's own evaluation code gives.

The reference is a transcription, written for this test, of PKU-YuanGroup/ConsisID at commit
60429e4b0d24d36ce8df7fb58f7ab42b86e2b70e, ``eval/get_facesim_fid.py`` (the ArcFace part; CurricularFace
and FID are not in the preset): ``FaceAnalysis(root=...)`` without a pack name (insightface's default,
buffalo_l) prepared with ``det_size=(320, 320)``; ``get_face_keypoints`` (the largest box);
``pad_np_bgr_image`` (scale 1.25: ``int(0.25 h)`` above and below, ``int(0.25 w)`` left and right, grey 128)
for an image without a face; ``sample_video_frames`` (OpenCV, ``linspace(0, n - 1, 16, dtype=int)``);
``process_video`` (per frame ``max(0, cos)``, frames without a face skipped, 0 for a video without one).

The opens2v preset is the same code with 32 frames (PKU-YuanGroup/OpenS2V-Nexus at commit
b4528314bd73b05d1cf2a9c7f8d8ecef34e6294c, ``eval/get_facesim.py``: its frames read with decord, stood in for
here by PyAV, which decodes the same lossless frames; its ``arc_scores != 0.0`` test always passes).

It runs insightface's own ``FaceAnalysis`` on a tiny random buffalo_l pack, on videos written losslessly
(PNG in AVI, so OpenCV and PyAV decode the same pixels) from the faces-small photos: a video of faces, a
video of flat grey frames (no face: 0), and a folder of frames standing for a video.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import SHARED
from tests.face_packs import write_pack

insightface = pytest.importorskip("insightface", reason="insightface 2.1 is installed by scripts/setup.sh --test")
cv2 = pytest.importorskip("cv2")
av = pytest.importorskip("av")
FACES = SHARED / "datasets" / "faces-small" / "images"
COL = "facesim[arcface:buffalo_l#det_size=320]"


def _write_avi(path, frames):
    with av.open(str(path), "w") as c:
        s = c.add_stream("png", rate=8)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "rgb24"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _frame(path, size=(320, 240)):
    return np.asarray(Image.open(path).convert("RGB").resize(size))


# ----------------------------------------------------------------- the transcription of ConsisID's code

class ConsisIDArc:
    def __init__(self, root):
        from insightface.app import FaceAnalysis

        self.app = FaceAnalysis(root=str(root), providers=["CPUExecutionProvider"])
        self.app.prepare(ctx_id=-1, det_size=(320, 320))

    def get_face_keypoints(self, image_bgr):
        face_info = self.app.get(image_bgr)
        if len(face_info) > 0:
            return sorted(face_info, key=lambda x: (x["bbox"][2] - x["bbox"][0]) * (x["bbox"][3] - x["bbox"][1]))[-1]
        return None

    @staticmethod
    def pad_np_bgr_image(np_image, scale=1.25):
        pad_scale = scale - 1.0
        h, w = np_image.shape[:2]
        top = bottom = int(h * pad_scale)
        left = right = int(w * pad_scale)
        return cv2.copyMakeBorder(np_image, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                  value=(128, 128, 128)), (left, top)

    def process_image(self, image):
        np_image = np.array(Image.open(image).convert("RGB")) if isinstance(image, str) else image
        image_bgr = cv2.cvtColor(np_image, cv2.COLOR_RGB2BGR)
        face_info = self.get_face_keypoints(image_bgr)
        if face_info is None:
            padded, _ = self.pad_np_bgr_image(image_bgr)
            face_info = self.get_face_keypoints(padded)
            if face_info is None:
                return None
        return face_info["embedding"]

    @staticmethod
    def sample_video_frames(video_path, num_frames=16):
        if num_frames == 32:  # OpenS2V's sample_video_frames: decord's len(VideoReader) and vr[idx] (PyAV here)
            with av.open(str(video_path)) as c:
                frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
            return [cv2.cvtColor(frames[int(i)], cv2.COLOR_RGB2BGR)
                    for i in np.linspace(0, len(frames) - 1, num_frames, dtype=int)]
        cap = cv2.VideoCapture(str(video_path))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        for idx in np.linspace(0, total - 1, num_frames, dtype=int):
            cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
            ret, frame = cap.read()
            if ret:
                frames.append(frame)
        cap.release()
        return frames

    def video_score(self, frames_rgb, reference_embedding):
        arc = []
        for frame_rgb in frames_rgb:
            e = self.process_image(frame_rgb)
            if e is None:
                continue
            c = float(np.dot(reference_embedding, e) / (np.linalg.norm(reference_embedding) * np.linalg.norm(e)))
            arc.append(max(0.0, c))
        return float(np.mean(arc)) if arc else 0.0


# ----------------------------------------------------------------- the test


@pytest.mark.parametrize("preset,n", [("consisid", 16), ("opens2v", 32)])
def test_consisid_preset_prints_consisids_facesim_arc(tmp_path, monkeypatch, preset, n):
    home = tmp_path / "insightface"
    monkeypatch.setenv("INSIGHTFACE_HOME", str(home))
    write_pack(home / "models" / "buffalo_l")
    refs = tmp_path / "refs" / "obama"
    refs.mkdir(parents=True)
    (refs / "obama.jpg").write_bytes((FACES / "obama" / "obama.jpg").read_bytes())
    gen = tmp_path / "gen" / "m" / "obama"
    gen.mkdir(parents=True)
    faces = [FACES / "obama" / "obama2.jpg", FACES / "obama" / "obama3.jpg", FACES / "biden" / "biden.jpg",
             FACES / "obama" / "obama_partial_face.jpg"]
    grey = np.full((240, 320, 3), 128, np.uint8)
    _write_avi(gen / "faces.avi", [_frame(p) for p in faces] + [grey] * 3 + [_frame(faces[0])] * 2)  # 9 frames
    _write_avi(gen / "grey.avi", [np.full((320, 320, 3), 128, np.uint8)] * 20)  # square: no letterbox, no "face"
    folder = gen / "folder"
    folder.mkdir()
    for k in range(20):  # a folder of frames: 20 files, 16 sampled
        Image.fromarray(_frame(faces[k % 4]) if k % 5 else grey).save(folder / f"{k:04d}.png")

    r = CliRunner().invoke(cli, ["run", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "--preset",
                                 preset, "-o", str(tmp_path / "out"), "-q", "--no-report", "--bootstrap", "200"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {x["image_id"]: x for x in csv.DictReader(open(tmp_path / "out" / "per_image.csv"))}
    assert set(rows) == {"m/obama/faces", "m/obama/grey", "m/obama/folder"}

    up = ConsisIDArc(home)
    ref_emb = up.process_image(str(refs / "obama.jpg"))
    assert ref_emb is not None
    want = {
        "m/obama/faces": up.video_score([cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
                                         for f in up.sample_video_frames(gen / "faces.avi", n)], ref_emb),
        "m/obama/grey": up.video_score([cv2.cvtColor(f, cv2.COLOR_BGR2RGB)
                                        for f in up.sample_video_frames(gen / "grey.avi", n)], ref_emb),
        "m/obama/folder": up.video_score([np.array(Image.open(p).convert("RGB")) for p in
                                          [sorted(folder.glob("*.png"))[i] for i in np.linspace(0, 19, n, dtype=int)]],
                                         ref_emb),
    }
    assert want["m/obama/grey"] == 0.0 and want["m/obama/faces"] > 0
    for vid, w in want.items():
        assert abs(float(rows[vid][COL]) - w) < 1e-4, (vid, rows[vid][COL], w)
    assert int(rows["m/obama/faces"]["n_frames"]) == n
    import json

    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert abs(s["methods"]["m"][COL]["mean"] - float(np.mean(list(want.values())))) < 1e-4


def test_the_per_axis_grey_retry_is_consisids_padding(tmp_path):
    """The retry canvas equals cv2.copyMakeBorder's for a non-square image."""
    from idbench.encoders.face_retry import PaddedRetry

    class Probe:
        kind, name, dim, cache_id = "face", "probe", 2, "probe"
        seen: list = []

        def preprocess(self, im):
            return np.asarray(im)

        def embed_batch(self, items):
            from idbench.encoders.base import ImageEmbedding

            self.seen.extend(items)
            return [ImageEmbedding(np.zeros((0, 2), np.float32), np.zeros((0, 4), np.float32)) for _ in items]

    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8))
    w = PaddedRetry(Probe(), 0.25, "per_axis", 128)
    w.embed_batch([w.preprocess(im)])
    want, _ = ConsisIDArc.pad_np_bgr_image(np.asarray(im))
    assert np.array_equal(Probe.seen[-1], want)
