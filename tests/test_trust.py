"""Numbers a researcher can trust: leaked references, copies, label typing, exact margins, chance
levels, honest display. Built from the real DreamBooth photos and copies the tests make."""

import csv
import itertools
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from idbench.metrics.labels import check_label_types, closest_labels, form_conflicts
from idbench.metrics.nearid import sample_margins, ssr_pa
from idbench.metrics.retrieval import chance_retrieval, expected_random_ap, expected_random_cmc, retrieval_metrics
from tests.conftest import DREAMBOOTH


def _world(tmp_path, rows, n_ref=2, leak=0, rename_leaks=True):
    """refs/<s>/<i>.jpg (first n_ref photos), gallery.csv (the rest, plus `leak` byte copies of
    references under other names), gen/faithful/<s>/ (held-out photos of the subject)."""
    by = {}
    for r in rows:
        by.setdefault(r["subject"], []).append(r)
    gallery = [["path", "subject", "class"]]
    leaks = []
    for s, rs in sorted(by.items()):
        for i, r in enumerate(rs):
            src = DREAMBOOTH / r["path"]
            if i < n_ref:
                d = tmp_path / "refs" / s
                d.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, d / f"{i}.jpg")
                if len(leaks) < leak:
                    c = tmp_path / "leaks" / f"copy_{s}_{i}.jpg"
                    c.parent.mkdir(exist_ok=True)
                    shutil.copy(src, c)
                    leaks.append(c)
                    gallery.append([str(c), s, r["class"]])
            else:
                gallery.append([str(src), s, r["class"]])
        g = tmp_path / "gen" / "faithful" / s
        g.mkdir(parents=True, exist_ok=True)
        Image.open(DREAMBOOTH / rs[-1]["path"]).convert("RGB").resize((200, 200)).save(g / "0.png")
    with open(tmp_path / "gallery.csv", "w", newline="") as f:
        csv.writer(f).writerows(gallery)
    return leaks


def _rank(tmp_path, out, *extra):
    r = CliRunner().invoke(cli, ["rank", "--gallery", str(tmp_path / "gallery.csv"), "--gen", str(tmp_path / "gen"),
                                 "--levels", "class,subject", "-o", str(out), "-q", "--bootstrap", "200",
                                 "--no-report", *extra], catch_exceptions=False)
    return r


def test_leaked_reference_copies_change_no_real_figure(tmp_path, dreambooth_rows):
    clean, leaky = tmp_path / "clean", tmp_path / "leaky"
    clean.mkdir(), leaky.mkdir()
    _world(clean, dreambooth_rows)
    leaks = _world(leaky, dreambooth_rows, leak=18)
    assert len(leaks) == 18
    r1 = _rank(clean, clean / "res", "--refs", str(clean / "refs"))
    r2 = _rank(leaky, leaky / "res", "--refs", str(leaky / "refs"))
    assert r1.exit_code == 0 and r2.exit_code == 0, r2.output
    a = json.loads((clean / "res" / "summary.json").read_text())
    b = json.loads((leaky / "res" / "summary.json").read_text())
    ra, rb = a["sections"]["retrieval"], b["sections"]["retrieval"]
    for lv in ("class", "subject"):
        for k in ("ap", "cmc@1", "cmc@5", "rr", "r_precision"):
            assert ra["real"][lv][k] == rb["real"][lv][k], (lv, k)
        assert ra["methods"]["faithful"][lv]["ap"] == rb["methods"]["faithful"][lv]["ap"]
    assert rb["leakage"]["gallery_copies_of_references"] == 18 and rb["leakage"]["removed"] == 18
    assert rb["gallery_size"] == ra["gallery_size"]
    named = {p["path"] for p in b["problems"]["items"] if p["kind"] == "leaked_reference"}
    assert named == {str(c) for c in leaks}
    assert "18 gallery image(s) copy a reference" in r2.output
    # kept on request, a reference still never retrieves its own bytes; the count stays honest
    r3 = _rank(leaky, leaky / "keep", "--refs", str(leaky / "refs"), "--leaked", "keep")
    assert r3.exit_code == 0, r3.output
    k = json.loads((leaky / "keep" / "summary.json").read_text())["sections"]["retrieval"]
    assert k["leakage"]["gallery_copies_of_references"] == 18 and k["gallery_size"] == ra["gallery_size"] + 18
    assert k["real"]["subject"]["references_in_gallery"] == 18


def test_gallery_build_exclude_matches_content_and_repeats(tmp_path, dreambooth_rows):
    leaks = _world(tmp_path, dreambooth_rows, leak=6)
    more = tmp_path / "more_refs" / "dog"
    more.mkdir(parents=True)
    shutil.copy(DREAMBOOTH / dreambooth_rows[-1]["path"], more / "x.jpg")
    pool = tmp_path / "pool.csv"
    shutil.copy(tmp_path / "gallery.csv", pool)
    out = tmp_path / "g.csv"
    r = CliRunner().invoke(cli, ["gallery", "build", "--pool", str(pool), "-o", str(out), "-m", "100",
                                 "--exclude", str(tmp_path / "refs"), "--exclude", str(tmp_path / "more_refs"), "-q"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    chosen = {row["path"] for row in csv.DictReader(open(out))}
    assert not chosen & {str(c.resolve()) for c in leaks}
    assert str((DREAMBOOTH / dreambooth_rows[-1]["path"]).resolve()) not in chosen
    assert "7 pool image(s) excluded" in r.output


def test_generated_copy_is_flagged_and_never_its_own_match(tmp_path, dreambooth_rows):
    _world(tmp_path, dreambooth_rows)
    gal = list(csv.DictReader(open(tmp_path / "gallery.csv")))
    d = tmp_path / "gen" / "copier" / gal[0]["subject"]
    d.mkdir(parents=True)
    shutil.copy(gal[0]["path"], d / "0.jpg")
    r = _rank(tmp_path, tmp_path / "res")
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "res" / "summary.json").read_text())
    sec = s["sections"]["retrieval"]
    assert s["sections"]["content"]["per_method"]["copier"]["copies"] == 1
    row = next(x for x in csv.DictReader(open(tmp_path / "res" / "per_image.csv")) if x["method"] == "copier")
    assert row["copy_of"].startswith("gallery:")
    # its own gallery copy is left out: AP equals the one computed with that gallery item removed from the file
    with open(tmp_path / "gallery.csv", newline="") as f:
        rows = list(csv.reader(f))
    with open(tmp_path / "gallery.csv", "w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + [x for x in rows[1:] if x[0] != gal[0]["path"]])
    assert _rank(tmp_path, tmp_path / "res2").exit_code == 0
    row2 = next(x for x in csv.DictReader(open(tmp_path / "res2" / "per_image.csv")) if x["method"] == "copier")
    assert float(row["ap:subject[effnet-lite0]"]) == pytest.approx(float(row2["ap:subject[effnet-lite0]"]), abs=1e-9)
    assert sec["gallery_size"] == len(rows) - 1  # the copy's source stays in the gallery for every other query


def test_labels_that_differ_in_form_are_named(tmp_path, dreambooth_rows):
    rows = [r for r in dreambooth_rows if r["subject"] in ("can", "clock", "vase")]
    ids = {"can": "1", "clock": "2", "vase": "3"}
    with open(tmp_path / "gallery.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject"])
        for r in rows:
            w.writerow([str(DREAMBOOTH / r["path"]), ids[r["subject"]]])
    with open(tmp_path / "gen.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "method", "subject"])
        for s in ids:
            w.writerow([str(DREAMBOOTH / next(r for r in rows if r["subject"] == s)["path"]), "m", ids[s] + ".0"])
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "gallery.csv"), "--gen", str(tmp_path / "gen.csv"),
                                 "-q", "--no-report", "-o", str(tmp_path / "o"), "-e", "test-color"], catch_exceptions=False)
    assert r.exit_code != 0 and "did you mean '1'?" in r.output, r.output
    for cmd in (["rank", "--gallery"], ["rca", "--train"]):
        r = CliRunner().invoke(cli, [*cmd, str(tmp_path / "gallery.csv"), "--gen", str(tmp_path / "gen.csv"), "-q",
                                     "--no-report", "-o", str(tmp_path / "o")], catch_exceptions=False)
        assert r.exit_code != 0
        assert "subject '1.0'" in r.output and "did you mean '1'?" in r.output, r.output
        assert "Traceback" not in r.output and "(0, 0)" not in r.output


def test_metric_functions_reject_mixed_label_types():
    q = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="mix types float and int"):
        retrieval_metrics(q, [1.0, 2.0, 3.0], q, [1, 2, 3])
    with pytest.raises(ValueError, match="mix types"):
        check_label_types(["1"], [1])
    # one type: compared by value, not by str()
    r = retrieval_metrics(q, [1, 2, 3], q, [1, 2, 3])
    assert r.mean("ap") == 1.0
    assert closest_labels("1.0", ["1", "2", "10"])[0] == "1"
    assert form_conflicts(["1", "1.0", "Dog", "dog"]) == [["1", "1.0"], ["Dog", "dog"]]


def test_exact_zero_margins_from_byte_copies(tmp_path, dreambooth_rows):
    """12 samples whose distractor of view 0 is a byte copy of view 1: every sample has a margin of
    exactly 0, so strict SSR is 0 through the whole pipeline (files -> cache -> margins)."""
    subjects = sorted({r["subject"] for r in dreambooth_rows})[:12]
    rows = [["sample_id", "source", "views", "distractors"]]
    for s in subjects:
        photos = [DREAMBOOTH / r["path"] for r in dreambooth_rows if r["subject"] == s][:3]
        other = [DREAMBOOTH / r["path"] for r in dreambooth_rows if r["subject"] != s][:2]
        d = tmp_path / s
        d.mkdir()
        shutil.copy(photos[1], d / "copy_of_view2.jpg")  # distractor of view 1 == view 2 byte for byte
        rows.append([s, "copies", ";".join(map(str, photos)), ";".join([str(d / "copy_of_view2.jpg"), *map(str, other)])])
    with open(tmp_path / "samples.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = tmp_path / "res"
    r = CliRunner().invoke(cli, ["nearid", "eval", "--samples", str(tmp_path / "samples.csv"), "-o", str(out), "-q"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads((out / "summary.json").read_text())["sections"]["nearid"]
    assert res["ssr"] == 0.0 and res["n_samples"] == 12
    rows_out = list(csv.DictReader(open(out / "nearid_samples.csv")))
    assert all(float(x["min_margin"]) <= 0.0 and x["success"] == "False" for x in rows_out)


def test_sample_margins_exact_zero_for_random_unit_vectors():
    rng = np.random.default_rng(0)
    fails = 0
    for _ in range(200):
        v = rng.normal(size=(3, 97)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        d = rng.normal(size=(3, 97)).astype(np.float32)
        d[0], d[2] = v[1], v[0]  # copies of other views
        m = sample_margins(v, d)
        fails += int(m[0] != 0.0) + int(m[3] != 0.0)  # pair (0,1) m_0 and pair (0,2) m_2
    assert fails == 0
    assert ssr_pa([sample_margins(v, d)]).ssr == 0.0


def _brute_chance(labels_q, labels_g, k):
    """Average over every permutation of the gallery of AP and CMC@k, from the definitions."""
    aps, cmcs = [], []
    for q in labels_q:
        for perm in itertools.permutations(range(len(labels_g))):
            rel = [labels_g[j] == q for j in perm]
            n = sum(rel)
            hits, ap = 0, 0.0
            for rank, is_rel in enumerate(rel, 1):
                if is_rel:
                    hits += 1
                    ap += hits / rank
            aps.append(ap / n if n else 0.0)
            cmcs.append(float(any(rel[:k])))
    return np.mean(aps), np.mean(cmcs)


@pytest.mark.parametrize("labels_g", [list("aabbc"), list("abcdef"), list("aaaaab"), list("abab")])
def test_chance_levels_match_brute_force(labels_g):
    labels_q = ["a", "b", "z"]  # "z": a query with no relevant item scores 0 (published rule)
    ap, cmc2 = _brute_chance(labels_q, labels_g, 2)
    n = [sum(g == q for g in labels_g) for q in labels_q]
    got = chance_retrieval(n, [len(labels_g)] * 3, ks=(2,))
    assert got["ap"] == pytest.approx(ap, abs=1e-12)
    assert got["cmc@2"] == pytest.approx(cmc2, abs=1e-12)


def test_random_cmc_is_scipys_hypergeometric():
    """P(at least one relevant item in the top k) of a uniformly random ranking: scipy.stats.hypergeom's
    survival function, for every k the tables use, all-relevant and no-relevant queries included."""
    from scipy.stats import hypergeom

    rng = np.random.default_rng(5)
    N = rng.integers(0, 60, 4000)
    M = N + rng.integers(0, 5000, 4000)
    M[:20] = N[:20]
    for k in (1, 5, 10, 20):
        want = np.where(N > 0, hypergeom.sf(0, M, N, np.minimum(k, M)), 0.0)
        assert np.abs(expected_random_cmc(N, M, k) - want).max() < 1e-12


def test_chance_from_retrieval_result_counts_left_out_items():
    rng = np.random.default_rng(1)
    G = rng.normal(size=(6, 8)).astype(np.float32)
    G /= np.linalg.norm(G, axis=1, keepdims=True)
    r = retrieval_metrics(G[:2], ["a", "b"], G, list("aabbcc"), query_ids=[0, 2], gallery_ids=list(range(6)))
    assert r.n_candidates.tolist() == [5, 5]
    assert r.chance()["ap"] == pytest.approx(float(np.mean(expected_random_ap([1, 1], [5, 5]))))
    assert expected_random_cmc(0, 5, 1) == 0.0


def test_rank_without_refs_prints_no_nan(tmp_path, dreambooth_rows):
    _world(tmp_path, dreambooth_rows)
    r = _rank(tmp_path, tmp_path / "res")
    assert r.exit_code == 0, r.output
    assert "nan" not in r.output.lower().replace("nearid", "")
    assert "no references were given" in r.output
    assert "chance mAP" in r.output
    c = CliRunner().invoke(cli, ["compare", str(tmp_path / "res"), "--bootstrap", "200"], catch_exceptions=False)
    assert c.exit_code == 0 and "nan" not in c.output.lower()


def _fid_sqrtm(X, Y):
    """The definition, through scipy.linalg.sqrtm (the previous implementation)."""
    from scipy import linalg

    mu1, mu2 = X.mean(0), Y.mean(0)
    s1, s2 = np.cov(X, rowvar=False), np.cov(Y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n,m,d", [(40, 30, 64), (300, 250, 16), (20, 200, 32)])
def test_fid_fast_trace_matches_sqrtm(n, m, d):
    import warnings

    from idbench.metrics.distribution import frechet_distance

    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, d))
    Y = rng.normal(0.2, 1.3, size=(m, d)) @ rng.normal(size=(d, d)) / np.sqrt(d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got, want = frechet_distance(X, Y), _fid_sqrtm(X, Y)
    assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


def test_fid_warns_below_one_sample_per_dimension():
    from idbench.metrics.distribution import frechet_distance

    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="use KID"):
        frechet_distance(rng.normal(size=(30, 64)), rng.normal(size=(30, 64)))


def test_kid_with_precomputed_kernels_matches_per_subset_loop():
    from idbench.metrics.distribution import kernel_inception_distance, polynomial_mmd2_unbiased

    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(60, 8)), rng.normal(0.3, 1, size=(50, 8))
    got = kernel_inception_distance(X, Y, subset_size=20, n_subsets=10, seed=5)
    r = np.random.default_rng(5)
    vals = []
    for _ in range(10):
        i = r.choice(60, 20, replace=False)
        j = r.choice(50, 20, replace=False)
        vals.append(polynomial_mmd2_unbiased(X[i], Y[j]))
    assert got.mean == pytest.approx(np.mean(vals), rel=1e-12) and got.std == pytest.approx(np.std(vals), rel=1e-9)


def test_ratio_bootstrap_matches_plain_loop():
    from idbench.stats.bootstrap import ratio_bootstrap

    rng = np.random.default_rng(0)
    subs = np.array([f"s{i}" for i in range(8)])
    x_c = np.repeat(subs, 3)
    x = rng.uniform(0, 1, len(x_c))
    y_c = np.repeat(subs, 2)
    y = rng.uniform(0.5, 1, len(y_c))
    got = ratio_bootstrap(x, x_c, y, y_c, n_resamples=500, seed=1)
    # the same multinomial draws, applied by a loop over resampled subjects
    labels = np.unique(np.concatenate([x_c, y_c]))
    w = np.random.default_rng(1).multinomial(len(labels), np.full(len(labels), 1 / len(labels)), size=500)
    stats = []
    for row in w:
        num = sum(row[k] * x[x_c == s].sum() for k, s in enumerate(labels)) / sum(row[k] * (x_c == s).sum() for k, s in enumerate(labels))
        den = sum(row[k] * y[y_c == s].sum() for k, s in enumerate(labels)) / sum(row[k] * (y_c == s).sum() for k, s in enumerate(labels))
        stats.append(num / den)
    assert got.mean == pytest.approx(x.mean() / y.mean())
    assert (got.ci_low, got.ci_high) == pytest.approx(tuple(np.quantile(stats, [0.025, 0.975])))


def test_no_rank_when_subjects_cannot_reach_significance(tmp_path):
    """5 subjects: the smallest exact two-sided sign-flip p is 0.0625 > 0.05, so no method is #1 in bold."""
    from idbench.report.html import render_report
    from idbench.results import Results
    from idbench.stats.compare import min_attainable_p, separable

    assert min_attainable_p(5) == 0.0625 and not separable(5, 1) and separable(6, 1) and not separable(6, 3)
    res = Results(command="test")
    res.add_metric("cos[x]", "cosine")
    for m, off in (("a", 0.3), ("b", 0.0), ("c", -0.3)):
        for s in range(5):
            res.rows.append({"method": m, "subject": f"s{s}", "image_id": f"{m}{s}", "path": "", "prompt": "",
                             "cos[x]": 0.5 + off + 0.01 * s})
    res.summarise(n_resamples=200)
    out = res.write(tmp_path / "res")
    html = render_report(out).read_text()
    assert 'class="best"' not in html and "#1" not in html
    assert "smallest attainable Holm-adjusted p" in html
    r = CliRunner().invoke(cli, ["compare", str(out), "--bootstrap", "200"], catch_exceptions=False)
    assert "not ranked" in r.output and "#1" not in r.output
    # with 12 subjects the same gaps separate: one best method, bold
    res.rows = [dict(r, subject=f"{r['subject']}{k}", image_id=f"{r['image_id']}{k}") for r in res.rows for k in range(3)]
    res.summarise(n_resamples=200)
    html = render_report(res.write(tmp_path / "res12")).read_text()
    assert html.count('class="best"') == 1


def test_evaluate_flags_copies_and_keeps_fid_opt_in(tmp_path, dreambooth_rows):
    _world(tmp_path, dreambooth_rows)
    s = sorted((tmp_path / "refs").iterdir())[0]
    d = tmp_path / "gen" / "copier" / s.name
    d.mkdir(parents=True)
    shutil.copy(s / "0.jpg", d / "copy.jpg")
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "-o",
                                 str(tmp_path / "res"), "-q", "--bootstrap", "200", "--no-report"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    summ = json.loads((tmp_path / "res" / "summary.json").read_text())
    per = summ["sections"]["content"]["per_method"]
    assert (per["copier"]["copies"], per["faithful"]["copies"], per["faithful"]["near_copies"]) == (1, 0, 0)
    assert "distribution" not in summ["sections"]
    assert any(p["kind"] == "copy" and p["action"] == "flagged" for p in summ["problems"]["items"])
    assert "no interval: 1 subject" in r.output  # the copier has one subject: no zero-width interval


def test_gallery_labels_that_differ_in_form_are_warned(tmp_path, dreambooth_rows):
    from idbench.data.manifest import load_gallery
    from idbench.data.problems import ProblemLog

    rows = [r for r in dreambooth_rows if r["subject"] in ("can", "clock", "vase", "teapot")]
    cls = {"can": "1", "clock": "1.0", "vase": "2", "teapot": "2"}
    with open(tmp_path / "g.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject", "class"])
        for r in rows:
            w.writerow([str(DREAMBOOTH / r["path"]), r["subject"], cls[r["subject"]]])
    log = ProblemLog()
    g = load_gallery(tmp_path / "g.csv", log)
    assert g.levels == ("class", "subject")
    assert any(p.kind == "label_form" and "'1' and '1.0'" in p.reason for p in log.items)
    # one subject with both forms: the column is dropped, and the log says why
    with open(tmp_path / "g2.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject", "class"])
        for k, r in enumerate(rows):
            w.writerow([str(DREAMBOOTH / r["path"]), r["subject"], "1" if r["subject"] != "vase" else ("2" if k % 2 else "2.0")])
    log = ProblemLog()
    assert load_gallery(tmp_path / "g2.csv", log).levels == ("subject",)
    assert any(p.kind == "label_level_dropped" and "differ only in form" in p.reason for p in log.items)


def test_near_copy_of_a_reference_in_the_gallery_is_a_leak(tmp_path, dreambooth_rows):
    _world(tmp_path, dreambooth_rows)
    ref = sorted((tmp_path / "refs").iterdir())[0] / "0.jpg"
    near = tmp_path / "near.jpg"
    im = Image.open(ref).convert("RGB")
    im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(near, quality=70)
    with open(tmp_path / "gallery.csv", "a", newline="") as f:
        csv.writer(f).writerow([str(near), ref.parent.name, next(r["class"] for r in dreambooth_rows if r["subject"] == ref.parent.name)])
    r = _rank(tmp_path, tmp_path / "res", "--refs", str(tmp_path / "refs"))
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "res" / "summary.json").read_text())
    leak = s["sections"]["retrieval"]["leakage"]
    assert leak["removed"] == 1 and leak["items"][0] == {"gallery": str(near), "reference": str(ref), "kind": "near-copy"}
    assert any(p["kind"] == "leaked_reference" and p["path"] == str(near) for p in s["problems"]["items"])


def test_report_examples_with_relative_paths_spread_over_subjects(tmp_path, dreambooth_rows, monkeypatch):
    _world(tmp_path, dreambooth_rows)
    for s in sorted((tmp_path / "gen" / "faithful").iterdir())[:4]:  # a second method on 4 subjects
        d = tmp_path / "gen" / "second" / s.name
        d.mkdir(parents=True)
        Image.open(s / "0.png").rotate(10).save(d / "0.png")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["rank", "--gallery", "gallery.csv", "--gen", "gen", "--refs", "refs", "-o", "res", "-q",
                                 "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    ex = json.loads((tmp_path / "res" / "summary.json").read_text())["sections"]["retrieval"]["examples"]
    assert {e["method"] for e in ex} == {"faithful", "second"}
    assert len({(e["method"], e["subject"]) for e in ex}) == len(ex)  # no subject twice before all had one
    html = (tmp_path / "res" / "report.html").read_text()
    assert html.count("data:image/jpeg;base64,") >= 6 * len(ex)
    import re

    text = re.sub(r'data:[^"]+', "", html).lower()
    assert not re.search(r"\bnan\b", text)
