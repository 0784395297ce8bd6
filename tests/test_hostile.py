"""Hostile and unusual input, command by command: no traceback, no hang, no escape, nothing dropped
in silence. Each case builds its fixture here; every command runs with catch_exceptions=False so a
traceback fails the test, and each asserts a named message and that the rest of the run happened."""

import csv
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH

BAD_NAME = os.fsdecode(b"bad\xff\xfename.png")  # not UTF-8: a surrogate-escaped str on Linux


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _real(dreambooth_rows, subject, k):
    return DREAMBOOTH / [r for r in dreambooth_rows if r["subject"] == subject][k]["path"]


def _hostile_images(folder: Path) -> dict[str, str]:
    """A few dozen broken or unusual files in ``folder``; returns {file name: expected problem kind}."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}

    def add(name, kind):
        kinds[name] = kind
        return folder / name

    good = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(good).save(folder / "ok.png")
    add("zero.png", "not_image").write_bytes(b"")
    add("text.jpg", "not_image").write_text("not an image")
    raw = (folder / "ok.png").read_bytes()
    add("truncated.png", "corrupt").write_bytes(raw[: len(raw) // 3])
    Image.new("RGB", (1, 20000), (10, 20, 30)).save(add("strip.png", "bad_shape"))
    Image.new("RGB", (20000, 1), (10, 20, 30)).save(add("wide_strip.png", "bad_shape"))
    arr = np.full((16, 16), 0.5, np.float32)
    arr[3, 3] = np.nan
    Image.fromarray(arr, mode="F").save(add("nan.tif", "corrupt"))
    os.mkfifo(add("fifo.jpg", "missing_file"))  # hashing a FIFO would block forever
    os.symlink(folder / "does-not-exist.png", add("dangling.png", "missing_file"))
    add("folder.png", "").mkdir()  # a folder named like an image: not listed as an image
    Image.fromarray(good).save(add(BAD_NAME, ""))  # a valid image with an undecodable name
    # odd but valid encodings: decoded and scored
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(add("gray16.png", ""))
    Image.fromarray(good).convert("P").save(add("palette.gif", ""))
    Image.fromarray(good).convert("CMYK").save(add("cmyk.jpg", ""))
    Image.fromarray(good).convert("RGBA").save(add("rgba.webp", ""))
    Image.new("RGB", (1, 1), (200, 0, 0)).save(add("one_pixel.png", ""))
    add("notes.md", "not_image").write_text("# hello")
    return kinds


def _gen_tree(tmp_path, dreambooth_rows):
    """refs/ and gen/ with every hostile file inside a subject folder, plus layout oddities."""
    refs = tmp_path / "refs"
    for s in ("can", "clock"):
        (refs / s).mkdir(parents=True)
        for k in range(2):
            shutil.copy(_real(dreambooth_rows, s, k), refs / s / f"{k}.jpg")
    gen = tmp_path / "gen"
    kinds = _hostile_images(gen / "m1" / "can")
    (gen / "m1" / "clock" / "seed2").mkdir(parents=True)  # per-seed sub-folder: read
    shutil.copy(_real(dreambooth_rows, "clock", 2), gen / "m1" / "clock" / "seed2" / "0.jpg")
    shutil.copy(_real(dreambooth_rows, "can", 2), gen / "m1" / "grid.png")  # stray image in a method folder
    (gen / "empty_method").mkdir()  # a method with no images
    (gen / "m2" / "can").mkdir(parents=True)
    shutil.copy(_real(dreambooth_rows, "can", 3), gen / "m2" / "can" / "0.jpg")
    return refs, gen, kinds


def test_evaluate_survives_the_corpus_and_names_everything(tmp_path, dreambooth_rows):
    refs, gen, kinds = _gen_tree(tmp_path, dreambooth_rows)
    out = tmp_path / "out"
    r = _invoke("evaluate", "--refs", refs, "--gen", gen, "-e", "test-color", "-o", out, "-q", "--bootstrap", "200")
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    problems = {Path(p["path"]).name: p for p in s["problems"]["items"]}
    for name, kind in kinds.items():
        if kind:
            assert name in problems and problems[name]["kind"] == kind, (name, problems.get(name))
            assert f"skipped {gen / 'm1' / 'can' / name}" in r.output  # named on stderr even with -q
    assert problems["grid.png"]["kind"] == "stray_image"
    assert problems["empty_method"]["kind"] == "empty_method"
    rows = list(csv.DictReader(open(out / "per_image.csv", encoding="utf-8")))
    scored = {Path(x["path"]).name for x in rows if x["cos[test-color]"]}
    # odd encodings, the 1x1 image, the undecodable file name and the per-seed image were all scored
    assert {"ok.png", "gray16.png", "palette.gif", "cmyk.jpg", "rgba.webp", "one_pixel.png", "0.jpg"} <= scored
    assert any(n.startswith("bad") and n.endswith("name.png") for n in scored)
    assert set(s["methods"]) == {"m1", "m2"}
    assert "report.html" in os.listdir(out)


def test_extreme_aspect_is_refused_with_bounded_memory(tmp_path):
    from idbench.data.images import ImageError, load_image

    p = tmp_path / "strip.png"
    Image.new("RGB", (1, 60000)).save(p)  # a 1 x 60000 strip would cost ~17 GB scaled to 256 px
    tracemalloc.start()
    with pytest.raises(ImageError) as e:
        load_image(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert e.value.kind == "bad_shape" and peak < 20e6


def test_dlib_face_on_a_strip_costs_one_image_not_the_run(tmp_path, dreambooth_rows):
    refs, gen, _ = _gen_tree(tmp_path, dreambooth_rows)
    r = _invoke("evaluate", "--refs", refs, "--gen", gen, "-e", "dlib-face", "-o", tmp_path / "o", "-q",
                "--bootstrap", "200", "--no-report")
    assert r.exit_code == 0, r.output
    assert "strip.png" in r.output


class _Boom:
    """Preprocessing that fails on one image only (a resize to 0 px inside an encoder)."""


def test_an_encoder_failure_on_one_image_is_isolated(tmp_path, dreambooth_rows):
    from idbench.data.problems import ProblemLog
    from idbench.data.records import ImageRecord
    from idbench.embed import embed_records
    from tests.conftest import ColorHistEncoder

    class Fragile(ColorHistEncoder):
        def preprocess(self, image):
            if image.size == (7, 7):
                raise ZeroDivisionError("resize to 0 px")
            return super().preprocess(image)

    Image.new("RGB", (7, 7)).save(tmp_path / "bad.png")
    recs = [ImageRecord("bad", tmp_path / "bad.png", "s")] + [
        ImageRecord(f"g{k}", _real(dreambooth_rows, "can", k), "s") for k in range(3)]
    log = ProblemLog()
    emb = embed_records(Fragile(), recs, problems=log, progress=False)
    assert set(emb) == {"g0", "g1", "g2"}
    assert log.items[0].kind == "encoder_error" and "ZeroDivisionError" in log.items[0].reason


def test_damaged_cache_entries_are_misses(tmp_path, dreambooth_rows):
    from idbench.cache.store import EmbeddingCache
    from idbench.data.records import ImageRecord
    from idbench.embed import embed_records
    from tests.conftest import ColorHistEncoder

    cache = EmbeddingCache(tmp_path / "c")
    recs = [ImageRecord(f"g{k}", _real(dreambooth_rows, "can", k), "s") for k in range(3)]
    enc = ColorHistEncoder()
    first = embed_records(enc, recs, cache=cache, progress=False)
    con = sqlite3.connect(cache.path)
    keys = [k for (k,) in con.execute("SELECT content FROM embeddings")]
    nan_blob = np.full((1, enc.dim), np.nan, np.float32).tobytes()
    con.execute("UPDATE embeddings SET vectors=? WHERE content=?", (nan_blob, keys[0]))
    con.execute("UPDATE embeddings SET vectors=? WHERE content=?", (b"\x00" * 12, keys[1]))
    con.commit()
    con.close()
    enc2 = ColorHistEncoder()
    again = embed_records(enc2, recs, cache=EmbeddingCache(tmp_path / "c"), progress=False)
    assert enc2.n_embedded == 2  # the two damaged entries were encoded again, the good one was not
    for r in recs:
        assert np.array_equal(again[r.id].vectors, first[r.id].vectors)


def test_output_folder_that_cannot_be_created_fails_first(tmp_path, dreambooth_rows):
    refs, gen, _ = _gen_tree(tmp_path, dreambooth_rows)
    (tmp_path / "file").write_text("in the way")
    r = _invoke("evaluate", "--refs", refs, "--gen", gen, "-e", "test-color", "-o", tmp_path / "file" / "out", "-q")
    assert r.exit_code != 0 and "cannot write the results into" in r.output
    assert "skipped" not in r.output  # it failed before reading any image


def test_agree_hostile_ratings(tmp_path, dreambooth_rows):
    refs, gen, _ = _gen_tree(tmp_path, dreambooth_rows)
    out = tmp_path / "out"
    assert _invoke("evaluate", "--refs", refs, "--gen", gen, "-e", "test-color", "-o", out, "-q", "--bootstrap", "200",
                   "--no-report").exit_code == 0
    ids = [x["image_id"] for x in csv.DictReader(open(out / "per_image.csv", encoding="utf-8")) if x["cos[test-color]"]]
    cases = {
        "constant.csv": ("image_id,score\n" + "".join(f"{i},3\n" for i in ids)).encode(),
        "two.csv": f"image_id,score\n{ids[0]},1\n{ids[1]},2\n".encode(),
        "latin1.csv": ("image_id,score,rater\n" + "".join(f"{i},{k % 5},Jos\u00e9\n" for k, i in enumerate(ids))).encode("latin-1"),
        "bom.csv": ("\ufeffimage_id,score\n" + "".join(f"{i},{k % 4}\n" for k, i in enumerate(ids))).encode("utf-8"),
        "nan.csv": ("image_id,score\n" + "".join(f"{i},{'nan' if k == 0 else ('inf' if k == 1 else k)}\n"
                                                 for k, i in enumerate(ids))).encode(),
        "dupe.csv": ("image_id,score,rater\n" + "".join(f"{i},{k},a\n{i},{k + 1},b\n" for k, i in enumerate(ids))
                     + f"{ids[0]},9,a\n").encode(),
        "const_raters.csv": ("image_id,score,rater\n" + "".join(f"{i},2,a\n{i},2,b\n" for i in ids)).encode(),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        r = _invoke("agree", out, "--human", tmp_path / name)
        assert r.exit_code == 0, (name, r.output)
        table = "\n".join(x for x in r.output.lower().splitlines() if not x.startswith(("skipped", "warning")))
        assert not re.search(r"(?<![\w'])nan(?![\w'.])", table), (name, r.output)
        json.loads((out / "agreement.json").read_text(), parse_constant=lambda c: pytest.fail(f"{name}: {c} in JSON"))
    r = _invoke("agree", out, "--human", tmp_path / "nan.csv")
    assert "is not finite" in r.output and f"{len(ids) - 2} ratings of {len(ids) - 2} images used" in r.output
    r = _invoke("agree", out, "--human", tmp_path / "dupe.csv")
    assert "rated" in r.output and "kept the first" in r.output
    r = _invoke("agree", out, "--human", tmp_path / "constant.csv")
    assert "every human rating is the same" in r.output
    r = _invoke("agree", out, "--human", tmp_path / "const_raters.csv")
    assert "every rating has the same value" in r.output
    r = _invoke("agree", out, "--human", tmp_path / "latin1.csv")
    assert "read as Latin-1" in r.output


@pytest.mark.parametrize("content", [b'{"methods": {', b"[1, 2, 3]", b"\xff\xfe{}", b'{"methods": {"a": 3}, "metrics": {}}',
                                     b'{"methods": {}, "metrics": {"x": 5}}'])
def test_report_on_damaged_summary_is_a_message(tmp_path, content):
    d = tmp_path / "res"
    d.mkdir()
    (d / "summary.json").write_bytes(content)
    for cmd in (["report", d], ["compare", d]):
        r = _invoke(*cmd)
        assert r.exit_code != 0 and "summary.json" in r.output, r.output


def test_distractors_on_tiny_strip_and_traversal_labels(tmp_path, dreambooth_rows):
    Image.new("RGB", (1, 1)).save(tmp_path / "one.png")
    Image.new("RGB", (1, 20000)).save(tmp_path / "strip.png")
    (tmp_path / "target").mkdir()
    rows = [["path", "subject", "class"]]
    for k in range(2):
        rows.append([str(_real(dreambooth_rows, "can", k)), "../../target/x", "c"])
        rows.append([str(_real(dreambooth_rows, "clock", k)), "clock", "c"])
    rows += [[str(tmp_path / "one.png"), "tiny", "c"], [str(tmp_path / "strip.png"), "strip", "c"]]
    with open(tmp_path / "pool.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = tmp_path / "deep" / "out"
    r = _invoke("distractors", "build", "--pool", tmp_path / "pool.csv", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    assert list((tmp_path / "target").iterdir()) == []  # nothing written outside -o
    for p in out.rglob("*"):
        assert out in p.resolve().parents
    assert "one.png" in r.output and "strip.png" in r.output


def test_rca_method_names_with_slashes(tmp_path, dreambooth_rows):
    rows = [r for r in dreambooth_rows if r["subject"] in ("can", "clock", "vase")]
    with open(tmp_path / "g.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject"])
        for r in rows:
            w.writerow([str(DREAMBOOTH / r["path"]), r["subject"]])
    with open(tmp_path / "gen.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "method", "subject"])
        for m in ("sd/v1.5", "../evil"):
            for r in rows[::3]:
                w.writerow([str(DREAMBOOTH / r["path"]), m, r["subject"]])
    out = tmp_path / "o"
    r = _invoke("rca", "--train", tmp_path / "g.csv", "--gen", tmp_path / "gen.csv", "-e", "test-color", "-o", out,
                "-q", "--bootstrap", "200", "--no-report")
    assert r.exit_code == 0, r.output
    made = sorted(p.name for p in out.glob("rca_confusion_*.csv"))
    assert len(made) == 2 and all("/" not in n for n in made)
    assert not (tmp_path / "evil").exists() and not any(tmp_path.glob("rca_confusion*"))


def test_aps_cache_never_unpickles(tmp_path):
    from idbench.cache.probes import cached_attribute_probes, probe_key

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    Y = (X[:, :1] > 0).astype(int)
    marker = tmp_path / "pwned"
    # a planted "probe cache" holding a pickled object whose unpickling would create `marker`
    evil = np.array([_Pwn(str(marker))], dtype=object)
    path = tmp_path / f"aps-probes-{probe_key(X.astype(np.float32), Y, ['Male'], 1.0)}.npz"
    np.savez(str(path)[:-4], names=evil)
    probes = cached_attribute_probes(X, Y, ["Male"], cache_dir=tmp_path)
    assert not marker.exists() and "Male" in probes


class _Pwn:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_keyboard_interrupt_says_cached_work_is_kept(tmp_path, dreambooth_rows, capsys):
    from idbench.cli.main import main
    from idbench.encoders import register
    from tests.conftest import ColorHistEncoder

    register("test-interrupt")(lambda arg=None, device=None, **kw: ColorHistEncoder(fail_on_call=1))
    refs, gen, _ = _gen_tree(tmp_path, dreambooth_rows)
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--refs", str(refs), "--gen", str(gen), "-e", "test-interrupt", "-o", str(tmp_path / "o"), "-q"])
    assert e.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted; cached embeddings are kept" in err and "Aborted!" not in err


@pytest.mark.slow
@pytest.mark.parametrize("cache_flag", ["--cache-dir", "--no-cache"])
def test_writes_stay_in_out_and_cache_dir(tmp_path, dreambooth_rows, cache_flag):
    """A fresh process with an empty HOME: after evaluate + rank (effnet-lite0: ONNX export) nothing
    is written outside -o and the cache folder (nothing at all outside -o with --no-cache)."""
    refs, gen, _ = _gen_tree(tmp_path, dreambooth_rows)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("IDBENCH_CACHE", "XDG_CACHE_HOME", "MPLCONFIGDIR")}
    env["HOME"] = str(home)
    cache = tmp_path / "cache"
    flag = [cache_flag, str(cache)] if cache_flag == "--cache-dir" else [cache_flag]
    before = set(tmp_path.rglob("*"))
    exe = str(Path(sys.executable).parent / "idbench")
    p = subprocess.run([exe, "evaluate", "--refs", str(refs), "--gen", str(gen), "-o", str(tmp_path / "out"), "-q",
                        "--bootstrap", "200", *flag], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    new = {q for q in set(tmp_path.rglob("*")) - before}
    outside = [q for q in new if not (q.is_relative_to(tmp_path / "out") or q.is_relative_to(cache))]
    assert outside == [], outside[:5]
    if cache_flag == "--no-cache":
        assert not cache.exists()
    else:
        assert (cache / "embeddings.sqlite").is_file() and (cache / "onnx").is_dir()


def _gallery_csv(tmp_path, dreambooth_rows, extra_dir=None):
    rows = [["path", "subject", "class"]]
    for r in dreambooth_rows:
        if r["subject"] in ("can", "clock", "vase"):
            rows.append([str(DREAMBOOTH / r["path"]), r["subject"], "thing"])
    for p in sorted(extra_dir.iterdir()) if extra_dir else []:  # the hostile files as gallery rows too
        rows.append([str(p), "can", "thing"])
    with open(tmp_path / "gallery.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        csv.writer(f).writerows(rows)
    return tmp_path / "gallery.csv"


@pytest.mark.parametrize("command", ["rank", "rca"])
def test_rank_and_rca_survive_the_corpus(tmp_path, dreambooth_rows, command):
    refs, gen, kinds = _gen_tree(tmp_path, dreambooth_rows)
    hostile_gallery = _hostile_images(tmp_path / "gal_hostile")
    gallery = _gallery_csv(tmp_path, dreambooth_rows, tmp_path / "gal_hostile")
    out = tmp_path / "out"
    args = ["--gallery", gallery, "--refs", refs] if command == "rank" else ["--train", gallery]
    r = _invoke(command, *args, "--gen", gen, "-e", "test-color", "-o", out, "-q", "--bootstrap", "200")
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    named = {Path(p["path"]).name for p in s["problems"]["items"]}
    assert {n for n, k in kinds.items() if k} <= named
    assert {n for n, k in hostile_gallery.items() if k and k != "not_image"} <= named
    assert set(s["methods"]) == {"m1", "m2"} and (out / "report.html").is_file()


def test_nearid_eval_survives_broken_views_and_distractors(tmp_path, dreambooth_rows):
    kinds = _hostile_images(tmp_path / "h")
    bad = [tmp_path / "h" / n for n, k in kinds.items() if k][:6]
    rows = [["sample_id", "source", "views", "distractors"]]
    for k, s in enumerate(("can", "clock", "vase")):
        views = [str(_real(dreambooth_rows, s, i)) for i in range(3)]
        dists = [str(_real(dreambooth_rows, "backpack", i)) for i in range(3)]
        if k == 1:
            dists[0] = str(bad[0])  # a broken distractor: the sample is incomplete
        if k == 2:
            views[1] = str(bad[1])  # a broken view: the sample cannot be scored
        rows.append([s, "x", ";".join(views), ";".join(dists)])
    with open(tmp_path / "samples.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    r = _invoke("nearid", "eval", "--samples", tmp_path / "samples.csv", "-e", "test-color", "-o", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "o" / "summary.json").read_text())["sections"]["nearid"]
    assert res["n_samples"] == 1 and res["n_incomplete"] >= 1
    assert bad[0].name in r.output and bad[1].name in r.output
