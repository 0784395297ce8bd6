"""One front door: every evaluating command is one Study; one schema for options; plug-ins by entry point."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.study import Study, StudyError


def _invoke(args):
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    return r


def _rows(out):
    with open(out / "per_image.csv", newline="", encoding="utf-8") as f:
        return sorted(csv.DictReader(f), key=lambda r: (r["method"], r["image_id"]))


def _summary(out):
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- the same numbers through both doors


def test_evaluate_equals_run_similarity(study_inputs):
    t = study_inputs
    a, b = t / "a", t / "b"
    r1 = _invoke(["evaluate", "--refs", str(t / "refs"), "--gen", str(t / "gen"), "-o", str(a), "-q", "--no-report",
                  "--bootstrap", "200"])
    r2 = _invoke(["run", "--refs", str(t / "refs"), "--gen", str(t / "gen"), "--protocols", "similarity", "-o", str(b),
                  "-q", "--no-report", "--bootstrap", "200"])
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    ra, rb = _rows(a), _rows(b)
    assert len(ra) == 21 and ra == rb  # one held-out photo per subject
    assert _summary(a)["methods"] == _summary(b)["methods"]


def test_rank_equals_run_retrieval(study_inputs):
    t = study_inputs
    a, b = t / "a", t / "b"
    common = ["--gallery", str(t / "gallery.csv"), "--gen", str(t / "gen"), "--refs", str(t / "refs"), "-q", "--no-report",
              "--bootstrap", "200", "--levels", "class,subject", "--ties", "optimistic"]
    r1 = _invoke(["rank", *common, "-o", str(a)])
    r2 = _invoke(["run", *common, "--protocols", "retrieval", "-o", str(b)])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert _rows(a) == _rows(b)
    sa, sb = _summary(a)["sections"]["retrieval"], _summary(b)["sections"]["retrieval"]
    assert sa["ties"] == sb["ties"] == "optimistic"
    assert sa["methods"] == sb["methods"] and sa["real"] == sb["real"]


def test_rca_equals_run_rca(study_inputs):
    t = study_inputs
    a, b = t / "a", t / "b"
    r1 = _invoke(["rca", "--train", str(t / "gallery.csv"), "--gen", str(t / "gen"), "-q", "--no-report", "-o", str(a),
                  "--bootstrap", "200"])
    r2 = _invoke(["run", "--gallery", str(t / "gallery.csv"), "--gen", str(t / "gen"), "--protocols", "rca", "-q",
                  "--no-report", "-o", str(b), "--bootstrap", "200"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert _rows(a) == _rows(b)
    assert _summary(a)["sections"]["rca"]["levels"] == _summary(b)["sections"]["rca"]["levels"]


def test_nearid_eval_and_run_honour_the_same_review_sheet(study_inputs):
    t = study_inputs
    samples = list(csv.DictReader(open(t / "samples.csv")))
    first = samples[0]
    with open(t / "review.csv", "w", newline="") as f:  # beside the manifest: both doors must find it
        w = csv.writer(f)
        w.writerow(["sample_id", "slot", "distractor", "accept"])
        w.writerow([first["sample_id"], 0, first["distractors"].split(";")[0], "0"])
    a, b = t / "a", t / "b"
    r1 = _invoke(["nearid", "eval", "--samples", str(t / "samples.csv"), "-q", "--no-report", "-o", str(a)])
    r2 = _invoke(["run", "--samples", str(t / "samples.csv"), "-q", "--no-report", "-o", str(b)])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    na, nb = _summary(a)["sections"]["nearid"], _summary(b)["sections"]["nearid"]
    assert na["review"]["removed"] == nb["review"]["removed"] == 1
    o1, o2 = (" ".join(r.output.split()) for r in (r1, r2))  # (the console wraps lines at 120 columns)
    assert "1 distractor(s) rejected by a person" in o1 and "1 distractor(s) rejected by a person" in o2
    for k in ("ssr", "pa", "n_samples", "n_incomplete", "samples"):
        assert na[k] == nb[k], k
    assert na["n_incomplete"] == 1  # the rejected slot leaves its sample incomplete
    assert (a / "nearid_samples.csv").read_text() == (b / "nearid_samples.csv").read_text()


def test_layouts_work_through_every_door(tmp_path, dreambooth_rows):
    """A published layout (here DreamBench's dataset folder) is read by evaluate as by run."""
    import shutil

    from tests.conftest import DREAMBOOTH

    ds = tmp_path / "dataset"
    by = {}
    for r in dreambooth_rows:
        by.setdefault(r["subject"], []).append(r)
    lines = ["Classes", "", "subject_name,class"]
    for s in sorted(by)[:3]:
        (ds / s).mkdir(parents=True)
        for i, r in enumerate(by[s][:2]):
            shutil.copy(DREAMBOOTH / r["path"], ds / s / f"{i:02d}.jpg")
        lines.append(f"{s},{by[s][0]['class']}")
        g = tmp_path / "gen" / "m" / s
        g.mkdir(parents=True)
        shutil.copy(DREAMBOOTH / by[s][2]["path"], g / "0_0.jpg")
    lines += ["", "Prompts", "", "Object Prompts", "", "prompt_list = [",
              "'a {0} {1} in the jungle'.format(unique_token, class_token),", "]", "", "Live Subject Prompts", "",
              "prompt_list = [", "'a {0} {1} wearing a red hat'.format(unique_token, class_token),", "]"]
    (ds / "prompts_and_classes.txt").write_text("\n".join(lines) + "\n")
    a, b = tmp_path / "a", tmp_path / "b"
    r1 = _invoke(["evaluate", "--refs", str(ds), "--gen", str(tmp_path / "gen"), "-q", "--no-report", "-o", str(a)])
    r2 = _invoke(["run", "--refs", str(ds), "--gen", str(tmp_path / "gen"), "-q", "--no-report", "-o", str(b)])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert _rows(a) == _rows(b)
    assert len(_rows(a)) == 3 and all(r["prompt"].endswith("in the jungle") for r in _rows(a))  # prompt 0 of the list


# ----------------------------------------------------------------------------- one schema for options


@pytest.mark.parametrize("body, message", [
    ('[options.similarity]\nnoface = "skip"\n', "unknown option 'noface' (did you mean 'no_face'"),
    ('[options.retreival]\nlevels = ["subject"]\n', "unknown protocol section 'retreival' (did you mean 'retrieval'?)"),
    ('distribution = "false"\n', "study.distribution: expected true or false, got 'false'"),
    ("encoders = []\n", "study.encoders: the list is empty"),
    ("refs = 123\n", "study.refs: expected a path"),
    ("encoders = 5\n", "study.encoders: expected a list of strings"),
    ('bootstrap = "many"\n', "study.bootstrap: expected an integer"),
    ("options = 5\n", "options: expected a table"),
    ('ray_address = "127.0.0.1:1"\n', "ray_address is set but the backend is 'local'"),
    ('protocols = ["similarity", "retreival"]\n', "unknown protocol 'retreival' (did you mean 'retrieval'?)"),
    ('[options.similarity]\nno_face = "never"\n', "options.similarity.no_face: 'never' is not one of zero, skip"),
    ("seeds = 3\n", "unknown key 'seeds' (did you mean 'seed'?)"),
])
def test_study_file_errors_name_the_key(tmp_path, body, message):
    (tmp_path / "gen").mkdir()
    f = tmp_path / "study.toml"
    f.write_text('gen = "gen"\n' + body if not body.startswith("[") else 'gen = "gen"\n' + body)
    with pytest.raises(StudyError) as e:
        Study.from_toml(f)
    assert message in str(e.value)
    r = CliRunner().invoke(cli, ["run", str(f), "-o", str(tmp_path / "o"), "-q"])
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output


def test_study_file_values_reach_the_run_and_flags_win(study_inputs):
    t = study_inputs
    (t / "study.toml").write_text(textwrap.dedent("""\
        refs = "refs"
        gen = "gen"
        protocols = "similarity"
        seed = 7
        bootstrap = 300
        [options.similarity]
        text = false
    """))
    r = _invoke(["run", str(t / "study.toml"), "-o", str(t / "a"), "-q", "--no-report"])
    assert r.exit_code == 0, r.output
    s = _summary(t / "a")
    assert s["bootstrap"]["seed"] == 7 and s["bootstrap"]["n_resamples"] == 300
    assert s["sections"]["study"]["protocols_run"] == ["similarity"]
    r = _invoke(["run", str(t / "study.toml"), "-o", str(t / "b"), "-q", "--no-report", "--seed", "3"])
    s = _summary(t / "b")
    assert s["bootstrap"]["seed"] == 3 and s["bootstrap"]["n_resamples"] == 300  # the flag wins, key by key


def test_python_api_is_checked_against_the_same_schema(tmp_path):
    with pytest.raises(StudyError, match="study.seed: expected an integer"):
        Study(gen=tmp_path, seed="1")
    with pytest.raises(StudyError, match="unknown option 'tie'"):
        Study(gen=tmp_path, options={"retrieval": {"tie": "optimistic"}})
    s = Study(gen=tmp_path, protocols="similarity,rca")
    assert s.protocols == ["similarity", "rca"]


def test_unknown_encoder_is_one_clean_line_in_every_door(study_inputs):
    t = study_inputs
    for args in (["run", "--refs", str(t / "refs"), "--gen", str(t / "gen")],
                 ["evaluate", "--refs", str(t / "refs"), "--gen", str(t / "gen")],
                 ["rank", "--gallery", str(t / "gallery.csv"), "--gen", str(t / "gen")]):
        r = CliRunner().invoke(cli, [*args, "-e", "effnet-lite", "-o", str(t / "o"), "-q"])
        assert r.exit_code == 1, r.output
        assert "unknown encoder 'effnet-lite' (did you mean 'effnet-lite0'?)" in r.output
        assert "Traceback" not in r.output


def test_flags_come_from_the_declared_options():
    from idbench.protocols.registry import available_protocols, get_protocol

    for proto in available_protocols():
        for opt in get_protocol(proto).options:
            r = CliRunner().invoke(cli, ["run", "--help"])
            assert opt.cli_flag in r.output, (proto, opt.name)


# ----------------------------------------------------------------------------- plug-ins by entry point


def test_entry_point_encoder_from_another_package(tmp_path, study_inputs):
    """A package that declares `plugenc = plugpkg:make` under idbench.encoders is listed and used,
    without touching idbench (a dist-info folder on sys.path is what pip install writes)."""
    site = tmp_path / "site"
    (site / "plugpkg").mkdir(parents=True)
    (site / "plugpkg" / "__init__.py").write_text(textwrap.dedent('''\
        """A third-party encoder package."""
        from idbench.encoders import create_encoder


        def make(arg=None, **kw):
            """plugenc: the built-in effnet-lite0 under another name (a plug-in test)"""
            return create_encoder("effnet-lite0", **kw)
    '''))
    dist = site / "plugpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[idbench.encoders]\nplugenc = plugpkg:make\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    listed = subprocess.run([sys.executable, "-m", "idbench.cli.main", "encoders"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    line = [x for x in listed.stdout.splitlines() if x.startswith("plugenc")]
    assert line and "plug-in test" in line[0] and "plugpkg" in line[0]
    t = study_inputs
    used = subprocess.run([sys.executable, "-m", "idbench.cli.main", "evaluate", "--refs", str(t / "refs"), "--gen",
                           str(t / "gen"), "-e", "plugenc", "-q", "--no-report", "-o", str(t / "o")],
                          capture_output=True, text=True, env=env)
    assert used.returncode == 0, used.stderr[-2000:]
    s = _summary(t / "o")
    assert "cos[effnet-lite0]" in s["methods"]["heldout"]


def test_every_registry_lists_its_builtins():
    from idbench.data.layout import available_layouts
    from idbench.distractors.masks import available_mask_providers
    from idbench.encoders import available_encoders
    from idbench.protocols.registry import available_protocols

    assert {"effnet-lite0", "dlib-face", "hf", "timm", "nearid", "arcface"} <= set(available_encoders())
    assert available_protocols() == ["similarity", "retrieval", "rca", "nearid", "distribution", "agreement"]
    assert available_layouts() == ["dreambench", "dreambenchpp", "stellar", "multiid", "nearid", "fpr"]
    assert {"grabcut", "file", "hf"} <= set(available_mask_providers())


# ----------------------------------------------------------------------------- nothing computed twice


def test_warm_full_study_imports_no_torch_and_refits_nothing(study_inputs):
    """Second run of the same study (similarity, retrieval, RCA, report) on a warm cache: every
    embedding, oracle, ranking and figure comes from the cache, so torch is never imported, and the
    numbers are identical."""
    import os
    import re

    t = study_inputs
    env = {**os.environ, "IDBENCH_CACHE": str(t / "cache")}

    def run(out):
        p = subprocess.run([sys.executable, "-X", "importtime", "-m", "idbench.cli.main", "run", "--refs", str(t / "refs"),
                            "--gen", str(t / "gen"), "--gallery", str(t / "gallery.csv"), "-o", str(t / out), "-q",
                            "--bootstrap", "200"], capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stderr[-3000:]
        return {m.group(1) for m in re.finditer(r"\|\s+([\w.]+)\s*$", p.stderr, re.M)}

    cold = run("cold")
    warm = run("warm")
    assert "torch" in cold  # the cold run really encoded and ranked
    assert "torch" not in warm and "onnxruntime" not in warm and "matplotlib" not in warm
    a, b = _summary(t / "cold"), _summary(t / "warm")
    assert a["methods"] == b["methods"]
    assert a["sections"]["rca"]["levels"] == b["sections"]["rca"]["levels"]
    assert (t / "warm" / "report.html").is_file()


def test_cached_oracle_predicts_exactly_as_the_fitted_one():
    import numpy as np

    from idbench.metrics.rca import Oracle, fit_oracle

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    y = np.repeat(["a", "b", "c", "d"], 10)
    o = fit_oracle(X, y, seed=0)
    r = Oracle.from_arrays(o.to_arrays())
    Q = rng.normal(size=(25, 8)).astype(np.float32)
    assert (o.predict_topk(Q, 3) == r.predict_topk(Q, 3)).all()
    assert np.array_equal(o.fold_proba(Q), r.fold_proba(Q)) and (o.fold_of == r.fold_of).all() and np.array_equal(o.stratum_weights, r.stratum_weights)
    assert r.acc_real == o.acc_real and r.acc_real_per_class == o.acc_real_per_class


# ----------------------------------------------------------------------------- one definition per metric


def test_docs_metrics_page_is_the_catalogue():
    from pathlib import Path

    from idbench.metrics.catalogue import catalogue_markdown

    page = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert page.endswith(catalogue_markdown()), "regenerate docs/metrics.md: idbench metrics --format md"


def test_every_catalogue_function_exists_and_every_written_column_is_catalogued(study_inputs):
    import importlib

    from idbench.metrics.catalogue import CATALOGUE, MetricId

    for m in CATALOGUE:
        module, _, attr = m.function.rpartition(".")
        try:
            obj = importlib.import_module(m.function)
        except ImportError:
            obj = getattr(importlib.import_module(module), attr)
        assert obj is not None, m.id
    t = study_inputs
    r = _invoke(["run", "--refs", str(t / "refs"), "--gen", str(t / "gen"), "--gallery", str(t / "gallery.csv"), "-o",
                 str(t / "o"), "-q", "--no-report", "--bootstrap", "200"])
    assert r.exit_code == 0, r.output
    for column in _summary(t / "o")["metrics"]:
        assert MetricId.parse(column).spec is not None, column
    r = _invoke(["metrics"])
    for m in CATALOGUE:
        assert f"{m.id}  ({m.name};" in r.output


def test_the_ranking_engine_equals_the_per_query_definitions():
    """retrieval_metrics (one exact pass) against average_precision, cmc_at_k, ... written per query."""
    import numpy as np

    from idbench.metrics import retrieval as R

    rng = np.random.default_rng(3)
    G = rng.normal(size=(60, 8)).astype(np.float32)
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    Q = rng.normal(size=(15, 8)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    gl, ql = rng.integers(0, 6, 60).astype(str), rng.integers(0, 6, 15).astype(str)
    res = R.retrieval_metrics(Q, ql, G, gl)
    for i in range(len(Q)):
        order = np.argsort(-(G @ Q[i]), kind="stable")
        ranks = 1 + np.flatnonzero(gl[order] == ql[i])
        assert np.isclose(res.per_query["ap"][i], R.average_precision(ranks))
        assert np.isclose(res.per_query["rr"][i], R.reciprocal_rank(ranks))
        assert np.isclose(res.per_query["r_precision"][i], R.r_precision(ranks))
        assert np.isclose(res.per_query["map@r"][i], R.map_at_r(ranks))
        assert np.isclose(res.per_query["p@1"][i], R.precision_at_1(ranks))
        assert np.isclose(res.per_query["cmc@5"][i], R.cmc_at_k(ranks, 5))


def test_batch_size_reaches_every_protocols_embedding(study_inputs, monkeypatch):
    import idbench.embed
    from idbench.study import Study

    seen = []
    real = idbench.embed.embed_records

    def spy(encoder, records, **kw):
        seen.append((kw.get("desc"), kw.get("batch_size")))
        return real(encoder, records, **kw)

    for mod in ("similarity", "retrieval", "rca", "nearid", "distribution"):
        monkeypatch.setattr(f"idbench.protocols.{mod}.embed_records", spy)
    Study(refs=study_inputs / "refs", gen=study_inputs / "gen", gallery=study_inputs / "gallery.csv",
          samples=study_inputs / "samples.csv", encoders=["test-color"], batch_size=7, distribution=True,
          n_resamples=100, progress=False).run()
    descs = {d for d, _ in seen}
    assert {"gallery", "queries", "real (oracle)", "NearID samples", "real (FID)"} <= descs
    assert {b for _, b in seen} == {7}, seen
