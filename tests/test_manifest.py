import json

import pytest
from PIL import Image

from idbench.data.manifest import ManifestError, infer_levels, load_gallery, load_generations, load_references
from idbench.data.problems import ProblemLog
from tests.conftest import DREAMBOOTH


def _img(path, color=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), color).save(path)
    return path


def test_reference_folder(tmp_path):
    _img(tmp_path / "refs/dog/a.jpg"); _img(tmp_path / "refs/dog/b.png"); _img(tmp_path / "refs/cat/x.jpg")
    (tmp_path / "refs/cat/readme.md").write_text("not an image")
    (tmp_path / "refs/empty").mkdir()
    log = ProblemLog()
    refs = load_references(tmp_path / "refs", log)
    assert refs.subjects == ["cat", "dog"]
    assert sorted(r.id for r in refs) == ["cat/x", "dog/a", "dog/b"]
    assert log.counts() == {"not_image": 1, "empty": 1}
    assert any("readme.md" in p.path for p in log.items)


def test_duplicate_names_in_folder(tmp_path):
    _img(tmp_path / "refs/dog/a.jpg"); _img(tmp_path / "refs/dog/a.png")
    log = ProblemLog()
    refs = load_references(tmp_path / "refs", log)
    assert len(refs) == 1 and log.counts() == {"duplicate": 1}


def test_generation_folder_with_methods_and_sidecars(tmp_path):
    _img(tmp_path / "refs/dog/a.jpg")
    _img(tmp_path / "gen/m1/dog/p0.png"); (tmp_path / "gen/m1/dog/p0.txt").write_text("a sks dog on the beach\n")
    _img(tmp_path / "gen/m2/dog/p0.png"); (tmp_path / "gen/m2/dog/p0.json").write_text(json.dumps({"prompt": "a dog in snow"}))
    _img(tmp_path / "gen/m2/cat/p0.png")  # no references for cat
    log = ProblemLog()
    refs = load_references(tmp_path / "refs", log)
    gens = load_generations(tmp_path / "gen", log, references=refs)
    assert gens.methods == ["m1", "m2"]
    by_id = {g.id: g for g in gens}
    assert by_id["m1/dog/p0"].prompt == "a sks dog on the beach"
    assert by_id["m2/dog/p0"].prompt == "a dog in snow"
    assert "m2/cat/p0" not in by_id
    (p,) = [p for p in log.items if p.kind == "unknown_subject"]
    assert "cat" in p.reason and "cat/p0.png" in p.path and "dog" in p.reason


def test_single_method_folder(tmp_path):
    _img(tmp_path / "mymethod/dog/p0.png")
    gens = load_generations(tmp_path / "mymethod")
    assert gens.methods == ["mymethod"] and gens.records[0].subject == "dog"


def test_generation_manifest_pairs_by_name_not_order(tmp_path):
    _img(tmp_path / "g/1.png", (255, 0, 0)); _img(tmp_path / "g/2.png", (0, 255, 0))
    (tmp_path / "gen.csv").write_text("path,method,subject,prompt\ng/2.png,m,dog,green\ng/1.png,m,cat,red\n")
    gens = load_generations(tmp_path / "gen.csv")
    by_path = {g.path.name: g for g in gens}
    assert by_path["1.png"].subject == "cat" and by_path["1.png"].prompt == "red"
    assert by_path["2.png"].subject == "dog"


def test_manifest_missing_columns_is_clear(tmp_path):
    (tmp_path / "gen.csv").write_text("path,subject\na.png,dog\n")
    with pytest.raises(ManifestError, match="missing required column.*method"):
        load_generations(tmp_path / "gen.csv")


def test_manifest_missing_file_and_duplicates(tmp_path):
    _img(tmp_path / "a.png")
    (tmp_path / "refs.jsonl").write_text(
        '{"path": "a.png", "subject": "dog"}\n{"path": "a.png", "subject": "dog"}\n{"path": "b.png", "subject": "dog"}\n'
    )
    log = ProblemLog()
    refs = load_references(tmp_path / "refs.jsonl", log)
    assert len(refs) == 1 and log.counts() == {"duplicate": 1, "missing_file": 1}


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_a_listed_entry_that_is_not_a_file_is_named_for_what_it_is(tmp_path):
    import os

    _img(tmp_path / "a.png")
    os.mkfifo(tmp_path / "fifo.png")  # a received gallery: a FIFO, a folder and a broken link where photos were
    (tmp_path / "folder.png").mkdir()
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    rows = "".join(f'{{"path": "{n}", "subject": "dog"}}\n' for n in ("a.png", "fifo.png", "folder.png", "link.png", "b.png"))
    (tmp_path / "refs.jsonl").write_text(rows)
    log = ProblemLog()
    refs = load_references(tmp_path / "refs.jsonl", log)
    assert [r.path.name for r in refs] == ["a.png"]
    why = {p.path.rsplit("/", 1)[-1]: p.reason for p in log.items}
    assert why == {"fifo.png": "listed in refs.jsonl but is a FIFO, not a regular file",
                   "folder.png": "listed in refs.jsonl but is a folder, not a regular file",
                   "link.png": "listed in refs.jsonl but does not exist (a broken link)",
                   "b.png": "listed in refs.jsonl but does not exist"}


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "refs").mkdir()
    with pytest.raises(ManifestError, match="no usable reference"):
        load_references(tmp_path / "refs")


def test_gallery_levels_inferred_on_real_dataset(dreambooth_rows):
    gal = load_gallery(DREAMBOOTH / "manifest.csv")
    assert list(gal.levels) == ["class", "subject"]
    assert len(gal) == len(dreambooth_rows) == 111
    assert len(gal.subjects) == 21
    # each subject has exactly one class
    classes = {}
    for r in gal:
        classes.setdefault(r.subject, set()).add(r.label("class"))
    assert all(len(v) == 1 for v in classes.values())


def test_infer_levels_orders_coarse_to_fine():
    rows = [
        {"path": f"{i}_{v}.png", "subject": f"s{i}", "category": "bird" if i < 4 else "car", "subclass": f"sc{i // 2}",
         "view": str(v)}
        for i in range(8)
        for v in range(2)
    ]
    assert infer_levels(rows) == ["category", "subclass", "subject"]


def test_gallery_folder_tree(tmp_path):
    _img(tmp_path / "gal/toy/bear/1.jpg"); _img(tmp_path / "gal/toy/duck/1.jpg"); _img(tmp_path / "gal/can/can1/1.jpg")
    gal = load_gallery(tmp_path / "gal", levels=["class", "subject"])
    assert list(gal.levels) == ["class", "subject"]
    assert sorted(gal.labels_at("class")) == ["can", "toy", "toy"]


def test_gallery_copy_of_real_dataset(tmp_path, dreambooth_rows):
    # a manifest in another folder with absolute paths
    rows = dreambooth_rows[:10]
    lines = ["path,subject,class"] + [f"{DREAMBOOTH / r['path']},{r['subject']},{r['class']}" for r in rows]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    assert len(load_gallery(tmp_path / "m.csv")) == 10
