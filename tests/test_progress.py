"""Progress fits where it goes: timestamped lines (no carriage returns) when not on a terminal."""

import io
import re
import shutil

from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.progress import LineProgress, progress_bar
from tests.conftest import DREAMBOOTH


def test_line_progress_prints_plain_timestamped_lines():
    buf = io.StringIO()
    with LineProgress(10, "encoding [x]", unit="img", every=0.0, stream=buf) as bar:
        for _ in range(10):
            bar.update(1)
    lines = buf.getvalue().splitlines()
    assert "\r" not in buf.getvalue() and len(lines) == 11
    assert re.fullmatch(r"\d\d:\d\d:\d\d encoding \[x\]: 10/10 img \(.* img/s, \d+ s\) done", lines[-1])
    silent = io.StringIO()
    with LineProgress(3, "quick", every=60.0, stream=silent) as bar:
        bar.update(3)
    assert silent.getvalue() == ""  # a step shorter than the interval says nothing


def test_cli_output_has_no_carriage_returns_off_a_terminal(tmp_path, dreambooth_rows):
    for s in ("can", "clock"):
        (tmp_path / "refs" / s).mkdir(parents=True)
        (tmp_path / "gen" / "m" / s).mkdir(parents=True)
        rows = [r for r in dreambooth_rows if r["subject"] == s]
        shutil.copy(DREAMBOOTH / rows[0]["path"], tmp_path / "refs" / s / "0.jpg")
        shutil.copy(DREAMBOOTH / rows[1]["path"], tmp_path / "gen" / "m" / s / "0.jpg")
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"),
                                 "-e", "test-color", "-o", str(tmp_path / "o"), "--bootstrap", "200", "--no-report"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and "\r" not in r.output
    assert not progress_bar(5, "x", enabled=True).__class__.__name__ == "tqdm"  # pytest's stderr is not a terminal
