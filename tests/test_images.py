import numpy as np
import pytest
from PIL import Image

from idbench.data.images import ImageError, load_image


def _save(tmp_path, name, im, **kw):
    p = tmp_path / name
    im.save(p, **kw)
    return p


def test_rgb_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    p = _save(tmp_path, "a.png", Image.fromarray(arr))
    im = load_image(p)
    assert im.mode == "RGB" and im.size == (30, 20)
    assert np.array_equal(np.asarray(im), arr)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16"])
def test_modes_become_rgb(tmp_path, mode):
    base = Image.fromarray(np.full((8, 8, 3), 128, np.uint8))
    if mode == "I;16":
        im = Image.fromarray(np.full((8, 8), 65535 // 2, np.uint16))
        p = _save(tmp_path, "a.png", im)
    else:
        im = base.convert(mode, palette=Image.Palette.ADAPTIVE) if mode == "P" else base.convert(mode)
        p = _save(tmp_path, "a.tif" if mode == "CMYK" else "a.png", im)
    out = load_image(p)
    assert out.mode == "RGB" and out.size == (8, 8)
    assert abs(int(np.asarray(out)[0, 0, 0]) - 128) <= 2


def test_16bit_scaled_not_clipped(tmp_path):
    im = Image.fromarray(np.array([[0, 65535]], np.uint16))
    out = np.asarray(load_image(_save(tmp_path, "a.png", im)))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 255


def test_rgba_composited_on_white(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    out = np.asarray(load_image(_save(tmp_path, "a.png", Image.fromarray(arr, "RGBA"))))
    assert (out == 255).all()


def test_exif_rotation_applied(tmp_path):
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = _save(tmp_path, "a.jpg", im, exif=exif.tobytes())
    assert load_image(p).size == (20, 40)


def test_truncated_file_is_corrupt(tmp_path):
    p = _save(tmp_path, "a.jpg", Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as e:
        load_image(p)
    assert e.value.kind == "corrupt" and "a.jpg" in str(e.value)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("hello")
    with pytest.raises(ImageError) as e:
        load_image(p)
    assert e.value.kind == "not_image"


def test_missing_file(tmp_path):
    with pytest.raises(ImageError) as e:
        load_image(tmp_path / "nope.png")
    assert e.value.kind == "missing_file"


def test_pixel_limit(tmp_path):
    p = _save(tmp_path, "big.png", Image.new("RGB", (300, 300)))
    with pytest.raises(ImageError) as e:
        load_image(p, max_pixels=300 * 299)
    assert e.value.kind == "too_large" and "90000" in e.value.reason
    assert load_image(p, max_pixels=300 * 300).size == (300, 300)
