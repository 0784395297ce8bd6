"""`idbench rank` on the real DreamBooth objects: references held out from the gallery."""

import csv
import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH


def _setup(tmp_path, rows):
    by = {}
    for r in rows:
        by.setdefault(r["subject"], []).append(r)
    gallery = [["path", "subject", "class"]]
    classes = {}
    for s, rs in by.items():
        classes.setdefault(rs[0]["class"], []).append(s)
        for i, r in enumerate(rs):
            if i < 2:
                d = tmp_path / "refs" / s
                d.mkdir(parents=True, exist_ok=True)
                shutil.copy(DREAMBOOTH / r["path"], d / f"{i}.jpg")
            else:
                gallery.append([str(DREAMBOOTH / r["path"]), s, r["class"]])
    with open(tmp_path / "gallery.csv", "w", newline="") as f:
        csv.writer(f).writerows(gallery)
    # "class-only": for a subject, a reference photo of *another* subject of the same class
    for cls, subs in classes.items():
        if len(subs) < 2:
            continue
        for k, s in enumerate(subs):
            other = subs[(k + 1) % len(subs)]
            d = tmp_path / "gen" / "class-only" / s
            d.mkdir(parents=True, exist_ok=True)
            for i in range(2):
                shutil.copy(DREAMBOOTH / by[other][i]["path"], d / f"{i}.jpg")
    return classes


def test_rank_levels_and_real_upper_bound(tmp_path, dreambooth_rows):
    _setup(tmp_path, dreambooth_rows)
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["rank", "--gallery", str(tmp_path / "gallery.csv"), "--gen", str(tmp_path / "gen"),
                                 "--refs", str(tmp_path / "refs"), "--levels", "class,subject", "-o", str(out),
                                 "-q", "--bootstrap", "200", "--no-report"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())["sections"]["retrieval"]
    real, gen = s["real"], s["methods"]["class-only"]
    # a method that keeps the class but not the instance: fine level is much worse than coarse level
    assert gen["subject"]["ap"] < gen["class"]["ap"]
    assert gen["subject"]["ap"] < 0.5 * real["subject"]["ap"]
    # real references are recognisable at the instance level
    assert real["subject"]["ap"] > 0.4 and real["subject"]["references_in_gallery"] == 0
    rel = s["relative"]["class-only"]["subject"]
    assert 0 < rel["ci_low"] <= rel["mean"] <= rel["ci_high"] and rel["mean"] < 0.6
    assert rel["mean"] == gen["subject"]["ap"] / real["subject"]["ap"]
    # chance levels sit beside every level, far below the real upper bound
    assert 0 < s["chance"]["class-only"]["subject"]["ap"] < 0.2 < real["subject"]["ap"]
    # the "class-only" generations are copies of other subjects' references: flagged, per method
    content = json.loads((out / "summary.json").read_text())["sections"]["content"]
    assert content["per_method"]["class-only"]["copies"] == len(list((tmp_path / "gen").rglob("*.jpg")))
    assert "toy" in s["per_group"]["subject"]["map"]["class-only"]
    assert len(s["examples"]) >= 1 and len(s["examples"][0]["top"]) == 5
    for e in s["examples"]:  # each query beside a real photo of its own subject (its first reference)
        assert e["reference_path"] and Path(e["reference_path"]).parent.name == e["subject"]
    print(json.dumps({lv: {"real": real[lv]["ap"], "class-only": gen[lv]["ap"]} for lv in ("class", "subject")}))
