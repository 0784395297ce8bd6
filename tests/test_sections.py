"""Typed sections: every protocol declares the sections it writes as versioned dataclasses, a results
folder reads them back as those types (every field checked), and no reader uses string keys."""

import csv
import json
import re
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from idbench.protocols.registry import available_protocols, get_protocol
from idbench.results import Results, ResultsError, StudySection
from idbench.section import SECTION_TYPES, Section, SectionError
from idbench.study import Study

SRC = Path(__file__).resolve().parents[1] / "src" / "idbench"


def test_every_built_in_protocol_declares_typed_versioned_sections():
    for name in ("similarity", "retrieval", "rca", "nearid", "distribution", "agreement"):
        p = get_protocol(name)
        assert p.sections, f"{name} declares no section type"
        for t in p.sections:
            assert issubclass(t, Section) and is_dataclass(t) and t.NAME and t.VERSION >= 1
            assert SECTION_TYPES[t.NAME] is t
    assert get_protocol("retrieval").sections[0].NAME == "retrieval"
    assert {"study", "content"} <= set(SECTION_TYPES)


@pytest.fixture
def full_study(study_inputs, tmp_path):
    """Every built-in protocol on the DreamBooth photos, with two raters, written to a folder."""
    out_tmp = tmp_path / "first"
    base = Study(refs=study_inputs / "refs", gen=study_inputs / "gen", encoders=["test-color"], protocols=["similarity"],
                 n_resamples=100, progress=False).run()
    base.write(out_tmp, report=False)
    ratings = tmp_path / "ratings.csv"
    with open(ratings, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "rater", "score"])
        for k, r in enumerate(base.results.rows):
            w.writerows([[r["image_id"], "a", k % 5], [r["image_id"], "b", (k * 3) % 5]])
    out = tmp_path / "res"
    res = Study(refs=study_inputs / "refs", gen=study_inputs / "gen", gallery=study_inputs / "gallery.csv",
                samples=study_inputs / "samples.csv", human=ratings, encoders=["test-color"],
                protocols=["similarity", "retrieval", "rca", "nearid", "distribution", "agreement"],
                n_resamples=100, progress=False).run()
    res.write(out, report=True)
    return res.results, out


def test_a_results_folder_reads_back_every_section_as_its_type_with_the_same_values(full_study):
    res, out = full_study
    read = Results.read(out)
    want = {"study", "content", "similarity", "baselines", "retrieval", "rca", "nearid", "distribution", "agreement",
            "examples"}
    assert want <= set(read.sections)
    for name in want:
        sec = read.sections[name]
        assert isinstance(sec, SECTION_TYPES[name]), (name, type(sec))
        assert sec.version == type(sec).VERSION
    written = json.loads((out / "summary.json").read_text())["sections"]
    for name, sec in read.sections.items():  # what is read is what was written: nothing dropped or changed
        again = json.loads(json.dumps(Results(sections={name: sec}).summary_dict()["sections"][name]))
        assert again == written[name], name
    # the values the protocols computed survive the round trip
    assert read.sections["rca"].levels["subject"].acc_real == pytest.approx(res.sections["rca"].levels["subject"].acc_real)
    assert read.sections["nearid"].n_samples == res.sections["nearid"].n_samples == 8
    assert read.sections["retrieval"].levels == ["class", "subject"]
    assert read.study.protocols_run == res.sections["study"].protocols_run


def test_a_damaged_section_is_refused_by_name(full_study):
    _, out = full_study
    path = out / "summary.json"
    s = json.loads(path.read_text())
    s["sections"]["rca"]["levels"]["subject"]["acc_real"] = "high"
    path.write_text(json.dumps(s))
    with pytest.raises(ResultsError, match=r"sections\.rca\.levels\.subject\.acc_real: .*'high'"):
        Results.read(out, check=False)


def test_a_section_from_a_newer_idbench_is_refused_and_an_older_one_is_migrated(full_study):
    _, out = full_study
    path = out / "summary.json"
    s = json.loads(path.read_text())
    old = json.loads(json.dumps(s))
    s["sections"]["nearid"]["version"] = 99
    path.write_text(json.dumps(s))
    with pytest.raises(ResultsError, match=r"sections\.nearid: written by a newer idbench \(section version 99"):
        Results.read(out, check=False)
    # version 1 of the baselines (before typed sections): the columns at the top level, no version
    old["sections"]["baselines"] = dict(old["sections"]["baselines"]["columns"])
    path.write_text(json.dumps(old))
    read = Results.read(out, check=False)
    assert set(read.sections["baselines"].columns) == set(old["sections"]["baselines"])
    assert read.sections["baselines"].version == 2


def test_a_section_no_installed_protocol_declares_stays_the_mapping_it_was_written_as(full_study):
    _, out = full_study
    path = out / "summary.json"
    s = json.loads(path.read_text())
    s["sections"]["someone-elses"] = {"anything": [1, 2]}
    path.write_text(json.dumps(s))
    assert Results.read(out, check=False).sections["someone-elses"] == {"anything": [1, 2]}


def test_section_validation_names_the_field_and_converts_what_json_cannot_hold():
    with pytest.raises(SectionError, match=r"study\.protocols_run"):
        StudySection.from_dict({"protocols_run": "similarity"}, where="study")
    with pytest.raises(SectionError, match="expected a JSON object"):
        StudySection.from_dict([1], where="study")
    assert StudySection.from_dict({"seconds": None}).seconds is None  # NaN is written as null and read as None


def test_no_reader_uses_string_keys_on_a_section():
    """A view, the report, the CLI or a writer reads a section's attributes: ``sections["x"]["key"]``,
    ``sections.get("x").get("key")`` and ``(sections.get("x") or {}).get(...)`` appear nowhere."""
    pattern = re.compile(r"""sections(\.get\(\s*["'][^"']+["']\s*\)|\[\s*["'][^"']+["']\s*\])\s*(\[|\.get\(|or \{\})"""
                         r"""|\(\s*\w*\.?sections\.get\([^)]*\)\s*or\s*\{\}\s*\)\.get""")
    offenders = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_every_section_field_is_typed_for_reading():
    """Each field of each section type has a type annotation pydantic can check (no bare ``dict``)."""
    for name in available_protocols():
        for t in get_protocol(name).sections:
            for f in fields(t):
                assert f.type not in ("dict", "list", dict, list), (t.__name__, f.name)


def test_a_later_run_into_the_same_folder_restates_the_problems_it_meets_again():
    """``Results.merge``: the newer run's problems win for the same input and kind (a FIFO first
    reported as missing, then named for what it is, reads as the newer run says), and problems
    of inputs only the earlier run read are kept."""
    old, new = Results(), Results()
    old.problems.add("g/fifo.jpg", "missing_file", "listed in gallery.csv but does not exist")
    old.problems.add("refs/a.jpg", "corrupt", "cannot decode", "skipped")
    new.problems.add("g/fifo.jpg", "missing_file", "listed in gallery.csv but is a FIFO, not a regular file")
    new.problems.add("gen/x.png", "blank", "a near-uniform image", "flagged")
    merged = old.merge(new).problems.items
    assert [(p.path, p.kind, p.reason) for p in merged] == [
        ("refs/a.jpg", "corrupt", "cannot decode"),
        ("g/fifo.jpg", "missing_file", "listed in gallery.csv but is a FIFO, not a regular file"),
        ("gen/x.png", "blank", "a near-uniform image")]
