"""`idbench generate`: a generator over DreamBench's subjects, prompts and seeds, resumable, each
image with its sidecar, read back by `idbench run`."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH
from tests.test_layouts import DREAMBENCH_FILE

METHOD = '''
import json
from pathlib import Path
from PIL import Image, ImageOps

CALLS = Path(__file__).with_suffix(".calls")


def generate(references, prompt, seed, shift=0):
    n = int(CALLS.read_text()) if CALLS.exists() else 0
    CALLS.write_text(str(n + 1))
    if "snow" in prompt and seed == 1:
        raise RuntimeError("out of memory (on purpose)")
    im = ImageOps.mirror(references[0].convert("RGB")).resize((96, 96))
    return {"image": im.rotate(10 * seed + shift), "input_reference": 0}  # says which reference it used
'''


@pytest.fixture
def dreambench(tmp_path):
    ds = tmp_path / "dreambooth" / "dataset"
    for s in ("can", "clock", "vase"):
        (ds / s).mkdir(parents=True)
        for k, p in enumerate(sorted((DREAMBOOTH / "images" / s).glob("*.jpg"))[:2]):
            shutil.copy(p, ds / s / f"{k:02d}.jpg")
    (ds / "prompts_and_classes.txt").write_text(DREAMBENCH_FILE)
    (tmp_path / "my_method.py").write_text(METHOD)
    return tmp_path


def _generate(root, *extra):
    return CliRunner().invoke(cli, ["generate", "--refs", str(root / "dreambooth" / "dataset"), "--generator",
                                    f"python:{root / 'my_method.py'}:generate", "--method", "mine", "--subjects",
                                    "can,clock", "--prompt-ids", "0,2", "--seeds", "0,1", "-o", str(root / "gen"), "-q",
                                    *extra])


def _calls(root):
    p = root / "my_method.calls"
    return int(p.read_text()) if p.exists() else 0


def test_generate_resume_failures_and_read_back(dreambench):
    root = dreambench
    r = _generate(root, "--param", "shift=5")
    # prompt 0 ("in the jungle") and 2 ("a red ..."): nothing fails; 2 subjects x 2 prompts x 2 seeds
    assert r.exit_code == 0, r.output
    imgs = sorted((root / "gen" / "mine").rglob("*.png"))
    assert len(imgs) == 8 and _calls(root) == 8
    side = json.loads(imgs[0].with_suffix(".json").read_text())
    assert side["prompt"] == "a sks can in the jungle" and side["seed"] == 0 and side["params"] == {"shift": 5}
    assert side["generator"].startswith("python:") and side["input_reference"] == "00.jpg"
    assert json.loads((root / "gen" / "mine" / "generation.json").read_text())["counts"]["generated"] == 8
    # a re-run generates nothing; one deleted image is generated again, once
    assert _generate(root, "--param", "shift=5").exit_code == 0 and _calls(root) == 8
    imgs[3].unlink()
    assert _generate(root, "--param", "shift=5").exit_code == 0 and _calls(root) == 9
    # prompt 1 ("in the snow") fails for seed 1: named, the others kept, exit non-zero
    r = CliRunner().invoke(cli, ["generate", "--refs", str(root / "dreambooth" / "dataset"), "--generator",
                                 f"python:{root / 'my_method.py'}:generate", "--method", "mine", "--subjects", "can",
                                 "--prompt-ids", "1", "--seeds", "0,1", "-o", str(root / "gen"), "-q"])
    assert r.exit_code != 0 and "1 image(s) failed" in r.output and "out of memory (on purpose)" in r.output
    assert (root / "gen" / "mine" / "can" / "01_0.png").is_file() and not (root / "gen" / "mine" / "can" / "01_1.png").exists()
    # idbench run reads the folder back with its prompts and input references
    out = root / "res"
    r = CliRunner().invoke(cli, ["run", "--refs", str(root / "dreambooth" / "dataset"), "--gen", str(root / "gen"), "-o",
                                 str(out), "-q", "--no-report", "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert len(rows) == 9 and {x["prompt"] for x in rows if x["image_id"].endswith("/02_1")} == {"a red sks can",
                                                                                                 "a red sks clock"}
    summary = json.loads((out / "summary.json").read_text())
    assert not any(p["kind"] == "ambiguous_prompt_index" for p in summary["problems"]["items"])


@pytest.mark.parametrize("spec,message", [("python:nosuchmodule:f", "cannot import"), ("nosuch:x", "unknown generator"),
                                          ("python:os:nosuchfn", "has no function")])
def test_bad_generator_specs_are_one_line(dreambench, spec, message):
    r = CliRunner().invoke(cli, ["generate", "--refs", str(dreambench / "dreambooth" / "dataset"), "--generator", spec,
                                 "--method", "m", "-o", str(dreambench / "gen"), "-q"])
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output, r.output


def test_diffusers_generator_generates_resumes_and_reproduces(tmp_path, dreambench):
    pytest.importorskip("diffusers")
    from diffusers import StableDiffusionPipeline

    from tests.tiny_inpaint import tiny_sd_parts

    StableDiffusionPipeline(**tiny_sd_parts(tmp_path)).save_pretrained(tmp_path / "pipe")

    def gen(out):
        return CliRunner().invoke(cli, ["generate", "--refs", str(dreambench / "dreambooth" / "dataset"), "--generator",
                                        f"diffusers:{tmp_path / 'pipe'}", "--method", "sd", "--subjects", "can",
                                        "--prompt-ids", "0", "--seeds", "0,1", "--param", "steps=2", "--param",
                                        "height=32", "--param", "width=32", "-o", str(out), "-q"])

    r = gen(tmp_path / "a")
    assert r.exit_code == 0, r.output
    a = sorted((tmp_path / "a" / "sd" / "can").glob("*.png"))
    assert len(a) == 2 and Image.open(a[0]).size == (32, 32)
    assert json.loads(a[0].with_suffix(".json").read_text())["params"]["num_inference_steps"] == 2
    before = [p.stat().st_mtime_ns for p in a]
    assert gen(tmp_path / "a").exit_code == 0 and [p.stat().st_mtime_ns for p in a] == before  # resumed: untouched
    assert gen(tmp_path / "b").exit_code == 0
    b = sorted((tmp_path / "b" / "sd" / "can").glob("*.png"))
    for x, y in zip(a, b):  # the same seeds give the same images
        assert np.array_equal(np.asarray(Image.open(x)), np.asarray(Image.open(y)))
    assert not np.array_equal(np.asarray(Image.open(a[0])), np.asarray(Image.open(a[1])))  # seeds differ
    r = CliRunner().invoke(cli, ["generate", "--refs", str(dreambench / "dreambooth" / "dataset"), "--generator",
                                 f"diffusers:{tmp_path / 'pipe'}", "--method", "sd", "--param", "nosuch=1", "-o",
                                 str(tmp_path / "c"), "-q"])
    assert r.exit_code != 0 and "unknown parameter(s) nosuch" in r.output


def test_a_study_file_generates_what_is_missing_then_evaluates(dreambench):
    root = dreambench
    (root / "study.toml").write_text(f"""refs = "dreambooth/dataset"
gen = "gen"
protocols = ["similarity"]
[generate]
generator = "python:{root / 'my_method.py'}:generate"
method = "mine"
subjects = ["can", "vase"]
prompt_ids = "0"
seeds = ["0", "2"]
params = {{ shift = 3 }}
""")
    r = CliRunner().invoke(cli, ["run", str(root / "study.toml"), "-o", str(root / "res"), "-q", "--no-report",
                                 "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert len(list((root / "gen" / "mine").rglob("*.png"))) == 4 and _calls(root) == 4
    s = json.loads((root / "res" / "summary.json").read_text())
    assert s["sections"]["study"]["generated"]["generated"] == 4 and s["methods"]["mine"]
    r = CliRunner().invoke(cli, ["run", str(root / "study.toml"), "-o", str(root / "res"), "-q", "--no-report",
                                 "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0 and _calls(root) == 4  # nothing generated again
    (root / "bad.toml").write_text('refs = "dreambooth/dataset"\ngen = "gen"\n[generate]\nmethod = "m"\nsede = 1\n')
    r = CliRunner().invoke(cli, ["run", str(root / "bad.toml"), "-o", str(root / "res2"), "-q"])
    assert r.exit_code != 0 and "unknown option 'sede'" in r.output and "did you mean 'seeds'" in r.output
