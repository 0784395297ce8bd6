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


def _pillow_decode(path, draft=None):
    """The reference: Pillow's own JPEG decoder, its EXIF orientation applied, as RGB."""
    from PIL import ImageOps

    with Image.open(path) as im:
        if draft:
            im.draft(None, draft)
        im.load()
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def _jpegs(tmp_path):
    from tests.conftest import DREAMBOOTH

    rng = np.random.default_rng(3)
    arr = rng.integers(0, 255, (45, 70, 3), np.uint8)
    arr[:10, :20] = 0  # not symmetric: every orientation differs
    files = {f"shared{k}": p for k, p in enumerate(sorted(DREAMBOOTH.glob("images/*/*.jpg"))[::30])}
    files["grey"] = _save(tmp_path, "grey.jpg", Image.fromarray(arr).convert("L"))
    files["progressive"] = _save(tmp_path, "prog.jpg", Image.fromarray(arr), progressive=True)
    files["444"] = _save(tmp_path, "444.jpg", Image.fromarray(arr), subsampling=0, quality=95)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        files[f"orientation{o}"] = _save(tmp_path, f"o{o}.jpg", Image.fromarray(arr), exif=exif.tobytes())
    files["cmyk"] = _save(tmp_path, "cmyk.jpg", Image.fromarray(arr).convert("CMYK"))
    files["multi-picture"] = _save(tmp_path, "m.jpg", Image.fromarray(arr), format="MPO", save_all=True,
                                   append_images=[Image.fromarray(255 - arr)])  # a camera's MPO: the first picture
    data = bytearray(files["444"].read_bytes())
    end = data.rfind(b"\xff\xd9")
    (tmp_path / "stray.jpg").write_bytes(bytes(data[:end] + b"\x00\x00" + data[end:]))
    files["stray bytes"] = tmp_path / "stray.jpg"
    mid = len(data) // 2
    (tmp_path / "rst.jpg").write_bytes(bytes(data[:mid] + b"\xff\xd0\x00" + data[mid + 3:]))  # libjpeg-turbo
    files["damaged scan"] = tmp_path / "rst.jpg"  # reports a premature end of segment; Pillow reads on
    (tmp_path / "tail.jpg").write_bytes(bytes(data) + b"\x00" * (2 << 20))  # 2 MB after the image
    files["trailing data"] = tmp_path / "tail.jpg"
    return files


def test_jpeg_decoded_as_pillow_decodes_it(tmp_path, monkeypatch):
    """libjpeg-turbo through simplejpeg gives Pillow's pixels exactly (the same library, the same
    settings), EXIF orientations 1-8 included; a JPEG libjpeg-turbo objects to, a CMYK JPEG and one
    with megabytes after its image go through Pillow itself, with the same result."""
    import simplejpeg

    calls = []
    real = simplejpeg.decode_jpeg

    def spy(*a, **k):
        try:
            out = real(*a, **k)
        except ValueError:
            calls.append("refused")
            raise
        calls.append("decoded")
        return out

    monkeypatch.setattr(simplejpeg, "decode_jpeg", spy)
    for name, p in _jpegs(tmp_path).items():
        calls.clear()
        got = np.asarray(load_image(p))
        assert np.array_equal(got, _pillow_decode(p)), name
        want = {"cmyk": [], "trailing data": [], "damaged scan": ["refused"]}.get(name, ["decoded"])
        assert calls == want, name


def test_reduced_jpeg_decoding_in_eighths(tmp_path):
    """``min_side``: the smallest of 1/8 ... 4/8 that keeps the shorter side; at 4/8 the pixels are
    Pillow's 1/2 draft exactly; never a factor between 1/2 and 1 (slower than the whole decode)."""
    import math

    arr = np.random.default_rng(4).integers(0, 255, (1600, 2400, 3), np.uint8)
    p = _save(tmp_path, "a.jpg", Image.fromarray(arr), quality=90)
    for min_side in (150, 200, 256, 450, 600, 800, 801, 1200):
        eighths = [m for m in (1, 2, 3, 4) if math.ceil(1600 * m / 8) >= min_side]
        want = (math.ceil(2400 * eighths[0] / 8), math.ceil(1600 * eighths[0] / 8)) if eighths else (2400, 1600)
        assert load_image(p, min_side=min_side).size == want, min_side
    assert np.array_equal(np.asarray(load_image(p, min_side=800)), _pillow_decode(p, draft=(1200, 800)))
    portrait = _save(tmp_path, "b.jpg", Image.fromarray(arr.transpose(1, 0, 2).copy()), quality=90)
    assert load_image(portrait, min_side=600).size == (600, 900)  # 3/8: the shorter side is the width
    truncated = tmp_path / "t.jpg"
    truncated.write_bytes(p.read_bytes()[:40_000])
    with pytest.raises(ImageError) as e:
        load_image(truncated, min_side=256)
    assert e.value.kind == "corrupt"


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_unreadable_paths_are_named_alike_by_the_decoder_and_the_hasher(tmp_path):
    """A folder, a FIFO, a missing file and a broken link named ``.jpg``: the decoder (which never
    opens them, so never waits on the FIFO) and the content hasher give the reason every list of
    files gives."""
    import os

    from idbench.data.images import hash_files

    (tmp_path / "folder.jpg").mkdir()
    os.mkfifo(tmp_path / "fifo.jpg")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "gone.jpg")
    want = {"folder.jpg": ("not_image", "is a folder, not a regular file"),
            "fifo.jpg": ("not_image", "is a FIFO, not a regular file"),
            "missing.jpg": ("missing_file", "does not exist"),
            "link.jpg": ("missing_file", "does not exist (a broken link)")}
    for name, (kind, reason) in want.items():
        with pytest.raises(ImageError) as e:
            load_image(tmp_path / name)
        assert (e.value.kind, e.value.reason) == (kind, reason), name
        assert hash_files([tmp_path / name]) == [(None, reason)], name
