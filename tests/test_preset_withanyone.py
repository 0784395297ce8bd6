"""The withanyone preset gives the ArcFace numbers MultiID-Bench's own evaluation code gives.

The reference is a transcription, written for this test, of Doby-Xu/WithAnyone at commit
996d152b901941bdf33b3102b8c282db94a05a56:

* ``MultiID-Bench/metrics/arcface_metric.py``: ``FaceAnalysis(name="buffalo_l")`` prepared with
  ``det_thresh=0.45``; ``get_embeddings`` (every face), ``get_multi_img_embeddings`` (the first face of
  each reference, None when one has none), ``compare_faces_with_confusion_matrix(_with_ref)`` (cosine
  matrix, ``linear_sum_assignment`` on its negative, the matched scores), ``calculate_copy_geo_multi_person``
  and ``copy_geo``;
* ``MultiID-Bench/eval.py``: ``pad_image`` (references on a black square of 1.5 x the longer side),
  ``_calculate_face_metrics`` (sim_ori, copy_geo, sim_ref), the sample value ``.mean()``, and
  ``_compute_statistics`` / ``_remove_outliers`` (IQR 1.5; the median when more than half would go).

It runs insightface's own FaceAnalysis on a tiny random buffalo_l pack over MultiID-Bench sample folders
built from the faces-small photos: two-person generations and ground truths, a PNG reference beside a JPG
one, samples whose face counts differ (no copy_geo) and one-face samples where they agree (copy_geo).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import SHARED
from tests.face_packs import write_pack

insightface = pytest.importorskip("insightface", reason="insightface 2.1 is installed by scripts/setup.sh --test")
cv2 = pytest.importorskip("cv2")
FACES = SHARED / "datasets" / "faces-small" / "images"
E = "arcface:buffalo_l#det_thresh=0.45"


# ----------------------------------------------------------------- the transcription of MultiID-Bench's code

def pad_image(img, ratio=1.5):
    w, h = img.size
    new_size = int(max(h, w) * ratio)
    padded = Image.new("RGB", (new_size, new_size), (0, 0, 0))
    padded.paste(img, ((new_size - w) // 2, (new_size - h) // 2))
    return padded


def copy_geo(gen, target, ref, eps=1e-6):
    gen, target, ref = (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x for x in (gen, target, ref))

    def normalize(x):
        return x / (np.linalg.norm(x) + eps)

    g, t, r = normalize(gen), normalize(target), normalize(ref)
    s_gt, s_gr, s_tr = (np.clip(np.dot(a, b), -1.0, 1.0) for a, b in ((g, t), (g, r), (t, r)))
    theta_gt, theta_gr, theta_tr = np.arccos(s_gt), np.arccos(s_gr), np.arccos(s_tr)
    if theta_tr < eps:
        return 0.0
    return float((theta_gt - theta_gr) / theta_tr)


class MultiIDArcFace:
    def __init__(self, root):
        from insightface.app import FaceAnalysis
        from scipy.optimize import linear_sum_assignment

        self.model = FaceAnalysis(name="buffalo_l", root=str(root), providers=["CPUExecutionProvider"])
        # prepare(ctx_id=0, det_thresh=0.45): insightface 0.7.3 (the release of the benchmark's time; ConsisID pins
        # it) defaults det_size to (640, 640); insightface 2.x's default is a multi-scale list, so it is spelled out
        self.model.prepare(ctx_id=-1, det_thresh=0.45, det_size=(640, 640))
        self.lsa = linear_sum_assignment
        self.cos = torch.nn.functional.cosine_similarity

    def get_embeddings(self, img):
        res = self.model.get(cv2.cvtColor(np.array(img), cv2.COLOR_RGB2BGR))
        return None if len(res) == 0 else torch.stack([torch.from_numpy(r.embedding) for r in res])

    def get_multi_img_embeddings(self, imgs):
        results = [res for res in (self.model.get(cv2.cvtColor(np.array(i), cv2.COLOR_RGB2BGR)) for i in imgs)
                   if len(res)]
        if len(results) != len(imgs):
            return None
        return torch.stack([torch.from_numpy(r[0].embedding) for r in results])

    def matched(self, embs_1, embs_2):
        sim = self.cos(embs_1.unsqueeze(1), embs_2.unsqueeze(0), dim=2).detach().cpu().numpy()
        rows, cols = self.lsa(-sim)
        return sim[rows, cols]

    def sim_ref(self, img, refs):
        a, b = self.get_embeddings(img), self.get_multi_img_embeddings(refs)
        return None if a is None or b is None else self.matched(a, b)

    def sim_ori(self, img, ori):
        a, b = self.get_embeddings(img), self.get_embeddings(ori)
        return None if a is None or b is None else self.matched(a, b)

    def copy_geo_multi(self, gen_img, target_img, ref_imgs):
        g, t, r = self.get_embeddings(gen_img), self.get_embeddings(target_img), self.get_multi_img_embeddings(ref_imgs)
        if g is None or t is None or r is None or not (g.shape[0] == t.shape[0] == r.shape[0]):
            return None
        gt = -self.cos(g.unsqueeze(1), t.unsqueeze(0), dim=2).numpy()
        ri, ci = self.lsa(gt)
        gr = -self.cos(g.unsqueeze(1), r.unsqueeze(0), dim=2).numpy()
        ri_gr, ci_gr = self.lsa(gr)
        out = []
        for i in range(len(ri)):
            ref_idx = ci_gr[np.where(ri_gr == ri[i])[0][0]]
            out.append(copy_geo(g[ri[i]], t[ci[i]], r[ref_idx]))
        return torch.tensor(out)


def compute_statistics(values, threshold=1.5):
    v = np.array(values)
    q1, q3 = np.percentile(v, 25), np.percentile(v, 75)
    iqr = q3 - q1
    kept = v[(v >= q1 - threshold * iqr) & (v <= q3 + threshold * iqr)]
    if len(kept) < len(v) * 0.5:
        return float(np.median(v))
    return float(np.mean(kept))


# ----------------------------------------------------------------- the data and the test


def _side_by_side(*paths, h=72):
    ims = [Image.open(p).convert("RGB") for p in paths]
    ims = [im.resize((int(im.width * h / im.height), h)) for im in ims]
    out = Image.new("RGB", (sum(i.width for i in ims), h))
    x = 0
    for im in ims:
        out.paste(im, (x, 0))
        x += im.width
    return out


def _bench(root):
    o, b = FACES / "obama", FACES / "biden"
    samples = {
        "s1": ([o / "obama.jpg", b / "biden.jpg"], [o / "obama2.jpg", b / "biden.jpg"], [o / "obama3.jpg", b / "biden.jpg"]),
        "s2": ([o / "obama2.jpg"], [o / "obama3.jpg"], [o / "obama.jpg"]),
        "s3": ([b / "biden.jpg", o / "obama3.jpg"], [o / "obama_partial_face.jpg"], [o / "obama.jpg", o / "obama2.jpg"]),
        "s6": ([o / "obama_partial_face.jpg"], [o / "obama.jpg"], [o / "obama2.jpg"]),
    }
    for name, (refs, out, ori) in samples.items():
        d = root / name
        d.mkdir(parents=True)
        for k, p in enumerate(refs, 1):
            Image.open(p).convert("RGB").resize((96, 96)).save(d / f"ref_{k}.jpg")
        _side_by_side(*out).save(d / "output_0.jpg")
        _side_by_side(*ori).save(d / "ori.jpg")
        (d / "meta.json").write_text(json.dumps({"caption_en": f"two people in {name}"}))
    # one-face samples (a small photo patch on flat grey: the tiny random detector finds exactly one "face"
    # there), so that the generation, the ground truth and the one reference agree in count: copy_geo is defined
    src = Image.open(FACES / "obama" / "obama.jpg").convert("RGB")

    def patch(size, x, y):
        canvas = Image.new("RGB", (640, 640), (128, 128, 128))
        canvas.paste(src.crop((x, y, x + size, y + size)), (320, 320))
        return canvas

    for name, gen, ori in (("s8", (48, 200, 150), (48, 300, 50)), ("s9", (24, 100, 100), (48, 200, 150))):
        d = root / name
        d.mkdir()
        src.resize((96, 96)).save(d / "ref_1.jpg")
        patch(*gen).save(d / "output_0.png")
        patch(*ori).save(d / "ori.png")
    # a sample with a PNG reference beside a JPG one
    d = root / "s7"
    d.mkdir()
    Image.open(FACES / "obama" / "obama.jpg").convert("RGB").resize((96, 96)).save(d / "ref_1.jpg")
    Image.new("RGB", (96, 96), (0, 0, 0)).save(d / "ref_2.png")  # a PNG reference beside a JPG one
    _side_by_side(FACES / "obama" / "obama2.jpg").save(d / "output_0.jpg")
    _side_by_side(FACES / "obama" / "obama3.jpg").save(d / "ori.jpg")
    return sorted(samples) + ["s7", "s8", "s9"]


def test_withanyone_preset_prints_multiid_benchs_arcface_numbers(tmp_path, monkeypatch):
    home = tmp_path / "insightface"
    monkeypatch.setenv("INSIGHTFACE_HOME", str(home))
    write_pack(home / "models" / "buffalo_l")
    bench = tmp_path / "mymethod"
    names = _bench(bench)
    r = CliRunner().invoke(cli, ["run", "--refs", str(bench), "--gen", str(bench), "--preset", "withanyone", "-o",
                                 str(tmp_path / "out"), "-q", "--no-report", "--bootstrap", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {x["image_id"]: x for x in csv.DictReader(open(tmp_path / "out" / "per_image.csv"))}
    up = MultiIDArcFace(home)
    lists = {"face_cos": [], "face_cos_gt": [], "copy_paste": []}
    for name in names:
        d = bench / name
        out, ori = Image.open(next(d.glob("output_0.*"))), Image.open(next(d.glob("ori.*")))
        refs = [pad_image(Image.open(p)) for p in sorted(d.glob("ref_*.*"))]
        row = rows[f"{name}/output_0"]
        sim_ref = up.sim_ref(out, refs)
        want = {"face_cos": None if sim_ref is None else float(sim_ref.mean())}
        if sim_ref is not None:  # MultiID-Bench computes sim_ori and copy_geo for a sample it scores
            s = up.sim_ori(out, ori)
            want["face_cos_gt"] = None if s is None else float(s.mean())
            cg = up.copy_geo_multi(out, ori, refs)
            want["copy_paste"] = None if cg is None else float(cg.mean())
        for k, w in want.items():
            got = row[f"{k}[{E}]"]
            if w is None:
                assert got == "", (name, k, got)
            else:
                assert abs(float(got) - w) < 1e-4, (name, k, got, w)
                lists[k].append(w)
    assert lists["copy_paste"] and len(lists["copy_paste"]) < len(lists["face_cos"])  # face counts differ somewhere
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["methods"]["mymethod"]
    for k, vals in lists.items():
        assert abs(summary[f"{k}[{E}]"]["mean"] - compute_statistics(vals)) < 1e-4, k


def test_the_iqr_trimmed_mean_is_multiid_benchs_statistic():
    from idbench.stats.bootstrap import iqr_trimmed_mean

    rng = np.random.default_rng(0)
    for n in (3, 4, 7, 20, 101):
        v = np.concatenate([rng.normal(0.5, 0.1, n), rng.normal(3.0, 0.1, max(1, n // 10))])
        assert abs(iqr_trimmed_mean(v)[0] - compute_statistics(v)) < 1e-12
    v = np.array([0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 10.0])  # fewer than half kept would fall back to the median
    assert iqr_trimmed_mean(v)[0] == compute_statistics(v)


def test_multiid_bench_reference_padding_is_pad_image():
    from idbench.encoders.face_retry import PaddedSquare

    class Probe:
        kind, name, dim, cache_id = "face", "probe", 2, "probe"

        def preprocess(self, im):
            return np.asarray(im)

    im = Image.fromarray(np.random.default_rng(1).integers(0, 255, (41, 67, 3), dtype=np.uint8))
    x, off = PaddedSquare(Probe(), 1.5).preprocess(im)
    assert np.array_equal(x, np.asarray(pad_image(im))) and off == ((100 - 67) // 2, (100 - 41) // 2)
