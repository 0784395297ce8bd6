"""``facenet[:vggface2|casia-webface|<state dict .pt>]``: Stellar's face model, through facenet-pytorch's
own classes: ``MTCNN(image_size=160, margin=0, keep_all=True)`` finds and aligns every face (its
P/R/O-Net weights ship inside the package), ``InceptionResnetV1(pretrained="vggface2")`` embeds each
160 x 160 crop (512-d, L2-normalised by the network). Faces whose MTCNN probability is below
``min_prob`` are dropped (0.9 by default; Stellar's code passes its ``face_confidence_threshold`` 0.9 as
MTCNN's ``margin`` instead and filters nothing: ``facenet:vggface2#margin=0.9,min_prob=0``).

The recognizer's weights download from facenet-pytorch's release into the torch hub folder on first
use; a state dict of ``InceptionResnetV1`` may be given instead (``facenet:/path/weights.pt``).
facenet-pytorch pins torch < 2.3 and Pillow < 10.3: install it with ``--no-deps`` (its code runs on
current versions). Options after ``#``: ``min_prob=0.9``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from idbench.encoders import pick_device
from idbench.encoders.base import Encoder, ImageEmbedding
from idbench.encoders.scorer import spec_options, weights_digest
from idbench.weights import load_into, load_state_dict

#: facenet-pytorch's released recognizer weights (``inception_resnet_v1.load_weights``), fetched by idbench
#: with a time limit into its cache unless facenet-pytorch's own copy is there
RELEASED = {"vggface2": "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt",
            "casia-webface": "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
                             "20180408-102900-casia-webface.pt"}


class FaceNetEncoder(Encoder):
    kind = "face"
    dim = 512
    preprocess_version = "mtcnn160-m0-1"

    def __init__(self, weights: str = "vggface2", min_prob: float = 0.9, device: str | None = None,
                 margin: float = 0.0) -> None:
        from facenet_pytorch import MTCNN, InceptionResnetV1
        from facenet_pytorch.models.inception_resnet_v1 import get_torch_home

        self.device = pick_device(device)
        self.min_prob, self.margin = float(min_prob), float(margin)
        self.mtcnn = MTCNN(image_size=160, margin=self.margin, keep_all=True, device=self.device)
        if weights in RELEASED:
            fname = RELEASED[weights].rsplit("/", 1)[1]
            path = Path(get_torch_home()) / "checkpoints" / fname  # where facenet-pytorch itself keeps it
            if not path.is_file():
                from idbench.cache.store import default_cache_dir
                from idbench.net import download

                path = download(RELEASED[weights], default_cache_dir() / "downloads" / fname,
                                what=f"facenet: the {weights} weights",
                                local_hint=f"give the file: facenet:/path/to/{fname}")
        else:
            if not Path(weights).is_file():
                raise ValueError(f"facenet: {weights!r} is neither vggface2, casia-webface nor a weights file")
            path = Path(weights)
        self.model = InceptionResnetV1(pretrained=None)
        what = "facenet-pytorch InceptionResnetV1 weights"
        state = load_state_dict(path, what=what)
        # the released files also hold the training classifier ("logits"), which embedding never uses
        load_into(self.model, {k: v for k, v in state.items() if not k.startswith("logits.")}, path, what=what)
        self.model = self.model.to(self.device).eval()
        opts = ",".join(x for x in (f"margin={self.margin:g}" if self.margin else "",
                                    f"min_prob={self.min_prob:g}" if self.min_prob != 0.9 else "") if x)
        # the name is a spec that recreates the encoder: facenet, facenet:<weights>, facenet:<weights>#<options>
        self.name = "facenet" + ("" if weights == "vggface2" and not opts else f":{weights}") + (f"#{opts}" if opts else "")
        self._id = weights_digest(self.model.state_dict())

    @property
    def cache_id(self) -> str:
        return f"{self.name}@{self._id}@p{self.min_prob:g}@m{self.margin:g}@pp{self.preprocess_version}"

    def preprocess(self, image):
        return image  # MTCNN takes the PIL image itself (it crops from the full-resolution image)

    def _embed_one(self, image) -> ImageEmbedding:
        with torch.inference_mode():
            boxes, probs = self.mtcnn.detect(image)
            keep = np.asarray(probs if boxes is not None else [], np.float64) >= self.min_prob
            if not keep.any():  # no face, or none as sure as min_prob: a detection failure
                return ImageEmbedding(np.zeros((0, self.dim), np.float32), np.zeros((0, 4), np.float32),
                                      np.zeros((0,), np.float32))
            boxes, probs = boxes[keep], probs[keep]
            faces = self.mtcnn.extract(image, boxes, None)  # (n, 3, 160, 160), standardised as MTCNN's forward
            e = self.model(faces.to(self.device)).float().cpu().numpy()
        return ImageEmbedding(e.astype(np.float32), boxes.astype(np.float32), np.asarray(probs, np.float32))

    def embed_batch(self, items):
        return [self._embed_one(im) for im in items]


def make(arg: str | None = None, device: str | None = None, **kw) -> FaceNetEncoder:
    """facenet[:vggface2|casia-webface|<weights>][#min_prob=0.9,margin=0]: MTCNN + InceptionResnetV1 (Stellar's IPS/SIS)"""
    weights, opts = spec_options(arg, ("min_prob", "margin"))
    try:
        min_prob, margin = float(opts.get("min_prob", 0.9)), float(opts.get("margin", 0.0))
    except ValueError:
        raise ValueError(f"facenet: min_prob and margin are numbers, got {opts}") from None
    if not 0 <= min_prob <= 1 or margin < 0:
        raise ValueError(f"facenet: min_prob must be in [0, 1] and margin >= 0, got {opts}")
    return FaceNetEncoder(weights or "vggface2", min_prob, device=device, margin=margin)
