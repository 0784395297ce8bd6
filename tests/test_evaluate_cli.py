import csv
import json
import shutil

import numpy as np
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH


def _make_tree(tmp_path, rows):
    """refs: 2 photos per subject of 4 subjects; gen/good = other photos of the same subject,
    gen/wrong = photos of another subject; plus broken inputs."""
    by_subject = {}
    for r in rows:
        by_subject.setdefault(r["subject"], []).append(r["path"])
    subjects = ["backpack", "can", "clock", "teapot"]
    for s in subjects:
        for i, p in enumerate(by_subject[s][:2]):
            (tmp_path / "refs" / s).mkdir(parents=True, exist_ok=True)
            shutil.copy(DREAMBOOTH / p, tmp_path / "refs" / s / f"{i}.jpg")
        other = subjects[(subjects.index(s) + 1) % len(subjects)]
        for i in range(2):
            for method, src in (("good", by_subject[s][2 + i]), ("wrong", by_subject[other][2 + i])):
                d = tmp_path / "gen" / method / s
                d.mkdir(parents=True, exist_ok=True)
                shutil.copy(DREAMBOOTH / src, d / f"p{i}.jpg")
                (d / f"p{i}.txt").write_text(f"a photo of sks {s} prompt {i}")
    # bad inputs: truncated jpeg, a text file, an unknown subject
    data = (tmp_path / "gen/good/can/p0.jpg").read_bytes()
    (tmp_path / "gen/good/can/p9.jpg").write_bytes(data[:300])
    (tmp_path / "gen/good/can/notes.csv").write_text("x")
    (tmp_path / "gen/good/unicorn").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "gen/good/unicorn/p0.png")
    return subjects


def test_evaluate_end_to_end(tmp_path, dreambooth_rows):
    _make_tree(tmp_path, dreambooth_rows)
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"),
                                 "-e", "test-color", "-o", str(out), "-q", "--bootstrap", "200", "--no-report"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    summary = json.loads((out / "summary.json").read_text())
    m = "cos[test-color]"
    assert set(summary["methods"]) == {"good", "wrong"}
    good, wrong = summary["methods"]["good"][m], summary["methods"]["wrong"][m]
    assert good["mean"] > wrong["mean"]  # the subject's own photos resemble its references more than another's
    assert good["n_images"] == 8 and good["n_subjects"] == 4
    assert good["ci_low"] <= good["mean"] <= good["ci_high"]
    kinds = summary["problems"]["by_kind"]
    assert kinds.get("unknown_subject") == 1 and kinds.get("not_image") == 1 and kinds.get("corrupt") == 1
    with open(out / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 17  # 16 scored + the truncated file, kept with an empty score
    (broken,) = [x for x in rows if x["image_id"] == "good/can/p9"]
    assert broken[m] == ""
    # per-image value equals an independent computation from the encoder
    from idbench.data.images import load_image
    from tests.conftest import ColorHistEncoder

    enc = ColorHistEncoder()
    row = next(x for x in rows if x["image_id"] == "good/clock/p1")
    g = enc.embed_images([load_image(row["path"])])[0]
    refs = enc.embed_images([load_image(p) for p in sorted((tmp_path / "refs/clock").iterdir())])
    assert abs(float(row[m]) - float(np.mean(refs @ g))) < 1e-4
    assert row["prompt"] == "a photo of sks clock prompt 1"
    # the method mean is the plain mean of the per-image values
    vals = [float(x[m]) for x in rows if x["method"] == "good" and x[m]]
    assert abs(np.mean(vals) - good["mean"]) < 1e-5


def test_evaluate_bad_paths_give_clear_errors(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "gen.csv").write_text("path,subject\n")
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen.csv"),
                                 "-e", "test-color", "-q"])
    assert r.exit_code != 0 and "no usable reference images" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path), "--gen", str(tmp_path), "-e", "nosuch"])
    assert r.exit_code != 0 and "Traceback" not in r.output and ("nosuch" in r.output or "no usable" in r.output), r.output


def test_unknown_encoder_message(tmp_path, dreambooth_rows):
    _make_tree(tmp_path, dreambooth_rows)
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"),
                                 "-e", "nosuch-encoder", "-q"])
    assert r.exit_code == 1 and "unknown encoder 'nosuch-encoder'" in r.output


def test_help_for_every_command():
    from idbench.cli.main import COMMANDS

    for name in COMMANDS:
        r = CliRunner().invoke(cli, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage:" in r.output
