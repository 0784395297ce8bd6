"""effnet-lite0: the shipped ImageNet weights are really loaded, and both backends agree."""

import numpy as np
import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")

from idbench.encoders import create_encoder  # noqa: E402
from idbench.encoders.effnet_lite0 import load_lite0, preprocess_tflite  # noqa: E402

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def chelsea():
    return Image.fromarray(skimage_data.chelsea())


def test_weights_load_strictly_and_classify_the_cat(chelsea):
    enc = create_encoder("effnet-lite0")
    logits = enc.classify([chelsea])[0]
    top3 = list(np.argsort(-logits)[:3])
    assert top3[0] in CAT_CLASSES and set(top3) <= CAT_CLASSES, top3
    assert enc.dim == 1280


def test_onnx_and_torch_agree(chelsea):
    onnx = create_encoder("effnet-lite0", backend="onnx")
    torch_ = create_encoder("effnet-lite0", backend="torch")
    assert onnx.backend == "onnx" and torch_.backend == "torch"
    ims = [chelsea, Image.fromarray(skimage_data.astronaut())]
    a, b = onnx.embed_images(ims), torch_.embed_images(ims)
    assert a.shape == (2, 1280) and a.dtype == np.float32
    assert np.abs(a - b).max() < 1e-4
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_embedding_is_pooled_features_of_the_network(chelsea):
    import torch

    model = load_lite0()
    x = torch.from_numpy(preprocess_tflite(chelsea)[None])
    with torch.no_grad():
        f = model.features(x).numpy()[0]
    enc = create_encoder("effnet-lite0", backend="torch")
    assert np.allclose(enc.embed_images([chelsea])[0], f / np.linalg.norm(f), atol=1e-5)


def test_preprocessing_shape_and_range():
    arr = preprocess_tflite(Image.new("RGB", (500, 300), (255, 0, 0)))
    assert arr.shape == (3, 224, 224)
    assert np.allclose(arr[0], 1.0) and np.allclose(arr[1], -1.0)


def test_same_identity_closer_than_other_identity(dreambooth_rows):
    """Two photos of one real object are closer than photos of different objects, on average."""
    from idbench.data.images import load_image
    from tests.conftest import DREAMBOOTH

    enc = create_encoder("effnet-lite0")
    by = {}
    for r in dreambooth_rows:
        by.setdefault(r["subject"], []).append(r["path"])
    subjects = sorted(by)[:8]
    embs = {s: enc.embed_images([load_image(DREAMBOOTH / p) for p in by[s][:2]]) for s in subjects}
    same = np.mean([float(embs[s][0] @ embs[s][1]) for s in subjects])
    diff = np.mean([float(embs[s][0] @ embs[t][1]) for s in subjects for t in subjects if s != t])
    assert same > diff + 0.05
