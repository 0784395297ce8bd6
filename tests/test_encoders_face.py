"""dlib-face on real faces from skimage.data."""

import numpy as np
import pytest
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")

from idbench.encoders import create_encoder  # noqa: E402


@pytest.fixture(scope="module")
def enc():
    return create_encoder("dlib-face")


@pytest.fixture(scope="module")
def astronaut():
    return Image.fromarray(skimage_data.astronaut())


def test_astronaut_one_face_false_positive_filtered(enc, astronaut):
    (e,) = enc.embed_batch([enc.preprocess(astronaut)])
    assert e.n == 1 and e.vectors.shape == (1, 128)
    assert np.isclose(np.linalg.norm(e.vectors[0]), 1, atol=1e-5)
    l, t, r, b = e.boxes[0]
    assert 150 < (l + r) / 2 < 300 and 50 < (t + b) / 2 < 200  # the face, upper middle of the picture
    assert e.scores[0] >= 0.5
    low = create_encoder("dlib-face", min_score=0.0)
    (e0,) = low.embed_batch([low.preprocess(astronaut)])
    assert e0.n >= 2  # the known low-score false positive is there without the score filter


def test_same_face_rescaled_is_close_blank_has_none(enc, astronaut):
    small = astronaut.resize((384, 384))
    crop = astronaut.crop((100, 0, 400, 300))
    a, b, c, blank = enc.embed_batch([enc.preprocess(x) for x in (astronaut, small, crop, Image.new("RGB", (200, 200), (120, 120, 120)))])
    assert float(a.vectors[0] @ b.vectors[0]) > 0.95 and float(a.vectors[0] @ c.vectors[0]) > 0.95
    assert blank.n == 0 and blank.vectors.shape == (0, 128)
    # boxes are mapped back to the original image's pixels
    assert np.allclose(a.boxes[0], b.boxes[0] * (512 / 384), atol=25)


def test_large_image_downscaled_boxes_in_original_pixels(astronaut):
    e = create_encoder("dlib-face", max_side=256)
    (big,) = e.embed_batch([e.preprocess(astronaut)])
    ref = create_encoder("dlib-face")
    (full,) = ref.embed_batch([ref.preprocess(astronaut)])
    if big.n:  # at 256 px the face may be below the detector's size; when found, coordinates must match
        assert np.allclose(big.boxes[0], full.boxes[0], atol=30)


def test_dlib_workers_give_the_single_thread_descriptors():
    """One model per worker thread: the same faces and descriptors as one thread, image by image."""
    from idbench.data.images import load_image
    from idbench.encoders.dlib_face import DlibFaceEncoder
    from tests.conftest import SHARED

    photos = sorted((SHARED / "datasets" / "faces-small" / "images").glob("*/*.jpg"))
    if not photos:
        import pytest

        pytest.skip("faces-small not found")
    one, two = DlibFaceEncoder(workers=1), DlibFaceEncoder(workers=2)
    items = [one.preprocess(load_image(p)) for p in photos] * 2
    a, b = one.embed_batch(items), two.embed_batch(items)
    assert sum(e.n for e in a) > 0
    for x, y in zip(a, b):
        assert x.n == y.n
        np.testing.assert_array_equal(x.vectors, y.vectors)
        np.testing.assert_array_equal(x.boxes, y.boxes)
