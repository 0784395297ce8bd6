"""``arcface:<folder or pack name>``: insightface model packs (buffalo_l, antelopev2, ...) through
onnxruntime, the face similarity that InstantID, PhotoMaker, PuLID and ConsisID publish.

Pipeline (insightface's, reproduced step for step and tested for equality with insightface 2.1's
own ``SCRFD``, ``face_align.norm_crop`` and ``ArcFaceONNX`` on packs built in the tests):

1. **Pack**: a folder of ``.onnx`` files, given as a path or as a name under
   ``~/.insightface/models/<name>``. Files are routed by their graph, as insightface does: 5 or
   more outputs -> SCRFD detector; one square input of at least 112 (a multiple of 16) -> ArcFace
   recognizer; other models of the pack (landmarks, gender/age) are not used. antelopev2's zip
   unpacks to ``antelopev2/antelopev2/``: a folder with no model but one sub-folder that has them
   is followed, and said so.
2. **Detection** (SCRFD) at an explicit ``det_size`` (default 640 x 640, the size published
   numbers use; insightface >= 1.0 would otherwise detect at 128 and 640): aspect-preserving
   resize pasted top-left, ``(x - 127.5) / 128`` on RGB, strides 8/16/32 with 2 anchors,
   score >= 0.5, NMS at IoU 0.4.
3. **Alignment**: the similarity transform (Umeyama, ``skimage.transform.SimilarityTransform``) of
   the 5 keypoints to the 112 x 112 ArcFace template, ``cv2.warpAffine``.
4. **Embedding**: ``(x - 127.5) / 127.5`` on RGB (or none, when the graph normalises itself),
   one batched run over every face of the batch, L2-normalised 512-d rows.

Uses the CUDA provider when onnxruntime has it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from idbench.data.images import file_sha256
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize

ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


class PackError(ValueError):
    """An insightface pack that cannot be used, named with the path and the files expected."""


def resolve_pack(spec: str) -> tuple[Path, str]:
    """The folder holding the pack's ``.onnx`` files, and a note when the nested-folder case applied."""
    p = Path(spec).expanduser()
    if not p.exists():
        root = Path(os.environ.get("INSIGHTFACE_HOME", Path.home() / ".insightface")).expanduser() / "models"
        p = root / spec if not Path(spec).is_absolute() and "/" not in spec else p
    if not p.is_dir():
        raise PackError(f"insightface pack {spec!r} not found (looked at {p}). Give a folder holding the pack's "
                        "ONNX files, e.g. buffalo_l/ with det_10g.onnx and w600k_r50.onnx, or antelopev2/ with "
                        "scrfd_10g_bnkps.onnx and glintr100.onnx; packs cannot be downloaded here")
    note = ""
    if not list(p.glob("*.onnx")):
        subs = [d for d in p.iterdir() if d.is_dir() and list(d.glob("*.onnx"))]
        if len(subs) == 1:
            note = (f"{p} holds no model but {subs[0].name}/ does (the antelopev2 zip unpacks to "
                    f"antelopev2/antelopev2/); using {subs[0]}")
            p = subs[0]
        else:
            raise PackError(f"{p} holds no .onnx file. An insightface pack is a folder of ONNX models: a SCRFD "
                            "detector (e.g. det_10g.onnx) and an ArcFace recognizer (e.g. w600k_r50.onnx). If you "
                            "unzipped antelopev2, the models may be one folder down (antelopev2/antelopev2/)")
    return p, note


def open_session(path: Path, providers: list[str]):
    """An ONNX Runtime session for one model of a pack; a model the runtime cannot load (an operator
    it does not know, a damaged graph) is a :class:`PackError` naming the file and the runtime's reason."""
    from idbench.encoders.ort import import_onnxruntime

    ort = import_onnxruntime()
    try:
        return ort.InferenceSession(str(path), providers=providers)
    except Exception as e:  # onnxruntime raises its own pybind exception types
        reason = " ".join(str(e).split())[:300]
        raise PackError(f"{path}: ONNX Runtime {ort.__version__} cannot load this model ({type(e).__name__}: {reason})") from None


def route_models(folder: Path) -> dict[str, Path]:
    """``{"detection": path, "recognition": path}`` by graph signature (insightface's rule)."""
    import onnx

    found: dict[str, Path] = {}
    bad = []
    for f in sorted(folder.glob("*.onnx")):
        try:
            m = onnx.load(str(f), load_external_data=False)
        except Exception as e:  # a damaged file is named, not fatal while the pack has what it needs
            bad.append(f"{f.name} ({type(e).__name__})")
            continue
        inits = {i.name for i in m.graph.initializer}
        inputs = [i for i in m.graph.input if i.name not in inits]
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim] if inputs else []
        if len(m.graph.output) >= 5:
            found.setdefault("detection", f)
        elif (len(dims) == 4 and dims[2] == dims[3] and dims[2] >= 112 and dims[2] % 16 == 0
              and len(m.graph.output) == 1):
            found.setdefault("recognition", f)
    missing = [t for t in ("detection", "recognition") if t not in found]
    if missing:
        raise PackError(f"{folder}: no {' and no '.join(missing)} model among {', '.join(p.name for p in sorted(folder.glob('*.onnx')))}"
                        f"{'; unreadable: ' + ', '.join(bad) if bad else ''}. Expected a SCRFD detector (an ONNX "
                        "graph with 6 or 9 outputs, e.g. det_10g.onnx) and an ArcFace recognizer (input "
                        "1x3x112x112, one 512-d output, e.g. w600k_r50.onnx)")
    return found


def estimate_norm(kps: np.ndarray, image_size: int = 112) -> np.ndarray:
    """2x3 similarity transform of 5 keypoints onto the ArcFace template (insightface's estimate_norm)."""
    from skimage.transform import SimilarityTransform

    ratio = image_size / 112.0 if image_size % 112 == 0 else image_size / 128.0
    dst = ARCFACE_TEMPLATE * ratio
    if image_size % 112 != 0:
        dst[:, 0] += 8.0 * ratio
    src = np.asarray(kps, np.float32)
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image >= 0.26
        t = SimilarityTransform.from_estimate(src, dst)
    else:
        t = SimilarityTransform()
        t.estimate(src, dst)
    return t.params[0:2, :]


def norm_crop(bgr: np.ndarray, kps: np.ndarray, image_size: int = 112) -> np.ndarray:
    import cv2

    return cv2.warpAffine(bgr, estimate_norm(kps, image_size), (image_size, image_size), borderValue=0.0)


class SCRFDDetector:
    """SCRFD decoding (boxes, 5 keypoints, scores) at one explicit input size."""

    def __init__(self, path: Path, providers: list[str], det_size=(640, 640), det_thresh=0.5, nms_thresh=0.4):
        self.session = open_session(path, providers)
        self.input_name = self.session.get_inputs()[0].name
        shape = self.session.get_inputs()[0].shape
        fixed = isinstance(shape[2], int) and isinstance(shape[3], int) and shape[2] > 0 and shape[3] > 0
        self.det_size = (int(shape[3]), int(shape[2])) if fixed else tuple(int(x) for x in det_size)
        outs = self.session.get_outputs()
        self.output_names = [o.name for o in outs]
        self.batched = len(outs[0].shape) == 3
        n = len(outs)
        if n not in (6, 9, 10, 15):
            raise PackError(f"{path}: {n} outputs; SCRFD has 6, 9, 10 or 15")
        self.fmc = 3 if n in (6, 9) else 5
        self.strides = [8, 16, 32] if self.fmc == 3 else [8, 16, 32, 64, 128]
        self.num_anchors = 2 if self.fmc == 3 else 1
        self.use_kps = n in (9, 15)
        self.det_thresh, self.nms_thresh = det_thresh, nms_thresh
        self._centers: dict = {}

    def detect(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(det (n, 5) [x1, y1, x2, y2, score], kps (n, 5, 2))`` in the image's pixels, best first."""
        import cv2

        w_in, h_in = self.det_size
        im_ratio = bgr.shape[0] / bgr.shape[1]
        if im_ratio > h_in / w_in:
            new_h = h_in
            new_w = int(new_h / im_ratio)
        else:
            new_w = w_in
            new_h = int(new_w * im_ratio)
        if new_w < 1 or new_h < 1:
            return np.zeros((0, 5), np.float32), (np.zeros((0, 5, 2), np.float32) if self.use_kps else None)
        scale = new_h / bgr.shape[0]
        det_img = np.zeros((h_in, w_in, 3), np.uint8)
        det_img[:new_h, :new_w] = cv2.resize(bgr, (new_w, new_h))
        blob = cv2.dnn.blobFromImage(det_img, 1.0 / 128.0, (w_in, h_in), (127.5, 127.5, 127.5), swapRB=True)
        outs = self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(blob, np.float32)})
        scores_l, boxes_l, kps_l = [], [], []
        for idx, stride in enumerate(self.strides):
            pick = (lambda o: o[0]) if self.batched else (lambda o: o)  # noqa: E731
            scores = pick(outs[idx])
            boxes = pick(outs[idx + self.fmc]) * stride
            h, w = h_in // stride, w_in // stride
            key = (h, w, stride)
            if key not in self._centers:
                c = (np.stack(np.mgrid[:h, :w][::-1], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
                if self.num_anchors > 1:
                    c = np.stack([c] * self.num_anchors, axis=1).reshape(-1, 2)
                self._centers[key] = c
            c = self._centers[key]
            pos = np.where(scores >= self.det_thresh)[0]
            b = np.stack([c[:, 0] - boxes[:, 0], c[:, 1] - boxes[:, 1], c[:, 0] + boxes[:, 2], c[:, 1] + boxes[:, 3]], -1)
            scores_l.append(scores[pos])
            boxes_l.append(b[pos])
            if self.use_kps:
                k = pick(outs[idx + 2 * self.fmc]) * stride
                pts = np.stack([c[:, i % 2] + k[:, i] for i in range(k.shape[1])], axis=-1).reshape(len(k), -1, 2)
                kps_l.append(pts[pos])
        if sum(s.size for s in scores_l) == 0:
            return np.zeros((0, 5), np.float32), (np.zeros((0, 5, 2), np.float32) if self.use_kps else None)
        scores = np.vstack(scores_l).ravel()
        order = np.argsort(-scores, kind="stable")
        det = np.hstack([np.vstack(boxes_l) / scale, scores[:, None]]).astype(np.float32)[order]
        kps = (np.vstack(kps_l) / scale)[order] if self.use_kps else None
        keep = _nms(det, self.nms_thresh)
        return det[keep], (kps[keep] if kps is not None else None)


def _nms(dets: np.ndarray, thresh: float) -> list[int]:
    """Greedy NMS with insightface's +1 pixel areas."""
    x1, y1, x2, y2, s = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-s, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


class ArcFaceRecognizer:
    def __init__(self, path: Path, providers: list[str]):
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        sub = any(n.name.startswith(("Sub", "_minus")) for n in graph.node[:8])
        mul = any(n.name.startswith(("Mul", "_mul")) for n in graph.node[:8])
        self.mean, self.std = (0.0, 1.0) if (sub and mul) else (127.5, 127.5)
        self.session = open_session(path, providers)
        inp = self.session.get_inputs()[0]
        self.input_name, self.size = inp.name, int(inp.shape[2])
        self.batch_fixed = isinstance(inp.shape[0], int) and inp.shape[0] > 0
        self.output_name = self.session.get_outputs()[0].name

    def embed(self, crops_bgr: list[np.ndarray]) -> np.ndarray:
        import cv2

        if not crops_bgr:
            return np.zeros((0, 0), np.float32)
        blob = cv2.dnn.blobFromImages(crops_bgr, 1.0 / self.std, (self.size, self.size),
                                      (self.mean, self.mean, self.mean), swapRB=True)
        blob = np.ascontiguousarray(blob, np.float32)
        if self.batch_fixed:  # a graph exported with batch 1: one run per face
            return np.concatenate([self.session.run([self.output_name], {self.input_name: blob[i:i + 1]})[0]
                                   for i in range(len(blob))])
        return self.session.run([self.output_name], {self.input_name: blob})[0]


class ArcFaceEncoder(Encoder):
    kind = "face"
    preprocess_version = "1"

    def __init__(self, pack: str, *, device: str | None = None, det_size=(640, 640), det_thresh: float = 0.5) -> None:
        from idbench.encoders.ort import providers

        folder, self.note = resolve_pack(pack)
        models = route_models(folder)
        prov = providers(device)
        self.detector = SCRFDDetector(models["detection"], prov, det_size=det_size, det_thresh=det_thresh)
        self.recognizer = ArcFaceRecognizer(models["recognition"], prov)
        self.folder, self.models = folder, models
        self.name = f"arcface:{pack}"
        out_dim = self.recognizer.session.get_outputs()[0].shape[-1]
        self.dim = int(out_dim) if isinstance(out_dim, int) else 512
        digest = hashlib.sha256()
        for p in (models["detection"], models["recognition"]):
            digest.update(file_sha256(p).encode())
        w, h = self.detector.det_size
        self._id = f"arcface@{digest.hexdigest()[:16]}@det{w}x{h}t{det_thresh}@pp{self.preprocess_version}"

    @property
    def cache_id(self) -> str:
        return self._id

    def preprocess(self, image):
        """BGR uint8 array (insightface works on OpenCV's channel order)."""
        return np.ascontiguousarray(np.asarray(image, np.uint8)[:, :, ::-1])

    def detect_and_align(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        det, kps = self.detector.detect(bgr)
        if kps is None:
            raise PackError(f"{self.models['detection']}: the detector gives no keypoints (6-output SCRFD); "
                            "ArcFace alignment needs the 5-keypoint model (9 outputs, e.g. det_10g.onnx)")
        return det, kps, [norm_crop(bgr, k, self.recognizer.size) for k in kps]

    def embed_batch(self, items):
        dets, crops, counts = [], [], []
        for bgr in items:
            det, _, c = self.detect_and_align(bgr)
            dets.append(det)
            crops += c
            counts.append(len(c))
        feats = self.recognizer.embed(crops) if crops else np.zeros((0, self.dim), np.float32)
        out, k = [], 0
        for det, n in zip(dets, counts):
            v = l2_normalize(feats[k:k + n]) if n else np.zeros((0, self.dim), np.float32)
            out.append(ImageEmbedding(v, det[:, :4].astype(np.float32), det[:, 4].astype(np.float32)))
            k += n
        return out


def make(arg: str | None = None, device: str | None = None, **kw) -> ArcFaceEncoder:
    """arcface:<pack folder or name>[#det_size=640,det_thresh=0.5]: an insightface pack (SCRFD detector + ArcFace
    recogniser, e.g. buffalo_l)"""
    from idbench.encoders.scorer import spec_options

    try:
        pack, opts = spec_options(arg, ("det_size", "det_thresh"))
    except ValueError as e:
        raise PackError(f"arcface: {e}") from None
    if not pack:
        raise PackError("arcface needs a pack: arcface:<folder> or arcface:<name under ~/.insightface/models>, "
                        "e.g. arcface:buffalo_l")
    try:
        size = int(opts.get("det_size", 640))
        thresh = float(opts.get("det_thresh", 0.5))
    except ValueError:
        raise PackError(f"arcface: det_size is a whole number of pixels and det_thresh a number, got {opts}") from None
    if not (32 <= size <= 4096 and size % 32 == 0) or not 0 < thresh < 1:
        raise PackError(f"arcface: det_size must be a multiple of 32 in [32, 4096] and det_thresh in (0, 1), got {opts}")
    enc = ArcFaceEncoder(pack, device=device, det_size=(size, size), det_thresh=thresh, **kw)
    if opts:
        enc.name = f"arcface:{arg}"
    return enc
