"""A protocol from another package is run and shown everywhere with no edit to idbench:
``examples/plugin-protocol`` (protocol ``brightness``), installed beside idbench with
``pip --target`` and found through ``PYTHONPATH``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plugin-protocol"


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    import shutil

    target = tmp_path_factory.mktemp("site")
    src = tmp_path_factory.mktemp("example") / "plugin-protocol"  # built from a copy: nothing is written into the repo
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return target


def _idbench(args, plugin_path: Path, cwd: Path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "idbench.cli.main", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def _luma(path: Path) -> float:
    """The definition, written here in exact integers: the sum over pixels of 299 R + 587 G + 114 B,
    / 1000 / 255 / the number of pixels."""
    rgb = np.asarray(Image.open(path).convert("RGB"), np.int64)
    total = int((rgb[..., 0] * 299 + rgb[..., 1] * 587 + rgb[..., 2] * 114).sum())
    return total / 1000 / 255 / (rgb.shape[0] * rgb.shape[1])


def test_a_plugin_protocol_runs_and_is_shown_in_console_tables_and_report(study_inputs, tmp_path, plugin_path):
    (study_inputs / "gen" / "heldout" / "not-an-image").mkdir()
    (study_inputs / "gen" / "heldout" / "not-an-image" / "0.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "res"
    r = _idbench(["run", "--refs", study_inputs / "refs", "--gen", study_inputs / "gen", "--bootstrap", "200",
                  "-o", out], plugin_path, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "brightness" in r.stdout.split("protocols run:")[1].splitlines()[0]
    assert "Brightness (mean luma, 0 black to 1 white):" in r.stdout and "  heldout: " in r.stdout

    rows = list(csv.DictReader(open(out / "per_image.csv", encoding="utf-8")))
    assert rows and all(row["brightness"] for row in rows)
    for row in rows:  # per image: the definition, computed here from the pixels
        assert float(row["brightness"]) == pytest.approx(_luma(Path(row["path"])), abs=1e-12)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sections"]["brightness"]["n_images"] == len(rows)
    mean = summary["methods"]["heldout"]["brightness"]["mean"]
    assert mean == pytest.approx(np.mean([float(row["brightness"]) for row in rows]), abs=1e-12)  # per_image.csv keeps every digit

    md = (out / "tables.md").read_text()
    assert "### Brightness" in md and "| heldout |" in md.split("### Brightness")[1]
    tex = (out / "tables.tex").read_text()
    assert "\\caption{Brightness}" in tex and "tab:idbench-brightness" in tex
    html = (out / "report.html").read_text()
    assert '<section id="brightness"><h2>Brightness</h2>' in html
    assert 'class="brightness-extremes"' in html and "darkest" in html

    listed = _idbench(["metrics"], plugin_path, tmp_path)
    assert "brightness  (brightness; brightness, per image)" in listed.stdout


def test_a_plugin_protocol_that_cannot_load_is_named_and_the_rest_is_shown(study_inputs, tmp_path):
    broken = tmp_path / "site"
    dist = broken / "idbench_broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: idbench-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[idbench.protocols]\nbroken = idbench_broken:PROTOCOL\n")
    (broken / "idbench_broken.py").write_text("raise RuntimeError('the plug-in fails at import')\n")
    out = tmp_path / "res"
    r = _idbench(["run", "--refs", study_inputs / "refs", "--gen", study_inputs / "gen", "--protocols", "similarity",
                  "--bootstrap", "200", "-o", out], broken, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "protocol 'broken'" in r.stderr and "RuntimeError: the plug-in fails at import; left out" in r.stderr
    assert "Similarity to references" in (out / "tables.md").read_text()
    asked = _idbench(["run", "--refs", study_inputs / "refs", "--gen", study_inputs / "gen", "--protocols", "broken",
                      "-o", tmp_path / "res2"], broken, tmp_path)
    assert asked.returncode != 0 and "protocol 'broken' is installed but could not be loaded" in asked.stderr
