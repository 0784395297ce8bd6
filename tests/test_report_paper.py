"""A report people look at and tables that go into a paper: the full DreamBooth study rendered in
headless Chromium at 1280 px and its tables compiled with pdflatex in a one-column article; a face
report on faces-small with its face boxes and faceless examples."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import ARTIFACTS, DREAMBOOTH, SHARED, write_study_inputs


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def full_study(tmp_path_factory, dreambooth_rows):
    root = tmp_path_factory.mktemp("full")
    write_study_inputs(root, dreambooth_rows)
    out = root / "res"
    r = CliRunner().invoke(cli, ["run", "--refs", str(root / "refs"), "--gen", str(root / "gen"), "--gallery",
                                 str(root / "gallery.csv"), "--samples", str(root / "samples.csv"), "-o", str(out), "-q",
                                 "--bootstrap", "300"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return out, r.output


def test_report_opens_with_the_answer_and_shows_examples_for_every_protocol(full_study):
    out, _ = full_study
    html = (out / "report.html").read_text()
    body = re.sub(r'data:[^"]+', "", html)
    assert body.index('id="answer"') < body.index('id="similarity"') < body.index('id="retrieval"')
    assert "Method means with 95% intervals" in body  # the figure's alt text says what it shows
    for heading in ("Examples: each method's worst and best image", "Examples: queries and their top 5",
                    "Examples: generations the oracle names as another identity", "Examples: views (top)"):
        assert heading in body, heading
    assert "Left out (" in body and "Flagged and kept (" in body
    assert 'id="distribution"' in body and "not run" in body  # a protocol that did not run says why
    assert not re.search(r"\bnan\b", body.lower())
    assert (out / "report.html").stat().st_size < 5_000_000


def test_console_stays_within_120_columns(full_study):
    _, output = full_study
    wide = [x for x in output.splitlines() if len(x) > 120]
    assert wide == [], wide[:3]


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="Chromium not installed (apt-get install chromium); .ci/run installs it")
def test_report_fits_1280_px_in_chromium(full_study):
    out, _ = full_study
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tempfile.mkdtemp()}",
             "--virtual-time-budget=5000", "--window-size=1280,900"]
    dom = subprocess.run([_chromium(), *flags, "--dump-dom", (out / "report.html").as_uri()], capture_output=True,
                         text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-ready="1"' in dom.stdout
    assert 'data-overflow="0"' in dom.stdout and 'data-broken-images="0"' in dom.stdout and 'data-errors="0"' in dom.stdout
    shot = ARTIFACTS / "report-first-screen.png"
    subprocess.run([_chromium(), *flags, f"--screenshot={shot}", (out / "report.html").as_uri()], capture_output=True,
                   timeout=180)
    assert shot.is_file() and Image.open(shot).size == (1280, 900)


ARTICLE = r"""\documentclass[%s]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
\input{tables.tex}
\end{document}
"""


def _overfull(log: str) -> list[float]:
    return [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)")
@pytest.mark.parametrize("columns", ["onecolumn", "twocolumn"])
def test_tables_compile_in_an_article_without_overfull_boxes(full_study, tmp_path, columns):
    out, _ = full_study
    shutil.copy(out / "tables.tex", tmp_path / "tables.tex")
    (tmp_path / "doc.tex").write_text(ARTICLE % columns)
    p = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=180)
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert p.returncode == 0, log[-3000:]
    assert [w for w in _overfull(log) if w > 5] == []
    tex = (out / "tables.tex").read_text()
    assert "ap:class" not in tex and "mAP (class)" in tex and "RCA (subject)" in tex
    if columns == "onecolumn" and shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "doc.pdf", str(ARTIFACTS / "tables")],
                       cwd=tmp_path, capture_output=True, timeout=120)


def test_face_report_shows_boxes_and_faceless_images(tmp_path):
    faces = SHARED / "datasets" / "faces-small" / "images"
    if not faces.is_dir():
        pytest.skip("faces-small not found")
    refs, gen = tmp_path / "refs", tmp_path / "gen"
    (refs / "obama").mkdir(parents=True)
    for p in ("obama.jpg", "obama2.jpg"):
        shutil.copy(faces / "obama" / p, refs / "obama" / p)
    (gen / "m" / "obama").mkdir(parents=True)
    shutil.copy(faces / "obama" / "obama3.jpg", gen / "m" / "obama" / "0.jpg")
    Image.open(DREAMBOOTH / "images" / "vase" / "00.jpg").convert("RGB").save(gen / "m" / "obama" / "1.jpg")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(refs), "--gen", str(gen), "-e", "dlib-face", "-o", str(out),
                                 "-q", "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    html = (out / "report.html").read_text()
    assert "detected faces (green boxes)" in html and "No face found (dlib-face)" in html
    assert "with its detected faces boxed" in html and "where no face was found" in html
    import json

    ex = json.loads((out / "summary.json").read_text())["sections"]["examples"]["faces"]["dlib-face"]
    boxed = [im for it in ex["scored"] for im in it["images"] if im.get("boxes")]
    assert boxed and all(im["thumb"] and (out / im["thumb"]).is_file() for im in boxed)
    # the stored thumbnail has the box drawn: green pixels
    px = Image.open(out / boxed[0]["thumb"]).convert("RGB")
    assert any(g > 180 and r < 80 and b < 80 for r, g, b in px.getdata())


def test_markdown_escapes_table_syntax():
    from idbench.report.tables import _md_escape

    assert _md_escape("a|b*c_d`e<f>") == "a\\|b\\*c\\_d\\`e&lt;f&gt;"


def test_latex_wide_option(full_study):
    from idbench.report.tables import render_tables
    from idbench.results import Results

    out, _ = full_study
    tex = render_tables(Results.read(out), "tex", wide=True)
    assert "\\begin{table*}" in tex and "\\textwidth" in tex and "\\columnwidth" not in tex
    assert Path
