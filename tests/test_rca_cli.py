"""`idbench rca` on the real DreamBooth objects: held-out real photos vs another subject's photos."""

import csv
import json
import shutil

from click.testing import CliRunner

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH


def test_rca_real_heldout_vs_wrong_subject(tmp_path, dreambooth_rows):
    by = {}
    for r in dreambooth_rows:
        by.setdefault(r["subject"], []).append(r)
    train = [["path", "subject", "class"]]
    subjects = sorted(by)
    for k, s in enumerate(subjects):
        rs = by[s]
        for r in rs[1:]:
            train.append([str(DREAMBOOTH / r["path"]), s, r["class"]])
        for method, src in (("real-heldout", rs[0]), ("other-subject", by[subjects[(k + 1) % len(subjects)]][0])):
            d = tmp_path / "gen" / method / s
            d.mkdir(parents=True, exist_ok=True)
            shutil.copy(DREAMBOOTH / src["path"], d / "0.jpg")
    with open(tmp_path / "train.csv", "w", newline="") as f:
        csv.writer(f).writerows(train)
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["rca", "--train", str(tmp_path / "train.csv"), "--gen", str(tmp_path / "gen"),
                                 "-o", str(out), "-q", "--bootstrap", "200", "--no-report"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())["sections"]["rca"]["levels"]
    sub = s["subject"]["methods"]
    assert sub["real-heldout"]["rca"] > 0.7 and sub["other-subject"]["rca"] < 0.2
    # the confusion file holds the section's matrix, row by row, under a header of its labels
    with open(out / "rca_confusion_subject_other-subject.csv", newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    conf = sub["other-subject"]["confusion"]
    assert header == ["true \\ predicted", *conf["labels"]]
    assert [[r[0], *map(int, r[1:])] for r in rows] == [[lab, *row] for lab, row in zip(conf["labels"], conf["matrix"])]
    assert not list(out.glob(".*.tmp"))  # written through a temporary file renamed into place
    assert not (out / "rca_confusion_subject_other-subject.png").exists()  # figures only with a report
    print(json.dumps({lv: {"acc_real": v["acc_real"], **{m: x["rca"] for m, x in v["methods"].items()}} for lv, v in s.items()}))
