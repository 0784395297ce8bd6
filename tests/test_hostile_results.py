"""Results folders that never lose, mix or misread data: another study, damaged files, two writers
at once, a kill at every step of a write, hostile names, files replaced by folders, and a report
that reads nothing the folder does not hold."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.results import Results, ResultsError
from tests.conftest import DREAMBOOTH

SUBJECTS = ("can", "clock", "vase", "teapot")


def _world(root: Path, ref_offset: int = 0) -> Path:
    """refs/<s>/ two photos (from ``ref_offset``), gen/<m>/<s>/ one other photo for m1 and m2."""
    for s in SUBJECTS:
        photos = sorted((DREAMBOOTH / "images" / s).glob("*.jpg"))
        (root / "refs" / s).mkdir(parents=True, exist_ok=True)
        for p in photos[ref_offset:ref_offset + 2]:
            shutil.copy(p, root / "refs" / s / p.name)
        for k, m in enumerate(("m1", "m2")):
            (root / f"gen_{m}" / m / s).mkdir(parents=True, exist_ok=True)
            shutil.copy(photos[-1 - k], root / f"gen_{m}" / m / s / "0.jpg")
    return root


def _evaluate(root, out, method="m1", *extra, refs="refs"):
    return CliRunner().invoke(cli, ["evaluate", "--refs", str(root / refs), "--gen", str(root / f"gen_{method}"), "-o",
                                    str(out), "-q", "--no-report", "--bootstrap", "200", *extra], catch_exceptions=False)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "idbench.cli.main", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_another_study_is_refused_and_the_folder_kept(tmp_path):
    root = _world(tmp_path)
    out = tmp_path / "out"
    assert _evaluate(root, out).exit_code == 0
    before = (out / "summary.json").read_bytes()
    # same method and subject names, other references: refused, nothing changed
    other = _world(tmp_path / "other", ref_offset=1)
    r = _evaluate(other, out, "m1")
    assert r.exit_code != 0 and "holds another study" in r.output and "references differ" in r.output
    assert (out / "summary.json").read_bytes() == before
    # other options for the same protocol: refused too
    r = _evaluate(root, out, "m2", "--no-text")
    assert r.exit_code != 0 and "similarity options differ" in r.output
    # the same study adds a method; --replace writes over
    assert _evaluate(root, out, "m2").exit_code == 0
    assert set(Results.read(out).methods) == {"m1", "m2"}
    assert _evaluate(other, out, "m1", "--replace").exit_code == 0
    assert set(Results.read(out).methods) == {"m1"}


def test_damaged_files_are_named_never_silently_replaced(tmp_path):
    root = _world(tmp_path)
    out = tmp_path / "out"
    assert _evaluate(root, out).exit_code == 0
    text = (out / "summary.json").read_text()
    (out / "summary.json").write_text(text[: len(text) // 2])
    r = _evaluate(root, out, "m2")
    assert r.exit_code != 0 and "summary.json" in r.output and "--replace" in r.output
    assert (out / "summary.json").read_text() == text[: len(text) // 2]  # not replaced
    assert _evaluate(root, out, "m1", "--replace").exit_code == 0
    # per_image.csv cut short: the manifest's checksum names it
    rows = (out / "per_image.csv").read_text()
    (out / "per_image.csv").write_text(rows[: len(rows) - 40])
    with pytest.raises(ResultsError, match="per_image.csv does not match"):
        Results.read(out)
    r = CliRunner().invoke(cli, ["report", str(out)])
    assert r.exit_code != 0 and "inconsistent results folder" in r.output and "Traceback" not in r.output


def test_a_row_cut_short_is_refused_without_a_manifest(tmp_path):
    root = _world(tmp_path)
    out = tmp_path / "out"
    assert _evaluate(root, out).exit_code == 0
    (out / "idbench-manifest.json").unlink()  # a hand-made or older folder
    rows = (out / "per_image.csv").read_text().splitlines()
    (out / "per_image.csv").write_text("\n".join(rows[:-1] + [rows[-1].split(",")[0]]) + "\n")
    with pytest.raises(ResultsError, match="line 5 does not have the header's"):
        Results.read(out)


def test_huge_cells_and_folders_in_place_of_files(tmp_path):
    root = _world(tmp_path)
    (root / "gen_m1" / "m1" / "can" / "0.txt").write_text("a " * 100_000)  # a 200,000-character prompt
    out = tmp_path / "out"
    assert _evaluate(root, out).exit_code == 0
    assert len(Results.read(out).rows[0]["prompt"]) > 131_072
    (out / "tables.md").unlink()
    (out / "tables.md").mkdir()
    r = _evaluate(root, out, "m2")
    assert r.exit_code != 0 and "tables.md is a folder" in r.output and "Traceback" not in r.output


def test_two_writers_one_folder_nothing_lost(tmp_path):
    root = _world(tmp_path)
    for round_ in range(2):
        out = tmp_path / f"out{round_}"
        procs = [subprocess.Popen([sys.executable, "-m", "idbench.cli.main", "evaluate", "--refs", str(root / "refs"),
                                   "--gen", str(root / f"gen_{m}"), "-o", str(out), "-q", "--no-report", "--bootstrap",
                                   "200"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for m in ("m1", "m2")]
        for p in procs:
            _, err = p.communicate(timeout=600)
            assert p.returncode == 0, err
        res = Results.read(out)
        assert set(res.methods) == {"m1", "m2"}, round_
        assert {r["method"] for r in res.rows} == {"m1", "m2"} and len(res.rows) == 2 * len(SUBJECTS)


def test_a_kill_at_any_step_leaves_the_old_folder_or_names_it(tmp_path):
    root = _world(tmp_path)
    first = tmp_path / "first"
    assert _evaluate(root, first).exit_code == 0
    outcomes = set()
    for n in range(1, 6):
        out = tmp_path / f"kill{n}"
        shutil.copytree(first, out)
        p = _cli("evaluate", "--refs", root / "refs", "--gen", root / "gen_m2", "-o", out, "-q", "--no-report",
                 "--bootstrap", "200", env={"IDBENCH_TEST_KILL_AFTER": str(n)})
        try:
            res = Results.read(out)
            methods = set(res.methods)
            assert methods in ({"m1"}, {"m1", "m2"}), methods
            assert {r["method"] for r in res.rows} == methods  # rows and summary agree
            outcomes.add("complete" if p.returncode == 0 else "old")
        except ResultsError as e:
            assert p.returncode != 0 and "inconsistent results folder" in str(e)
            outcomes.add("named")
            assert "last complete state is kept" in str(e)
            # re-running into it rolls back to the last complete state, then adds the new method: nothing lost
            r = _evaluate(root, out, "m2")
            assert r.exit_code == 0, r.output
            res = Results.read(out)
            assert set(res.methods) == {"m1", "m2"} and {r["method"] for r in res.rows} == {"m1", "m2"}
            assert not (out / ".idbench-last-complete").exists()
    assert "named" in outcomes and "complete" in outcomes


def test_report_reads_only_what_the_folder_holds(tmp_path, dreambooth_rows):
    """A shared folder whose summary.json names a private photo elsewhere on disk: the report
    never reads it; the thumbnails the study stored are used instead."""
    from tests.conftest import write_study_inputs

    write_study_inputs(tmp_path, dreambooth_rows)
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["rank", "--gallery", str(tmp_path / "gallery.csv"), "--gen", str(tmp_path / "gen"),
                                 "-o", str(out), "-q", "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert any((out / "thumbs").glob("*.jpg"))
    s = json.loads((out / "summary.json").read_text())
    private = tmp_path / "private.jpg"
    shutil.copy(DREAMBOOTH / dreambooth_rows[0]["path"], private)
    for e in s["sections"]["retrieval"]["examples"]:
        e["query_path"] = str(private)
        e["query_thumb"] = "../private.jpg"
    (out / "summary.json").write_text(json.dumps(s))
    (out / "idbench-manifest.json").unlink()
    import base64

    from idbench.report.html import render_report

    html = render_report(out).read_text()
    assert base64.b64encode(private.read_bytes()[:300]).decode()[:200] not in html
    assert html.count('alt="query"') == 0  # the altered examples show no image at all


def test_names_with_line_breaks_and_markup_stay_in_their_cells(tmp_path):
    from idbench.report.tables import render_tables

    res = Results(command="x")
    res.add_metric("cos[x]", "cos")
    evil = "a\nb\r\n\nc <script>alert(1)</script> | & % _ \x07"
    for s in range(3):
        res.rows.append({"method": evil, "subject": f"s{s}", "image_id": str(s), "cos[x]": 0.5})
    res.summarise(n_resamples=100)
    md, tex = render_tables(res, "md"), render_tables(res, "tex")
    body = tex[tex.index("\\begin{tabular}"):tex.index("\\end{tabular}")]
    assert "\n\n" not in body and "\x07" not in tex
    row = next(x for x in md.splitlines() if x.startswith("| a"))
    assert "<script>" not in md and "&lt;script&gt;" in row and row.count(" | ") == 2  # method, counts, cos


def test_a_damaged_agreement_points_file_draws_what_it_can(tmp_path):
    from idbench.protocols.agreement_views import agreement_plots as _agreement_plots

    (tmp_path / "agreement_points.csv").write_text("metric,method,metric_score,human_score\ncos,m,0.5,3\ncos,m,abc,4\n"
                                                   "cos,m,nan,2\nbroken\n")
    plots = _agreement_plots(tmp_path / "agreement_points.csv")
    assert [p["metric"] for p in plots] == ["cos"]
