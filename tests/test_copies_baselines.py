"""Copies in every form, baselines beside every similarity, intervals that never overclaim,
partial galleries and names: the specification of issue #20, on the real DreamBooth photos and
faces in ../shared and edited copies the tests make."""

from __future__ import annotations

import csv
import json
import shutil
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH, SHARED

EDITS = ("png512", "crop94q70", "jpg256")


def _edit(src, dst_stem, kind):
    """The edits a copy-paste generator's output goes through: 512-px PNG, JPEG q70 of a 94% centre
    crop, 256-px JPEG re-encode."""
    im = Image.open(src).convert("RGB")
    w, h = im.size
    if kind == "png512":
        k = 512 / max(w, h)
        out = dst_stem.with_suffix(".png")
        im.resize((round(w * k), round(h * k)), Image.LANCZOS).save(out)
    elif kind == "crop94q70":
        cw, ch = round(w * 0.94), round(h * 0.94)
        left, top = (w - cw) // 2, (h - ch) // 2
        out = dst_stem.with_suffix(".jpg")
        im.crop((left, top, left + cw, top + ch)).save(out, quality=70)
    else:
        k = 256 / max(w, h)
        out = dst_stem.with_suffix(".jpg")
        im.resize((round(w * k), round(h * k)), Image.BILINEAR).save(out, quality=85)
    return out


@pytest.fixture(scope="module")
def copy_world(tmp_path_factory, dreambooth_rows):
    """refs/<s>/ (2 photos per subject), gen/<edit>/<s>/ (each reference edited), gen/faithful/<s>/
    (the third photo: a distinct photo, never a copy), gallery.csv (the other photos, so rank and
    RCA have a gallery)."""
    root = tmp_path_factory.mktemp("copies")
    by: dict[str, list[dict]] = {}
    for r in dreambooth_rows:
        by.setdefault(r["subject"], []).append(r)
    gal = [["path", "subject", "class"]]
    for s, rs in sorted(by.items()):
        for i, r in enumerate(rs):
            src = DREAMBOOTH / r["path"]
            if i < 2:
                (root / "refs" / s).mkdir(parents=True, exist_ok=True)
                shutil.copy(src, root / "refs" / s / f"{i}.jpg")
                for kind in EDITS:
                    d = root / "gen" / kind / s
                    d.mkdir(parents=True, exist_ok=True)
                    _edit(src, d / f"{i}", kind)
            elif i == 2:
                d = root / "gen" / "faithful" / s
                d.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, d / f"{i}.jpg")
            else:
                gal.append([str(src), s, r["class"]])
    with open(root / "gallery.csv", "w", newline="") as f:
        csv.writer(f).writerows(gal)
    return root


def _flag_rates(out):
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    rate = {}
    for m in {r["method"] for r in rows}:
        mine = [r for r in rows if r["method"] == m]
        rate[m] = sum(bool(r.get("copy_kind")) and r["copy_kind"] != "blank" for r in mine) / len(mine)
    return rate


@pytest.mark.parametrize("command", ["evaluate", "rank", "rca", "run"])
def test_edited_copies_are_flagged_by_every_command_and_distinct_photos_are_not(copy_world, command, tmp_path):
    w = copy_world
    args = {"evaluate": ["--refs", w / "refs"],
            "rank": ["--gallery", w / "gallery.csv", "--refs", w / "refs"],
            "rca": ["--train", w / "gallery.csv", "--refs", w / "refs"],
            "run": ["--refs", w / "refs", "--gallery", w / "gallery.csv", "--protocols", "similarity,retrieval,rca"]}[command]
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, [command, *map(str, args), "--gen", str(w / "gen"), "-o", str(out), "-q", "--no-report",
                                 "--bootstrap", "200"], catch_exceptions=False)
    s = json.loads((out / "summary.json").read_text())
    rate = _flag_rates(out)
    for kind in EDITS:
        assert rate[kind] >= 0.95, (command, kind, rate)
    assert rate["faithful"] <= 0.02, (command, rate)
    # each flagged image names what it copies; the counts stand on each method's row
    per = s["sections"]["content"]["per_method"]
    assert per["crop94q70"]["near_copies"] >= 0.95 * per["crop94q70"]["images"]
    assert all(c["copies"].startswith(str(w / "refs")) for c in s["sections"]["content"]["generation_copies"])
    assert "near-copy " in r.output
    md = (out / "tables.md").read_text()
    row = next(x for x in md.splitlines() if x.startswith("| png512 "))
    assert "near-copy 42/42" in row and "**" not in row  # marked, never bold


def test_a_copying_method_is_scored_leave_one_out_and_never_ranked(copy_world, tmp_path):
    w = copy_world
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(w / "refs"), "--gen", str(w / "gen"), "-o", str(out), "-q",
                                 "--no-report", "--bootstrap", "300"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    cos = {m: v["cos[effnet-lite0]"]["mean"] for m, v in s["methods"].items()}
    base = s["sections"]["baselines"]["columns"]["cos[effnet-lite0]"]
    # a copy compared with its subject's other reference only scores what a real photo scores
    assert abs(cos["png512"] - base["real"]["mean"]) < 0.03, (cos, base["real"])
    # leave-one-out by hand for one copy: cos to the other reference only
    from idbench.encoders import create_encoder

    enc = create_encoder("effnet-lite0")
    s0 = sorted((w / "refs").iterdir())[0]
    v = enc.embed_images([Image.open(p).convert("RGB") for p in (w / "gen" / "png512" / s0.name / "0.png", s0 / "1.jpg")])
    row = next(x for x in csv.DictReader(open(out / "per_image.csv"))
               if x["method"] == "png512" and x["subject"] == s0.name and x["image_id"].endswith("/0"))
    assert float(row["cos[effnet-lite0]"]) == pytest.approx(float(v[0] @ v[1]), abs=1e-4)
    r = CliRunner().invoke(cli, ["compare", str(out), "--metric", "cos[effnet-lite0]", "--bootstrap", "500"])
    assert "not ranked: png512" in r.output and "#1 png512" not in r.output


def test_held_out_real_photos_score_rca_one_at_every_level(tmp_path, dreambooth_rows):
    """Two complementary splits of every subject's photos: half the gallery (the oracle's training
    set), half 'generations'. Real photos the oracle never saw score RCA ~ 1 at class and subject level."""
    from idbench.study import Study

    by: dict[str, list[dict]] = {}
    for r in dreambooth_rows:
        by.setdefault(r["subject"], []).append(r)
    for off in (0, 1):
        root = tmp_path / f"split{off}"
        gal = [["path", "subject", "class"]]
        for s, rs in by.items():
            for i, r in enumerate(rs):
                if (i + off) % 2 == 0:
                    gal.append([str(DREAMBOOTH / r["path"]), s, r["class"]])
                else:
                    d = root / "gen" / "heldout" / s
                    d.mkdir(parents=True, exist_ok=True)
                    shutil.copy(DREAMBOOTH / r["path"], d / f"{i}.jpg")
        with open(root / "gallery.csv", "w", newline="") as f:
            csv.writer(f).writerows(gal)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = Study(gen=root / "gen", gallery=root / "gallery.csv", protocols=["rca"], progress=False,
                        n_resamples=500).run()
        for lv in ("class", "subject"):
            m = out.sections["rca"].levels[lv].methods["heldout"]
            assert 0.9 <= m.rca <= 1.1, (off, lv, m.rca)
            assert m.rca_ci[0] <= 1.0 <= m.rca_ci[1]


def _tight(im):
    """An off-centre crop of the photo (the top-left 80 % of each side): the same face, which dlib still
    finds, but not a near-copy (thumbnail correlation 0.68; a mirrored photo would be one, rightly)."""
    w, h = im.size
    return im.crop((0, 0, int(w * 0.8), int(h * 0.8)))


def test_impostor_baseline_beside_face_scores(tmp_path):
    """faces-small: a method whose images are other people scores at the impostor level."""
    faces = SHARED / "datasets" / "faces-small" / "images"
    if not faces.is_dir():
        pytest.skip("faces-small not found")
    refs, gen = tmp_path / "refs", tmp_path / "gen"
    for s, photos in {"obama": ["obama.jpg", "obama2.jpg"], "biden": ["biden.jpg"]}.items():
        (refs / s).mkdir(parents=True)
        for p in photos:
            shutil.copy(faces / s / p, refs / s / p)
    for m in ("same", "swap"):
        for s in ("obama", "biden"):
            (gen / m / s).mkdir(parents=True)
    shutil.copy(faces / "obama" / "obama3.jpg", gen / "same" / "obama" / "0.jpg")
    _tight(Image.open(faces / "biden" / "biden.jpg")).save(gen / "same" / "biden" / "0.jpg")
    _tight(Image.open(faces / "biden" / "biden.jpg")).save(gen / "swap" / "obama" / "0.jpg")
    shutil.copy(faces / "obama" / "obama3.jpg", gen / "swap" / "biden" / "0.jpg")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(refs), "--gen", str(gen), "-e", "dlib-face", "-o", str(out),
                                 "-q", "--no-report", "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    imp = s["sections"]["face"]["encoders"]["dlib-face"]["impostor"]
    assert set(imp) >= {"ips", "sis", "facesim"}
    ips_imp = imp["ips"]["mean"]
    assert abs(s["methods"]["swap"]["ips[dlib-face]"]["mean"] - ips_imp) < 0.05
    assert s["methods"]["same"]["ips[dlib-face]"]["mean"] > ips_imp + 0.1
    line = next(x for x in r.output.splitlines() if x.startswith("impostor references"))
    assert f"{ips_imp:.3f}" in line
    assert "impostor references" in (out / "tables.md").read_text()


def test_rates_get_intervals_from_their_image_counts():
    """A face-found rate of exactly 1/2 in each of 4 subjects is not known to be 0.500 [0.500, 0.500]."""
    from idbench.results import Results

    res = Results()
    res.add_metric("face_found[x]", "found")
    res.add_metric("cos[x]", "cos")
    res.rows = [{"method": "mixed", "subject": f"s{i // 2}", "image_id": str(i), "face_found[x]": float(i % 2),
                 "cos[x]": 0.5} for i in range(8)]
    res.summarise(n_resamples=500)
    e = res.methods["mixed"]["face_found[x]"]
    from idbench.stats.bootstrap import wilson_interval

    assert (e["ci_low"], e["ci_high"]) == pytest.approx(wilson_interval(4, 8))
    c = res.methods["mixed"]["cos[x]"]
    assert c["ci_low"] == c["ci_high"] and "zero width" in c["ci_note"]


def test_a_gallery_missing_two_subjects_scores_the_rest(tmp_path, dreambooth_rows):
    from tests.conftest import write_study_inputs

    write_study_inputs(tmp_path, dreambooth_rows)
    rows = list(csv.reader(open(tmp_path / "gallery.csv")))
    gone = sorted({r[1] for r in rows[1:]})[:2]
    with open(tmp_path / "gallery.csv", "w", newline="") as f:
        csv.writer(f).writerows([r for r in rows if r[1] not in gone])
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "--gallery",
                                 str(tmp_path / "gallery.csv"), "-o", str(out), "-q", "--no-report", "--bootstrap", "200"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    n_all = len({x[1] for x in rows[1:]})
    for proto in ("retrieval", "rca"):
        assert sorted(s["sections"][proto]["subjects_not_in_gallery"]) == gone
    assert s["sections"]["retrieval"]["methods"]["heldout"]["subject"]["n_subjects"] == n_all - 2
    assert s["sections"]["retrieval"]["real"]["subject"]["n_subjects"] == n_all - 2  # their references leave the bound
    named = {p["path"] for p in s["problems"]["items"] if p["kind"] == "not_in_gallery"}
    assert named == {f"subject {g}" for g in gone}
    assert "did you mean" not in json.dumps(s["sections"]["retrieval"]["subjects_not_in_gallery"])


def test_gallery_build_reads_back_with_its_own_levels_and_names_dropped_subjects(tmp_path, dreambooth_rows):
    from idbench.data.manifest import load_gallery

    out = tmp_path / "g.csv"
    gen = tmp_path / "gen" / "m"
    toys = sorted({r["subject"] for r in dreambooth_rows if r["class"] == "toy"})
    for s in toys:
        (gen / s).mkdir(parents=True)
        shutil.copy(DREAMBOOTH / next(r["path"] for r in dreambooth_rows if r["subject"] == s), gen / s / "0.jpg")
    r = CliRunner().invoke(cli, ["gallery", "build", "--pool", str(DREAMBOOTH / "manifest.csv"), "-o", str(out), "-m",
                                 "3", "-n", "2", "--gen", str(tmp_path / "gen"), "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert load_gallery(out).levels == ("class", "subject")
    chosen = {row["subject"] for row in csv.DictReader(open(out))}
    lost = sorted(set(toys) - chosen)
    assert len(lost) == len(toys) - 2 and f"{len(lost)} subject(s) with generations are not in the gallery" in r.output
    assert all(x in r.output for x in lost)


def test_names_that_differ_only_in_form_are_warned(tmp_path, dreambooth_rows):
    from idbench.data.manifest import load_gallery, load_generations
    from idbench.data.problems import ProblemLog

    for m in ("faithful", "Faithful", "faithfull", "method1", "method2"):
        (tmp_path / "gen" / m / "can").mkdir(parents=True)
        shutil.copy(DREAMBOOTH / "images" / "can" / "00.jpg", tmp_path / "gen" / m / "can" / "0.jpg")
    log = ProblemLog()
    load_generations(tmp_path / "gen", log)
    pairs = [p.reason for p in log.items if p.kind == "similar_names"]
    assert any("'Faithful' and 'faithful'" in x for x in pairs) and any("'faithful' and 'faithfull'" in x for x in pairs)
    assert not any("method1" in x for x in pairs)
    # label forms are warned whatever the levels asked for
    rows = [r for r in dreambooth_rows if r["subject"] in ("can", "clock")]
    with open(tmp_path / "g.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject", "class"])
        for r in rows:
            w.writerow([str(DREAMBOOTH / r["path"]), r["subject"], "1" if r["subject"] == "can" else "1.0"])
    log = ProblemLog()
    load_gallery(tmp_path / "g.csv", log, levels=["class", "subject"])
    assert any(p.kind == "label_form" and "'1' and '1.0'" in p.reason for p in log.items)


def test_dreambench_prompt_index_skips_seeds(tmp_path):
    from idbench.data.layouts.dreambench import prompt_index

    assert prompt_index("seed1_07")[0] == 7 and prompt_index("07_seed3")[0] == 7
    assert prompt_index("07_1") == (7, True)


def test_python_api_speaks(copy_world, tmp_path):
    from idbench.data.problems import IdbenchWarning
    from idbench.study import Study

    with pytest.warns(IdbenchWarning, match="near_copy") as caught:
        out = Study(refs=copy_world / "refs", gen=copy_world / "gen", progress=False, n_resamples=200).run()
    kinds = {p.kind for p in out.problems}
    assert {"near_copy"} <= kinds
    assert len([w for w in caught if "near_copy" in str(w.message)]) == 1  # one warning per kind, with a count
    out.write(tmp_path / "o", report=False)
    listed = list(csv.DictReader(open(tmp_path / "o" / "problems.csv")))
    assert len(listed) == len(out.problems)


def test_console_shows_a_few_lines_per_kind(copy_world, tmp_path):
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(copy_world / "refs"), "--gen",
                                                 str(copy_world / "gen"), "-o", str(tmp_path / "o"), "-q", "--no-report",
                                                 "--bootstrap", "200"], catch_exceptions=False)
    lines = [x for x in r.stderr.splitlines() if "near-copy" in x and x.startswith("flagged")]
    assert len(lines) == 3, r.stderr
    assert "problems.csv" in r.output


def test_blank_generation_is_flagged(tmp_path, dreambooth_rows):
    from idbench.data.content import audit_content
    from idbench.data.problems import ProblemLog
    from idbench.data.records import ImageRecord

    Image.new("RGB", (256, 256), (128, 128, 128)).save(tmp_path / "grey.png")
    ref = DREAMBOOTH / dreambooth_rows[0]["path"]
    log = ProblemLog()
    a = audit_content([ImageRecord("r", ref, "s")], [ImageRecord("g", tmp_path / "grey.png", "s", method="m")], [],
                      problems=log)
    assert a.per_method([ImageRecord("g", tmp_path / "grey.png", "s", method="m")])["m"]["blank"] == 1
    assert [p.kind for p in log.items] == ["blank"]


def test_aligned_correlation_is_the_definition():
    """The engine against a plain loop over crops, on random thumbprints."""
    from idbench.data.content import aligned_correlation

    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 4, 16)).astype(np.float32)
    A /= np.linalg.norm(A, axis=2, keepdims=True)
    B = np.concatenate([A[:2] + 0.01 * rng.standard_normal((2, 4, 16)).astype(np.float32),
                        rng.standard_normal((3, 4, 16)).astype(np.float32)])
    B /= np.linalg.norm(B, axis=2, keepdims=True)
    S = aligned_correlation(A, B, prefilter=-2.0, geometric=False)
    for i in range(5):
        for j in range(5):
            want = max(max(A[i, 0] @ B[j, c] for c in range(4)), max(A[i, c] @ B[j, 0] for c in range(4)))
            assert S[i, j] == pytest.approx(want, abs=1e-5)


def test_geometric_aligned_correlation_is_the_definition():
    """With mirrors and rotations and the border-trimmed view: a plain loop over views, the 8 transforms of
    the 32 x 32 thumbnail (numpy's rot90 / fliplr) and the crops."""
    from idbench.data.content import THUMB, aligned_correlation

    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 8, THUMB * THUMB)).astype(np.float32)
    A /= np.linalg.norm(A, axis=2, keepdims=True)
    B = rng.standard_normal((3, 8, THUMB * THUMB)).astype(np.float32)
    B[0, :4] = np.fliplr(A[1, 4:].reshape(4, THUMB, THUMB).transpose(1, 2, 0)).transpose(2, 0, 1).reshape(4, -1)
    B /= np.linalg.norm(B, axis=2, keepdims=True)

    def transforms(v):
        g = v.reshape(THUMB, THUMB)
        return [np.rot90(x, k).ravel() for x in (g, np.fliplr(g)) for k in range(4)]

    S = aligned_correlation(A, B, prefilter=-2.0)
    for i in range(4):
        for j in range(3):
            want = -1.0
            for view in (A[i, :4], A[i, 4:]):
                for t in range(8):
                    Bt = [transforms(B[j, c])[t] for c in range(4)]
                    want = max(want, max(view[0] @ Bt[c] for c in range(4)), max(view[c] @ Bt[0] for c in range(4)))
            assert S[i, j] == pytest.approx(want, abs=1e-5)
    assert S[1, 0] == pytest.approx(1.0, abs=1e-5)  # a mirrored copy of A[1]'s trimmed view


def test_a_method_with_some_copies_is_ranked_on_its_other_images():
    """Copies never count towards a rank: 'copier' beats 'honest' only through its copies."""
    from idbench.results import Results
    from idbench.stats.ranking import metric_rankings, ranking_inputs

    res = Results()
    res.add_metric("cos[x]", "cos")
    rows = []
    for s in range(12):
        rows.append({"method": "honest", "subject": f"s{s}", "image_id": f"h{s}", "cos[x]": 0.70 + 0.001 * s})
        rows.append({"method": "copier", "subject": f"s{s}", "image_id": f"c{s}a", "cos[x]": 0.99, "copy_kind": "near-copy"})
        rows.append({"method": "copier", "subject": f"s{s}", "image_id": f"c{s}b", "cos[x]": 0.60 + 0.001 * s})
    res.rows = rows
    res.sections["content"] = {"per_method": {"copier": {"images": 24, "copies": 0, "near_copies": 12, "blank": 0},
                                              "honest": {"images": 12, "copies": 0, "near_copies": 0, "blank": 0}}}
    res.summarise(n_resamples=200)
    assert res.methods["copier"]["cos[x]"]["mean"] > res.methods["honest"]["cos[x]"]["mean"]  # with its copies
    means, subj, left_out = ranking_inputs(res, "cos[x]")
    assert means["copier"] == pytest.approx(np.mean([0.60 + 0.001 * s for s in range(12)])) and not left_out
    rk = metric_rankings(res, ["cos[x]"])["cos[x]"]
    assert rk.best == "honest" and rk.ranks == {"honest": 1, "copier": 2}


def test_the_audits_best_match_equals_the_full_matrix_and_holds_a_block_at_a_time():
    import tracemalloc

    from idbench.data.content import CROPS, THUMB, aligned_correlation, best_aligned_match

    rng = np.random.default_rng(3)
    D = THUMB * THUMB

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    B = unit(rng.normal(size=(60, len(CROPS), D)))
    A = unit(rng.normal(size=(90, 2 * len(CROPS), D)))
    A[:30, : len(CROPS)] = unit(B[:30] + 0.05 * rng.normal(size=B[:30].shape))  # near-copies of B's first 30
    valid_a, valid_b = rng.random(90) > 0.1, rng.random(60) > 0.1
    S = aligned_correlation(A, B)
    S[~valid_a] = -1.0
    S[:, ~valid_b] = -1.0
    j, s = best_aligned_match(A, B, valid_a=valid_a, valid_b=valid_b, max_cells=60 * 7)  # blocks of 7 rows
    assert np.array_equal(j, S.argmax(1)) and np.allclose(s, S.max(1))
    R = A[:, : len(CROPS)][:40]
    T = aligned_correlation(R, R)
    T = np.where(np.triu(np.ones_like(T, bool), 1), T, -1.0)
    jj, ss = best_aligned_match(R, R, later_only=True, max_cells=40 * 3)
    assert np.array_equal(jj, T.argmax(1)) and np.allclose(ss, T.max(1))

    gallery = unit(rng.normal(size=(100, len(CROPS), D)))
    peaks = {}
    for n in (500, 5000):  # memory flat in the number of rows: the n x m matrix is never built
        rows = unit(rng.normal(size=(n, len(CROPS), D)))
        tracemalloc.start()
        best_aligned_match(rows, gallery, max_cells=100 * 64)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[5000] - peaks[500] < 0.25 * (5000 - 500) * 100 * 4, peaks  # the matrix would add 4500 x 100 floats


def test_a_warm_audit_reads_its_comparisons_back(tmp_path, dreambooth_rows, monkeypatch):
    import shutil

    import idbench.data.content as content
    from idbench.cache.store import EmbeddingCache
    from idbench.data.records import ImageRecord
    from tests.conftest import DREAMBOOTH

    refs = [ImageRecord(f"r{k}", DREAMBOOTH / r["path"], r["subject"]) for k, r in enumerate(dreambooth_rows[:6])]
    shutil.copy(refs[0].path, tmp_path / "copy.jpg")
    gens = [ImageRecord("g0", tmp_path / "copy.jpg", refs[0].subject, method="m"),
            ImageRecord("g1", DREAMBOOTH / dreambooth_rows[9]["path"], "x", method="m")]
    cache = EmbeddingCache(tmp_path / "cache")
    calls = []
    real = content.best_aligned_match
    monkeypatch.setattr(content, "best_aligned_match", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = content.audit_content(refs, gens, cache=cache)
    n = len(calls)
    import idbench.embed

    monkeypatch.setattr(idbench.embed, "embed_records", lambda *a, **k: pytest.fail("a warm audit read thumbprints"))
    again = content.audit_content(refs, gens, cache=cache)
    assert n > 0 and len(calls) == n  # nothing compared again, and no thumbprint read
    assert first.section(gens) == again.section(gens) and "g0" in {c.record.id for c in again.generation_copies.values()}


def test_trim_border_is_the_line_by_line_definition():
    """From each side, the leading lines that are near-uniform (std < 3) and within 8 grey levels of
    the outermost line's median are cut; written here as the plain loop, on letterboxed, padded,
    uniform-background and noisy images."""
    from idbench.data.content import trim_border

    def lines_cut(lines):
        if lines[0].std() >= 3.0:
            return 0
        ref, n = float(np.median(lines[0])), 0
        for line in lines:
            if line.std() >= 3.0 or abs(float(np.median(line)) - ref) > 8.0:
                break
            n += 1
        return n

    rng = np.random.default_rng(7)
    cases = []
    for k in range(40):
        h, w = rng.integers(20, 90, 2)
        a = np.full((h, w), rng.uniform(0, 255), np.float32)
        t, b, lft, r = (int(x) for x in rng.integers(0, 12, 4))
        inner = rng.uniform(0, 255, (h - t - b, w - lft - r)) if k % 3 else np.full((h - t - b, w - lft - r), a[0, 0] + 5)
        a[t:h - b, lft:w - r] = inner
        if k % 4 == 1:
            a += rng.normal(0, 2.5, a.shape)  # borders noisy but still near-uniform
        if k % 5 == 2:
            a[:, : w // 2] += 10  # a step across the border: only part of it within the tolerance
        cases.append(np.clip(a, 0, 255).astype(np.uint8))
    for a in cases:
        im = Image.fromarray(a, "L")
        f = a.astype(np.float32)
        top, bottom, left, right = lines_cut(f), lines_cut(f[::-1]), lines_cut(f.T), lines_cut(f.T[::-1])
        h, w = f.shape
        want = (w, h) if (top + bottom + left + right == 0 or h - top - bottom < h / 10 or w - left - right < w / 10) \
            else (w - left - right, h - top - bottom)
        assert trim_border(im).size == want


def test_the_gallery_audited_a_chunk_at_a_time_finds_what_one_pass_finds(dreambooth_rows, tmp_path, monkeypatch):
    """The audit holds at most GALLERY_CHUNK gallery thumbprints: with chunks of 4 it finds the same
    copies, leaks and scores as with the whole gallery at once (each generation's best match across
    chunks, the earlier gallery image keeping a tie)."""
    from idbench.data import content
    from idbench.data.problems import ProblemLog
    from idbench.data.records import ImageRecord

    rows = dreambooth_rows[:40]
    refs = [ImageRecord(f"r{i}", DREAMBOOTH / r["path"], r["subject"]) for i, r in enumerate(rows[:6])]
    gallery = [ImageRecord(f"l{i}", DREAMBOOTH / r["path"], r["subject"]) for i, r in enumerate(rows[6:])]
    gens = []
    for i, src in enumerate([DREAMBOOTH / rows[k]["path"] for k in (1, 9, 17, 30, 33)]):
        gens.append(ImageRecord(f"g{i}", _edit(src, tmp_path / f"g{i}", EDITS[i % 3]), "s", method="m"))
    gens.append(ImageRecord("byte", DREAMBOOTH / rows[20]["path"], "s", method="m"))  # a gallery file itself
    gallery.append(ImageRecord("leak", _edit(DREAMBOOTH / rows[2]["path"], tmp_path / "leak", "jpg256"), "s"))
    gallery.append(ImageRecord("twin", DREAMBOOTH / rows[20]["path"], "s"))  # the same bytes again, later: a tie

    def audit(chunk):
        monkeypatch.setattr(content, "GALLERY_CHUNK", chunk)
        return content.audit_content(refs, gens, gallery, problems=ProblemLog()).section(gens).to_dict()

    whole, chunked = audit(10_000), audit(4)
    assert chunked == whole
    assert len(whole["generation_copies"]) == 6 and len(whole["gallery_leaks"]) >= 1
    assert {c["set"] for c in whole["generation_copies"]} == {"reference", "gallery"}
