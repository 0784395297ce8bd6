"""The HTML report: self-contained, escaped, and rendered in a real browser when Chromium is present."""

import shutil
import subprocess
import tempfile

import pytest
from PIL import Image

from idbench.data.problems import ProblemLog
from idbench.report.html import render_report
from idbench.results import Results
from tests.conftest import ARTIFACTS, DREAMBOOTH

EVIL = '<script>alert("x")</script>'


def _results_dir(tmp_path, rows_src):
    res = Results(command="idbench evaluate " + EVIL, problems=ProblemLog())
    res.add_metric("cos[test]", "cosine " + EVIL)
    imgs = [DREAMBOOTH / r["path"] for r in rows_src[:6]]
    for i, p in enumerate(imgs):
        res.rows.append({"method": f"m{i % 2}{EVIL if i == 0 else ''}", "subject": f"s{i % 3}", "image_id": str(i),
                         "path": str(p), "prompt": EVIL, "cos[test]": 0.5 + 0.05 * i})
    res.problems.add(tmp_path / f"bad{EVIL}.jpg", "corrupt", "cannot decode " + EVIL)
    res.sections["retrieval"] = {"levels": ["subject"], "real": {"subject": {"ap": 0.9}}, "relative": {},
                                 "methods": {"m0": {"subject": {"ap": 0.5}}},
                                 "examples": [{"query_path": str(imgs[0]), "method": "m0", "subject": EVIL, "level": "subject",
                                               "top": [{"path": str(p), "label": EVIL, "correct": k == 0, "sim": 0.9 - 0.1 * k}
                                                       for k, p in enumerate(imgs[1:6])]}]}
    res.sections["nearid"] = {"ssr": 0.1, "pa": 0.3, "n_samples": 5, "n_incomplete": 0, "encoder": "x",
                              "histogram": {"edges": [-1, 0, 1], "counts": [3, 7]}}
    res.summarise(n_resamples=200)
    out = tmp_path / "res"
    from idbench.report.examples import store_thumbnails

    store_thumbnails(res.sections, out)  # what a study does when it writes its folder
    res.write(out)
    return out


def test_report_escapes_everything_and_embeds_images(tmp_path, dreambooth_rows):
    out = _results_dir(tmp_path, dreambooth_rows)
    html = render_report(out).read_text()
    assert EVIL not in html and "&lt;script&gt;" in html
    assert 'src="http' not in html and "<link" not in html  # nothing fetched from the network
    assert html.count("data:image/jpeg;base64,") >= 6 and "data:image/png;base64," in html
    assert 'id="summary-table"' in html


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="Chromium not installed (apt-get install chromium); .ci/run installs it")
def test_report_renders_in_headless_chromium(tmp_path, dreambooth_rows):
    out = _results_dir(tmp_path, dreambooth_rows)
    report = render_report(out)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tempfile.mkdtemp()}", "--virtual-time-budget=5000"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-ready="1"' in dom.stdout, dom.stdout[:500]
    assert 'data-broken-images="0"' in dom.stdout and 'data-errors="0"' in dom.stdout
    n_images = int(dom.stdout.split('data-images="')[1].split('"')[0])
    assert n_images >= 7
    assert "summary-table" in dom.stdout
    shot = ARTIFACTS / "report.png"
    subprocess.run([_chromium(), *flags, "--window-size=1400,2000", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and Image.open(shot).size[0] >= 1000


def test_heatmaps_skip_metrics_without_values(tmp_path, dreambooth_rows):
    from idbench.report.html import build_context

    res = Results(command="x")
    res.add_metric("ips[f]", "never found a face")
    res.add_metric("cos[x]", "cosine")
    for i in range(4):
        res.rows.append({"method": "m", "subject": f"s{i % 2}", "image_id": str(i), "path": "", "prompt": "",
                         "cos[x]": 0.5 + 0.1 * i})
    res.summarise(n_resamples=100)
    ctx = build_context(res, tmp_path)
    assert [h["metric"] for h in ctx["heatmaps"]] == ["cos[x]"]


def test_a_thumbnail_of_a_large_jpeg_is_decoded_small_and_its_face_box_stays_in_place(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    from idbench.report.examples import thumbnail_jpeg

    img = Image.new("RGB", (2400, 1800), (40, 40, 40))
    img.save(tmp_path / "big.jpg", quality=95)
    img.save(tmp_path / "big.png")
    box = [[600, 450, 1800, 1350]]
    a, b = (np.asarray(Image.open(io.BytesIO(thumbnail_jpeg(tmp_path / n, boxes=box))), np.int16) for n in ("big.jpg", "big.png"))
    assert a.shape == b.shape == (84, 112, 3)
    green = lambda x: (x[..., 1] > 150) & (x[..., 0] < 100)  # noqa: E731
    ys, xs = np.nonzero(green(a))
    yp, xp = np.nonzero(green(b))
    assert abs(xs.min() - xp.min()) <= 1 and abs(ys.max() - yp.max()) <= 1 and abs(xs.min() - 28) <= 2


def test_a_thumbnail_shows_a_photo_stored_sideways_upright_as_the_encoders_see_it(tmp_path):
    """A phone photo stored sideways with an EXIF orientation: its thumbnail is the upright image (the
    one the encoders scored), and a face box found on the upright image lands on the same place."""
    import io

    import numpy as np
    from PIL import Image

    from idbench.report.examples import thumbnail_jpeg

    upright = np.full((1600, 1200, 3), 40, np.uint8)
    upright[:400, :600] = (250, 250, 250)  # a white block at the top left, when upright
    Image.fromarray(upright).save(tmp_path / "upright.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees; shown turned back
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "sideways.jpg", quality=95,
                                                                       exif=exif.tobytes())
    box = [[700, 900, 1100, 1500]]  # in the upright image's pixels
    a, b = (np.asarray(Image.open(io.BytesIO(thumbnail_jpeg(tmp_path / n, boxes=box))), np.int16)
            for n in ("upright.jpg", "sideways.jpg"))
    assert a.shape == b.shape == (112, 84, 3)
    assert np.abs(a - b).max() <= 24 and b[:20, :30].mean() > 200  # the white block at the top left
    green = lambda x: (x[..., 1] > 150) & (x[..., 0] < 100)  # noqa: E731
    (ya, xa), (yb, xb) = np.nonzero(green(a)), np.nonzero(green(b))
    assert len(xb) and abs(xa.min() - xb.min()) <= 1 and abs(ya.max() - yb.max()) <= 1


def test_example_cards_put_methods_that_copy_their_inputs_last_and_say_so():
    from idbench.report.examples import build_examples
    from idbench.results import Results

    res = Results()
    res.add_metric("cos[x]", "cos")
    res.rows = [{"method": m, "subject": f"s{k}", "image_id": f"{m}{k}", "path": f"/nowhere/{m}{k}.jpg",
                 "cos[x]": v + 0.01 * k} for m, v in (("a-copier", 0.99), ("good", 0.8)) for k in range(3)]
    res.summarise(n_resamples=100)
    res.sections["similarity"] = {"reference_paths": {f"s{k}": [f"/nowhere/r{k}.jpg"] for k in range(3)}}
    res.sections["content"] = {"per_method": {"a-copier": {"images": 3, "copies": 3, "near_copies": 0, "blank": 0}}}
    items = build_examples(res).similarity.items
    assert [it.method for it in items] == ["good", "good", "a-copier", "a-copier"]
    assert all(it.caption.endswith("(copies its inputs)") == (it.method == "a-copier") for it in items)
