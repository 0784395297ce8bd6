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


def test_preprocessing_resamples_the_crop_as_the_whole_image_resize_does(dreambooth_rows):
    """TF-Lite's rule by definition (bicubic resize of the whole image, shorter side 256, then the
    centre 224 crop), against idbench's resampling of the cropped region only: the same pixels up to
    Pillow's 8-bit rounding between passes, on real photos in portrait, landscape and odd sizes."""
    from tests.conftest import DREAMBOOTH

    def by_definition(image):
        w, h = image.size
        nw, nh = max(224, round(w * 256 / min(w, h))), max(224, round(h * 256 / min(w, h)))
        im = image.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - 224) // 2, (nh - 224) // 2
        arr = np.asarray(im.crop((left, top, left + 224, top + 224)), np.float32)
        return ((arr / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)

    diffs = []
    for r in dreambooth_rows[:12]:
        im = Image.open(DREAMBOOTH / r["path"]).convert("RGB")
        for size in ((720, 1080), (1080, 720), (300, 300), (257, 999), (224, 224), im.size):
            diffs.append(np.abs(preprocess_tflite(im.resize(size)) - by_definition(im.resize(size))))
    d = np.stack(diffs)
    assert d.max() <= 2 * (2 / 255) + 1e-6  # at most 2 grey levels
    assert d.mean() < 0.5 * (2 / 255)  # most pixels identical


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


def test_reduced_size_decoding_keeps_the_embedding(tmp_path):
    """effnet-lite0 decodes a large JPEG at reduced size (shorter side >= 512, then its own resize to
    256): on the shared photos (too small to reduce: identical) and on large photos made from them
    (1440 and 3000 px, with sensor-like grain), the cosine to the full decode's embedding has median
    >= 0.999 and minimum >= 0.99."""
    import numpy as np
    from PIL import Image

    from idbench.data.images import load_image
    from idbench.encoders import create_encoder
    from tests.conftest import DREAMBOOTH

    enc = create_encoder("effnet-lite0")
    assert enc.decode_min_side == 512 and "@d512" in enc.cache_id
    rng = np.random.default_rng(0)
    photos = sorted(DREAMBOOTH.glob("images/*/*.jpg"))[::4]
    cos = {"shared": [], "large": []}
    for k, p in enumerate(photos):
        big = tmp_path / f"big{k}.jpg"
        side = 1440 if k % 2 else 3000
        im = Image.open(p).convert("RGB")
        im = im.resize((side, round(side * im.height / im.width)), Image.BICUBIC)
        arr = np.clip(np.asarray(im, np.float32) + rng.normal(0, 6, (im.height, im.width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(big, quality=92)
        for kind, path in (("shared", p), ("large", big)):
            full = enc.embed_batch([enc.preprocess(load_image(path))])[0].vectors[0]
            small = enc.embed_batch([enc.preprocess(load_image(path, min_side=enc.decode_min_side))])[0].vectors[0]
            cos[kind].append(float(full @ small))
    assert min(cos["shared"]) > 1 - 1e-6  # 256 px photos: nothing to reduce
    assert np.median(cos["large"]) >= 0.999 and min(cos["large"]) >= 0.99, cos["large"]
    with Image.open(tmp_path / "big0.jpg") as im:
        assert min(im.size) == 3000
    assert min(load_image(tmp_path / "big0.jpg", min_side=512).size) >= 512  # never below what was asked


def test_reduced_size_decoding_applies_to_jpeg_only(tmp_path):
    from PIL import Image

    from idbench.data.images import load_image

    Image.new("RGB", (2400, 1600), (10, 200, 30)).save(tmp_path / "a.png")
    Image.new("RGB", (2400, 1600), (10, 200, 30)).save(tmp_path / "a.jpg")
    assert load_image(tmp_path / "a.png", min_side=256).size == (2400, 1600)
    assert load_image(tmp_path / "a.jpg", min_side=256).size == (600, 400)  # 1/4: shorter side 400 >= 256
    assert load_image(tmp_path / "a.jpg").size == (2400, 1600)
