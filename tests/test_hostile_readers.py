"""Every reader validates what it reads: study files, published layouts, review sheets, ArcFace
packs, Ray addresses, and nothing written outside the results and cache folders. Each case names
what it cannot use, never a traceback, never a silent drop."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.data.layout import read_layout
from idbench.data.problems import ProblemLog
from tests.conftest import DREAMBOOTH

SUBJECTS = ("can", "clock", "vase")


def _photos(subject):
    return sorted((DREAMBOOTH / "images" / subject).glob("*.jpg"))


@pytest.fixture
def tree(tmp_path):
    for s in SUBJECTS:
        (tmp_path / "refs" / s).mkdir(parents=True)
        (tmp_path / "gen" / "m" / s).mkdir(parents=True)
        for p in _photos(s)[:2]:
            shutil.copy(p, tmp_path / "refs" / s / p.name)
        shutil.copy(_photos(s)[-1], tmp_path / "gen" / "m" / s / "0.jpg")
    return tmp_path


# ----------------------------------------------------------------------------- study files


@pytest.mark.parametrize("body,message", [
    ('distribution = "false"', "study.distribution: expected true or false"),
    ("encoders = []", "study.encoders: the list is empty"),
    ("encoders = 5", "study.encoders: expected a list of strings"),
    ('bootstrap = "many"', "study.bootstrap: expected an integer"),
    ("options = 5", "options: expected a table"),
    ("refs = 123", "study.refs: expected a path"),
    ('protocols = ["similarity", "simlarity"]', "unknown protocol 'simlarity'"),
])
def test_bad_study_files_are_named(tree, body, message):
    lines = ['gen = "gen"'] + ([] if body.startswith("refs") else ['refs = "refs"']) + [body]
    (tree / "s.toml").write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(cli, ["run", str(tree / "s.toml"), "-o", str(tree / "o"), "-q", "--no-report"])
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output


def test_study_file_values_are_used(tree):
    (tree / "s.toml").write_text('refs = "refs"\ngen = "gen"\nseed = 7\nbootstrap = 500\nprotocols = "similarity"\n')
    r = CliRunner().invoke(cli, ["run", str(tree / "s.toml"), "-o", str(tree / "o"), "-q", "--no-report"])
    assert r.exit_code == 0, r.output
    s = json.loads((tree / "o" / "summary.json").read_text())
    assert (s["bootstrap"]["seed"], s["bootstrap"]["n_resamples"]) == (7, 500)
    assert s["sections"]["study"]["protocols_run"] == ["similarity"]


@pytest.mark.parametrize("args,message", [
    (["-e", "nosuch"], "unknown encoder 'nosuch'"),
    (["-e", "arcface:EMPTY"], "holds no .onnx file"),
    (["--ray-address", "1.2.3.4:1"], "ray_address is set but the backend is 'local'"),
])
def test_bad_run_flags_are_one_line(tree, args, message):
    (tree / "EMPTY").mkdir()
    args = [a.replace("EMPTY", str(tree / "EMPTY")) for a in args]
    r = CliRunner().invoke(cli, ["run", "--refs", str(tree / "refs"), "--gen", str(tree / "gen"), "-o", str(tree / "o"),
                                 "-q", *args])
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output


def test_an_arcface_model_the_runtime_cannot_load_is_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from tests.face_packs import write_pack

    pack = write_pack(tmp_path / "pack")
    node = helper.make_node("NoSuchOperator", ["data"], ["fc1"], domain="com.example.nosuch")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [None, 3, 112, 112])],
                              [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [None, 512])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example.nosuch", 1)])
    rec = next(p for p in pack.glob("*.onnx") if "w600k" in p.name)
    onnx.save(model, rec)
    from idbench.encoders import create_encoder

    with pytest.raises(ValueError, match="cannot load this model"):
        create_encoder(f"arcface:{pack}")


def test_an_unreachable_ray_cluster_times_out_with_a_message():
    from idbench.scale import check_reachable

    with pytest.raises(ConnectionError, match="cannot reach the Ray cluster at 127.0.0.1:1 within 2 s"):
        check_reachable("127.0.0.1:1", timeout=2)


# ----------------------------------------------------------------------------- layouts


def test_nearid_tables_pair_by_column_and_name_duplicates(tmp_path):
    ph, other = _photos("can"), _photos("teapot")
    rows = [["id", "category", "img1", "img2", "img3", "nimg1", "nimg2", "nimg3"],
            ["s1", "obj", ph[0], "", ph[2], other[0], other[1], other[2]],  # img2 empty, nimg2 given
            ["s1", "obj", ph[1], ph[2], ph[3], other[0], other[1], other[2]]]  # the same id again
    with open(tmp_path / "t.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    log = ProblemLog()
    s = read_layout(tmp_path / "t.csv", log, role="samples", name="nearid")["samples"]
    assert len(s) == 1 and [v.path for v in s[0].views] == [ph[0], ph[2]]
    assert [d.path for d in s[0].distractors] == [other[0], other[2]]  # nimg3 stays with img3
    kinds = {p.kind for p in log.items}
    assert {"unpaired_distractor", "duplicate"} <= kinds


DREAMBENCH = """subject_name,class
can,can
clock,clock
can,tin

prompt_list = [
'a {0} {1} with {curly} braces and é'.format(unique_token, class_token),
'a {0} {1} in the snow'.format(unique_token, class_token)
]

prompt_list = [
'a {0} {1} wearing a hat'.format(unique_token, class_token)
]
"""


def test_dreambench_prompt_file_oddities(tmp_path):
    ds = tmp_path / "dataset"
    for s in ("can", "clock"):
        (ds / s).mkdir(parents=True)
        shutil.copy(_photos(s)[0], ds / s / "00.jpg")
    (ds / "prompts_and_classes.txt").write_bytes(DREAMBENCH.encode("latin-1"))
    gen = tmp_path / "gen" / "m" / "can"
    gen.mkdir(parents=True)
    shutil.copy(_photos("can")[1], gen / "seed3_00.jpg")
    log = ProblemLog()
    from idbench.study import Study

    data = Study(refs=tmp_path, gen=tmp_path / "gen").load(log)
    assert {r.labels["class"] for r in data.references if r.subject == "can"} == {"can"}
    assert data.generations.records[0].prompt == "a sks can with {curly} braces and é"
    kinds = {p.kind for p in log.items}
    assert {"encoding", "duplicate"} <= kinds


def test_dreambenchpp_oddities_are_named(tmp_path):
    samples = tmp_path / "samples"
    (samples / "good" / "tgt_image" / "object_00_can").mkdir(parents=True)
    shutil.copy(_photos("can")[0], samples / "good" / "tgt_image" / "object_00_can" / "0_0.jpg")
    (samples / "good" / "tgt_image" / "object_00_can" / "deeper").mkdir()
    shutil.copy(_photos("can")[1], samples / "good" / "tgt_image" / "object_00_can" / "deeper" / "3_0.jpg")
    (samples / "no_tgt" / "object_00_can").mkdir(parents=True)
    shutil.copy(_photos("can")[2], samples / "no_tgt" / "object_00_can" / "0_0.jpg")
    log = ProblemLog()
    g = read_layout(samples, log, role="gen", name="dreambenchpp")["generations"]
    assert [r.id for r in g] == ["good/object_00_can/0_0"]
    named = {(Path(p.path).name, p.kind) for p in log.items}
    assert ("no_tgt", "empty_method") in named and ("3_0.jpg", "bad_layout") in named
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "good-cp.json").write_text(json.dumps([1, 2, 3]))
    log = ProblemLog()
    assert read_layout(hr, log, role="human", name="dreambenchpp")["ratings"] == {}
    assert any(p.kind == "bad_rating" and "found a list" in p.reason for p in log.items)


def test_stellar_oddities_are_named(tmp_path):
    ids = tmp_path / "ids" / "id_001"
    ids.mkdir(parents=True)
    shutil.copy(_photos("can")[0], ids / "0.jpg")
    (ids / "0_attributes.json").write_text("{}")
    gen = tmp_path / "gen" / "m"
    gen.mkdir(parents=True)
    Image.open(_photos("can")[1]).convert("RGB").save(gen / "id_001-0-a.jpg")  # JSON beside a .jpg
    (gen / "id_001-0-a.json").write_text(json.dumps({"image_path": "ids/id_001/0.jpg", "detectables": [1, 2]}))
    Image.open(_photos("can")[2]).convert("RGB").save(gen / "id_001-0-b.png")  # no JSON at all
    (gen / "id_001-0-c.json").write_text(json.dumps({"image_path": "ids/id_001/0.jpg"}))  # no image
    log = ProblemLog()
    from idbench.study import Study

    data = Study(refs=tmp_path / "ids", gen=tmp_path / "gen").load(log)
    g = data.generations.records
    assert [r.path.name for r in g] == ["id_001-0-a.jpg"] and g[0].extra["detectables"] == "1;2"
    kinds = {(Path(p.path).name, p.kind) for p in log.items}
    assert ("id_001-0-b.png", "missing_sidecar") in kinds and ("id_001-0-c.json", "missing_image") in kinds


def test_duplicate_header_columns_are_named(tmp_path):
    from idbench.data.manifest import ManifestError, read_rows

    (tmp_path / "m.csv").write_text("path,subject,subject\na.jpg,x,y\n")
    with pytest.raises(ManifestError, match="names column\\(s\\) 'subject' more than once"):
        read_rows(tmp_path / "m.csv")


# ----------------------------------------------------------------------------- review sheets


def _samples(tmp_path):
    rows = [["sample_id", "source", "views", "distractors"]]
    for s in SUBJECTS:
        ph, other = _photos(s), _photos("teapot")
        rows.append([s, "x", ";".join(map(str, ph[:2])), ";".join(map(str, other[:2]))])
    with open(tmp_path / "samples.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    from idbench.data.nearid import load_samples

    return load_samples(tmp_path / "samples.csv")


def test_review_sheet_reads_what_spreadsheets_write_and_names_the_rest(tmp_path):
    from idbench.data.nearid import apply_review

    samples = _samples(tmp_path)
    rows = [["sample_id", "slot", "distractor", "accept"],
            ["can", "0.0", "", "0.0"],  # numbers as a spreadsheet formats them
            ["clock", "1", "", "✗"],
            ["vase", "0", "", "reject"],
            ["vase", "1", "", "no"], ["vase", "1", "", "yes"],  # a conflict: refused, slot kept
            ["nosuch", "0", "", "0"],  # unknown sample
            ["can", "7", "", "0"],  # no such slot
            ["can", "1", "", "maybe"]]  # neither yes nor no
    with open(tmp_path / "review.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    log = ProblemLog()
    counts = apply_review(samples, tmp_path / "review.csv", log)
    by = {s.sample_id: s for s in samples}
    assert by["can"].distractors[0] is None and by["clock"].distractors[1] is None and by["vase"].distractors[0] is None
    assert by["vase"].distractors[1] is not None and by["can"].distractors[1] is not None
    assert counts["removed"] == 3 and counts["conflicting_rows"] == 2 and counts["unknown_rows"] == 3
    assert len([p for p in log.items if p.kind == "review_row"]) == 5


@pytest.mark.parametrize("text", ["sample_id,slot,distractor\ncan,0,\n", "\x00\x01garbage\x02\n", ""])
def test_a_review_file_that_is_not_a_sheet_is_an_error(tmp_path, text):
    from idbench.data.manifest import ManifestError
    from idbench.data.nearid import apply_review

    samples = _samples(tmp_path)
    (tmp_path / "review.csv").write_text(text)
    with pytest.raises(ManifestError, match="not a review sheet|empty manifest"):
        apply_review(samples, tmp_path / "review.csv")


def test_paths_with_semicolons_read_back_as_written(tmp_path):
    from idbench.data.nearid import join_paths, load_samples

    odd = tmp_path / "a;b"
    odd.mkdir()
    views = [shutil.copy(p, odd / p.name) for p in _photos("can")[:2]]
    with open(tmp_path / "s.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sample_id", "views", "distractors"])
        w.writerow(["s", join_paths([str(v) for v in views]), join_paths([str(p) for p in _photos("teapot")[:2]])])
    s = load_samples(tmp_path / "s.csv")[0]
    assert [str(v.path) for v in s.views] == [str(v) for v in views]


# ----------------------------------------------------------------------------- nothing written outside


@pytest.mark.slow
def test_empty_home_run_report_and_agree_write_nothing_outside(tree):
    home = tree / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("IDBENCH_CACHE", "XDG_CACHE_HOME", "MPLCONFIGDIR")}
    env["HOME"] = str(home)
    exe = str(Path(sys.executable).parent / "idbench")
    ratings = tree / "ratings.csv"
    ratings.write_text("image_id,score\n" + "".join(f"m/{s}/0,{k}\n" for k, s in enumerate(SUBJECTS)))
    before = set(tree.rglob("*"))
    for args in (["run", "--refs", "refs", "--gen", "gen", "-o", "out", "-q", "--bootstrap", "200", "--cache-dir", "cache"],
                 ["report", "out"], ["agree", "out", "--human", str(ratings)]):
        p = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=600, cwd=tree)
        assert p.returncode == 0 and "Traceback" not in p.stderr, (args, p.stderr[-2000:])
    new = set(tree.rglob("*")) - before
    # run had --cache-dir; report and agree use the default cache folder ($HOME/.cache/idbench): nothing else
    allowed = (tree / "out", tree / "cache", home / ".cache" / "idbench")
    outside = [q for q in new if not any(q.is_relative_to(a) for a in allowed) and q not in (home / ".cache",)]
    assert outside == [], outside[:5]
