"""One study, one folder: `idbench run`, the Study API, merging, tables and the report."""

import csv
import json

import pytest
from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.study import Study
from tests.conftest import write_study_inputs as _inputs  # noqa: E402


def test_run_writes_one_folder_with_every_protocol(tmp_path, dreambooth_rows):
    _inputs(tmp_path, dreambooth_rows)
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["run", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "--gallery",
                                 str(tmp_path / "gallery.csv"), "--samples", str(tmp_path / "samples.csv"), "-o", str(out),
                                 "-q", "--bootstrap", "300"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert {"similarity", "retrieval", "rca", "nearid", "study"} <= set(s["sections"])
    assert s["sections"]["study"]["protocols_run"] == ["similarity", "retrieval", "rca", "nearid"]
    assert "cos[effnet-lite0]" in s["methods"]["heldout"] and "ap:subject[effnet-lite0]" in s["methods"]["heldout"]
    assert any(k.startswith("top1:") for k in s["methods"]["heldout"])
    n = s["sections"]["nearid"]
    assert n["n_samples"] == 8 and n["ssr_ci"][0] <= n["ssr"] <= n["ssr_ci"][1]
    md = (out / "tables.md").read_text()
    for title in ("Similarity to references", "Retrieval", "Relative Classification Accuracy", "NearID"):
        assert title in md
    assert "| chance |" in md
    tex = (out / "tables.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and tex.count("\\begin{table}") == 4
    html = (out / "report.html").read_text()
    assert "NearID" in html and 'id="retrieval-table"' in html and 'id="rca-table"' in html
    pq = pytest.importorskip("pyarrow.parquet")
    t = pq.read_table(out / "per_image.parquet")
    assert t.num_rows == 21 and str(t.schema.field("cos[effnet-lite0]").type) == "double"
    c = CliRunner().invoke(cli, ["compare", str(out), "--bootstrap", "200"], catch_exceptions=False)
    assert c.exit_code == 0  # one method: every metric says there is nothing to compare
    assert "fewer than 2 methods" in c.output


def test_single_commands_merge_into_one_folder(tmp_path, dreambooth_rows):
    _inputs(tmp_path, dreambooth_rows)
    out = tmp_path / "res"
    common = ["-o", str(out), "-q", "--bootstrap", "200", "--no-report"]
    assert CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), *common],
                              catch_exceptions=False).exit_code == 0
    assert CliRunner().invoke(cli, ["rank", "--gallery", str(tmp_path / "gallery.csv"), "--gen", str(tmp_path / "gen"),
                                    *common], catch_exceptions=False).exit_code == 0
    r = CliRunner().invoke(cli, ["nearid", "eval", "--samples", str(tmp_path / "samples.csv"), "-o", str(out), "-q"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert "cos[effnet-lite0]" in s["methods"]["heldout"] and "ap:subject[effnet-lite0]" in s["methods"]["heldout"]
    assert {"retrieval", "nearid"} <= set(s["sections"])
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert len(rows) == 21 and all(x["cos[effnet-lite0]"] and x["ap:subject[effnet-lite0]"] for x in rows)
    r = CliRunner().invoke(cli, ["report", str(out), "--format", "tex"], catch_exceptions=False)
    assert r.exit_code == 0 and (out / "tables.tex").is_file()


def test_study_api_and_toml(tmp_path, dreambooth_rows):
    _inputs(tmp_path, dreambooth_rows)
    (tmp_path / "study.toml").write_text('refs = "refs"\ngen = "gen"\ngallery = "gallery.csv"\nprotocols = ["similarity", '
                                         '"retrieval"]\nbootstrap = 200\n[options.retrieval]\nlevels = ["subject"]\n')
    study = Study.from_toml(tmp_path / "study.toml", progress=False)
    res = study.run()
    assert res.sections["study"].protocols_run == ["similarity", "retrieval"]
    assert res.sections["retrieval"].levels == ["subject"]
    df = res.to_pandas()
    assert len(df) == 21 and df["cos[effnet-lite0]"].between(-1, 1).all()
    assert "Similarity to references" in res.tables("md")
    out = res.write(tmp_path / "api")
    assert (out / "report.html").is_file() and (out / "tables.md").is_file()
    with pytest.raises(ValueError, match="unknown key"):
        (tmp_path / "bad.toml").write_text('refs = "refs"\nrefz = "x"\n')
        Study.from_toml(tmp_path / "bad.toml")
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "study.toml"), "-o", str(tmp_path / "cli"), "-q", "--no-report"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and "protocols run: similarity, retrieval" in r.output
