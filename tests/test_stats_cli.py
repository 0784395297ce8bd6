"""`idbench compare` and `idbench agree` on a results folder written by Results."""

import csv
import json

import numpy as np
from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.data.problems import ProblemLog
from idbench.results import Results


def _results(tmp_path):
    rng = np.random.default_rng(0)
    res = Results(command="test", problems=ProblemLog())
    res.add_metric("score", "a score")
    for m, shift in (("good", 1.0), ("bad", 0.0)):
        for s in range(10):
            for k in range(3):
                res.rows.append({"method": m, "subject": f"s{s}", "image_id": f"{m}/{s}/{k}", "path": "", "prompt": "",
                                 "score": shift + 0.3 * s / 10 + rng.normal(0, 0.2)})
    res.summarise(n_resamples=200)
    res.write(tmp_path / "r")
    return tmp_path / "r", res


def test_compare_and_agree(tmp_path):
    d, res = _results(tmp_path)
    r = CliRunner().invoke(cli, ["compare", str(d), "--bootstrap", "500"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(d / "compare.csv")))
    assert len(rows) == 1 and float(rows[0]["p_holm"]) < 0.01
    with open(tmp_path / "h.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "rater", "score"])
        for row in res.rows:
            w.writerow([row["image_id"], "a", row["score"] * 2 + 1])
            w.writerow([row["image_id"], "b", row["score"] * 2 + 1.1])
    r = CliRunner().invoke(cli, ["agree", str(d), "--human", str(tmp_path / "h.csv")])
    assert r.exit_code == 0, r.output
    a = json.loads((d / "agreement.json").read_text())
    assert np.isclose(a["metrics"]["score"]["pooled"]["pearson"], 1.0) and a["krippendorff_alpha_interval"] > 0.9
    assert len(list(csv.DictReader(open(d / "agreement_points.csv")))) == len(res.rows)
    from idbench.report.html import render_report

    assert "Agreement with human ratings" in render_report(d).read_text()


def test_bad_inputs_are_clear(tmp_path):
    r = CliRunner().invoke(cli, ["compare", str(tmp_path)])
    assert r.exit_code != 0 and "not a results folder" in r.output
    d, _ = _results(tmp_path)
    (tmp_path / "h.csv").write_text("who,what\n1,2\n")
    r = CliRunner().invoke(cli, ["agree", str(d), "--human", str(tmp_path / "h.csv")])
    assert r.exit_code != 0 and "needs columns image_id and score" in r.output


def test_meta_command(tmp_path):
    d, res = _results(tmp_path)
    import json as _json

    s = _json.loads((d / "summary.json").read_text())
    s["truth"] = {"good": {"drift": 0.1}, "bad": {"drift": 0.9}}
    (d / "summary.json").write_text(_json.dumps(s))
    r = CliRunner().invoke(cli, ["meta", str(d)])
    assert r.exit_code == 0, r.output
    (row,) = list(csv.DictReader(open(d / "meta.csv")))
    assert float(row["tau_methods"]) == 1.0 and row["true_order"] == "True"
