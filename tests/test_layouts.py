"""Published benchmark layouts, each written here in its exact published shape from real photos,
read as they are (auto-detected, and with --layout)."""

import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.data.layout import detect_layout, read_layout
from idbench.data.problems import ProblemLog
from idbench.study import Study
from tests.conftest import DREAMBOOTH


def _photos(rows, subject):
    return [DREAMBOOTH / r["path"] for r in rows if r["subject"] == subject]


DREAMBENCH_FILE = """Classes

subject_name,class
can,can
clock,clock
vase,vase

Prompts

Object Prompts

prompt_list = [
'a {0} {1} in the jungle'.format(unique_token, class_token),
'a {0} {1} in the snow'.format(unique_token, class_token),
'a red {0} {1}'.format(unique_token, class_token)
]

Live Subject Prompts

prompt_list = [
'a {0} {1} wearing a red hat'.format(unique_token, class_token),
'a {0} {1} in a chef outfit'.format(unique_token, class_token)
]
"""


def test_dreambench(tmp_path, dreambooth_rows):
    ds = tmp_path / "dreambooth" / "dataset"
    for s in ("can", "clock", "vase"):
        (ds / s).mkdir(parents=True)
        for k, p in enumerate(_photos(dreambooth_rows, s)[:3]):
            shutil.copy(p, ds / s / f"{k:02d}.jpg")
    (ds / "prompts_and_classes.txt").write_text(DREAMBENCH_FILE)
    gen = tmp_path / "samples"
    for s in ("can", "clock"):
        (gen / "dreambooth" / s).mkdir(parents=True)
        shutil.copy(_photos(dreambooth_rows, s)[3], gen / "dreambooth" / s / "prompt02_seed0.jpg")
        shutil.copy(_photos(dreambooth_rows, s)[4], gen / "dreambooth" / s / "01.jpg")
    (gen / "dreambooth" / "vase" / "00").mkdir(parents=True)  # per-prompt folder: <subject>/<prompt>/<k>.jpg
    shutil.copy(_photos(dreambooth_rows, "vase")[3], gen / "dreambooth" / "vase" / "00" / "seed.jpg")
    assert detect_layout(tmp_path / "dreambooth", "refs") == "dreambench"
    log = ProblemLog()
    data = Study(refs=tmp_path / "dreambooth", gen=gen).load(log)
    assert {r.labels["class"] for r in data.references} == {"can", "clock", "vase"}
    prompts = {(g.subject, g.path.name): g.prompt for g in data.generations}
    assert prompts[("can", "prompt02_seed0.jpg")] == "a red sks can"
    assert prompts[("clock", "01.jpg")] == "a sks clock in the snow"
    assert prompts[("vase", "seed.jpg")] == "a sks vase in the jungle"
    # the whole study from the published layout
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["run", "--refs", str(tmp_path / "dreambooth"), "--gen", str(gen), "-o", str(out), "-q",
                                 "--bootstrap", "200", "--no-report"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert {x["prompt"] for x in rows} == {"a red sks can", "a sks can in the snow", "a red sks clock", "a sks clock in the snow",
                                          "a sks vase in the jungle"}


def _dreambenchpp(tmp_path, rows):
    data = tmp_path / "dbpp" / "data"
    subjects = {("object", "00"): ("can", "can"), ("object", "01"): ("clock", "clock"), ("animal", "00"): ("vase", "vase")}
    for (cat, idx), (name, src) in subjects.items():
        (data / "images" / cat).mkdir(parents=True, exist_ok=True)
        (data / "captions" / cat).mkdir(parents=True, exist_ok=True)
        shutil.copy(_photos(rows, src)[0], data / "images" / cat / f"{idx}.jpg")
        (data / "captions" / cat / f"{idx}.txt").write_text(f"{name}\n" + "\n".join(f"{name} prompt {p}" for p in range(9)))
    samples = tmp_path / "dbpp" / "samples"
    for method in ("emu2", "blip_diffusion"):
        for (cat, idx), (name, src) in subjects.items():
            cid = f"{'live_subject_' if cat == 'animal' else ''}{cat}_{idx}_{name}"
            for part in ("src_image", "tgt_image", "text"):
                (samples / method / part / cid).mkdir(parents=True, exist_ok=True)
            for p in range(2):
                shutil.copy(_photos(rows, src)[0], samples / method / "src_image" / cid / f"{p}_0.jpg")
                shutil.copy(_photos(rows, src)[1 + p], samples / method / "tgt_image" / cid / f"{p}_0.jpg")
                (samples / method / "text" / cid / f"{p}_0.txt").write_text(f"{name} prompt {p}")
    hr = tmp_path / "dbpp" / "data_human_rating" / "merged_data"
    for g, off in (("group1", 0), ("group2", 1)):
        (hr / g).mkdir(parents=True)
        for method in ("emu2", "blip_diffusion"):
            scores = {f"{'live_subject_animal_00_vase' if k == 2 else ['object_00_can', 'object_01_clock'][k]}-{p}": (k + p + off) % 5
                      for k in range(3) for p in range(2)}
            (hr / g / f"{method}-cp.json").write_text(json.dumps(scores))
    gpt = tmp_path / "dbpp" / "data_gpt_rating" / "concept_preservation_full" / "emu2"
    gpt.mkdir(parents=True)
    (gpt / "0.json").write_text(json.dumps({"method": "emu2", "collection_id": "object_00_can", "prompt_index": 1, "score": 3}))
    return tmp_path / "dbpp"


def test_dreambenchpp(tmp_path, dreambooth_rows):
    root = _dreambenchpp(tmp_path, dreambooth_rows)
    assert detect_layout(root, "refs") == "dreambenchpp" and detect_layout(root / "samples", "gen") == "dreambenchpp"
    assert detect_layout(root / "data_human_rating", "human") == "dreambenchpp"
    data = Study(refs=root, gen=root / "samples", human=root / "data_human_rating").load(ProblemLog())
    assert {r.subject for r in data.references} == {"object_00_can", "object_01_clock", "live_subject_animal_00_vase"}
    assert {r.labels["class"] for r in data.references} == {"object", "animal"}
    g = {x.id: x for x in data.generations}
    assert g["emu2/object_01_clock/1_0"].prompt == "clock prompt 1" and g["emu2/object_01_clock/1_0"].subject == "object_01_clock"
    assert data.ratings["emu2/object_00_can/1_0"] == {"group1": 1.0, "group2": 2.0}
    assert data.extra_metrics["gpt_cp"]["emu2/object_00_can/1_0"] == 3.0
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["run", "--refs", str(root), "--gen", str(root / "samples"), "--human",
                                 str(root / "data_human_rating"), "-o", str(out), "-q", "--bootstrap", "200", "--no-report"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert "agreement" in s["sections"] and s["sections"]["agreement"]["raters"] == ["group1", "group2"]
    assert "gpt_cp" in s["metrics"] and "cos[effnet-lite0]" in s["sections"]["agreement"]["metrics"]


def test_stellar_pairs_by_image_path_not_order(tmp_path, dreambooth_rows):
    ids = tmp_path / "stellar" / "identities"
    for ident, src in (("id_001", "can"), ("id_002", "clock")):
        (ids / ident).mkdir(parents=True)
        for k, p in enumerate(_photos(dreambooth_rows, src)[:2]):
            shutil.copy(p, ids / ident / f"{k}.jpg")
            (ids / ident / f"{k}_attributes.json").write_text(json.dumps({"Male": 1, "Young": -1}))
        (ids / ident / "prompt.json").write_text(json.dumps({"prompts": ["a photo of {}"], "detectables": [["hat"]]}))
    gen = tmp_path / "stellar" / "gen" / "methodA"
    gen.mkdir(parents=True)
    # the names sort one way, the sources point the other way: pairing must follow image_path
    pairs = [("id_001-0-a_hat.png", "id_002/1.jpg", "clock"), ("id_002-1-a_hat.png", "id_001/0.jpg", "can")]
    from PIL import Image

    for name, src, photo in pairs:
        Image.open(_photos(dreambooth_rows, photo)[3]).convert("RGB").save(gen / name)
        (gen / name).with_suffix(".json").write_text(json.dumps({"image_path": f"identities/{src}", "prompt": "a hat",
                                                                  "detectables": ["hat"]}))
    assert detect_layout(ids, "refs") == "stellar" and detect_layout(gen.parent, "gen") == "stellar"
    data = Study(refs=ids, gen=gen.parent).load(ProblemLog())
    g = {x.path.name: x for x in data.generations}
    assert g["id_001-0-a_hat.png"].subject == "id_002" and g["id_001-0-a_hat.png"].extra["input_reference"] == "1.jpg"
    assert g["id_002-1-a_hat.png"].subject == "id_001" and g["id_002-1-a_hat.png"].method == "methodA"
    assert g["id_002-1-a_hat.png"].extra["detectables"] == "hat"


@pytest.mark.parametrize("split", [False, True])
def test_nearid_tables(tmp_path, dreambooth_rows, split):
    pos = [["id", "category", "img1", "img2", "img3"]]
    neg = [["id", "nimg1", "nimg2", "nimg3"]]
    for s in ("can", "clock", "vase"):
        ph = _photos(dreambooth_rows, s)
        other = _photos(dreambooth_rows, "teapot")
        pos.append([s, "object", *map(str, ph[:3])])
        neg.append([s, *map(str, other[:3])])
    if split:
        d = tmp_path / "nearid"
        d.mkdir()
        csv.writer(open(d / "positives.csv", "w", newline="")).writerows(pos)
        csv.writer(open(d / "distractors.csv", "w", newline="")).writerows(neg)
        path = d
    else:
        path = tmp_path / "nearid.csv"
        csv.writer(open(path, "w", newline="")).writerows([p + n[1:] for p, n in zip(pos, neg)])
    assert detect_layout(path, "samples") == "nearid"
    samples = read_layout(path, ProblemLog(), role="samples")["samples"]
    assert len(samples) == 3 and all(len(s.views) == 3 and all(d is not None for d in s.distractors) for s in samples)
    assert samples[0].distractors[1].path == _photos(dreambooth_rows, "teapot")[1]
    r = CliRunner().invoke(cli, ["nearid", "eval", "--samples", str(path), "-o", str(tmp_path / "o"), "-q"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and "3 samples" in r.output, r.output


def test_fpr(tmp_path, dreambooth_rows):
    root = tmp_path / "fpr" / "data"
    tables = {"train": [], "gallery": [], "generated_images": []}
    for species, name in (("toy", "duck_toy"), ("toy", "robot_toy"), ("bowl", "berry_bowl")):
        ph = _photos(dreambooth_rows, name)
        for part, sl in (("train", ph[:2]), ("gallery", ph[2:4]), ("generated_images", ph[4:5])):
            d = root / species / name / part
            d.mkdir(parents=True)
            for p in sl:
                shutil.copy(p, d / p.name)
                tables[part].append([name, str((d / p.name).relative_to(tmp_path / "fpr")), species])
    for part, fname in (("train", "train_data.csv"), ("gallery", "gallery_data.csv"), ("generated_images", "generated_data.csv")):
        with open(tmp_path / "fpr" / fname, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", "file_path", "species"])
            w.writerows(tables[part])
    fpr = tmp_path / "fpr"
    assert detect_layout(fpr, "refs") == "fpr" and detect_layout(fpr, "gallery") == "fpr"
    data = Study(refs=fpr, gen=fpr, gallery=fpr).load(ProblemLog())
    assert data.gallery.levels == ("species", "subject") and len(data.gallery) == 6
    assert {g.method for g in data.generations} == {"generated"} and len(data.references) == 6
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["run", "--refs", str(fpr), "--gen", str(fpr), "--gallery", str(fpr), "--layout", "fpr",
                                 "-o", str(out), "-q", "--bootstrap", "200", "--no-report"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["sections"]["retrieval"]["levels"] == ["species", "subject"]
