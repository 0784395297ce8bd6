"""The fpr preset gives the number Finer-Personalization Rank's own evaluation code gives.

The reference below is a transcription, written for this test, of OSU-MLB/Finer-Personalization-Rank at
commit b4552a63d19f44ec5ec6feacb1931e79af1ffd7e:

* ``evaluation/get_results.py`` ``main``: for each species ``clss`` of ``generated_data.csv``,
  ``evaluate(qpath, gpath, model_name, species=clss)``; one row per (source, species);
* ``evaluation/Evaluate.py`` ``evaluate``: the query and gallery tables filtered to ``species``, the
  ``name`` column label-encoded, images read with PIL ``.convert('RGB')`` then ``np.array`` into the
  model's processor; ``eval_fn``: ``distmat = cosine_distance(qf, gf)``, ``mean_average_precision``;
* ``evaluation/embeds_extractors.py`` ``extract_dino_embeds``: ``facebook/dinov2-base``,
  ``AutoImageProcessor``, ``last_hidden_state[:, 0, :]``; ``cosine_distance``: ``1 - mm(normalize(q),
  normalize(g).T)``; ``mean_average_precision``: per query ``argsort`` of the distances,
  ``precision_at_k = cumsum(rel) / k``, ``AP = sum(precision_at_k * rel) / num_gt``, ``AP = 0`` when the
  query has no relevant gallery image; the mean over queries.

It runs on a tiny random DINOv2 saved under the real hub id with the repository's processor settings,
and on an FPR-layout study built from the DreamBooth photos: four species with several individuals,
a query whose individual has no gallery image of its species (AP 0), and greyscale, RGBA and
non-square queries.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import DREAMBOOTH
from tests.test_presets import _hub_put, _snapshot

transformers = pytest.importorskip("transformers")
REPO = "facebook/dinov2-base"
SPECIES = ("backpack", "sneaker", "stuffed animal", "toy")


@pytest.fixture(scope="module")
def dinov2_hub(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hub")
    d = _hub_put(cache, REPO)
    torch.manual_seed(0)
    transformers.Dinov2Model(transformers.Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                       intermediate_size=64, image_size=518, patch_size=14)).save_pretrained(d)
    transformers.BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=3,
                                   image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(d)
    return cache


def _fpr_layout(root: Path, rows: list[dict]) -> Path:
    """data/<species>/<name>/{train,gallery,generated_images}/ with FPR's three tables. Per individual:
    photo 0 is the training image, photo 1 a generated image (greyscale, RGBA or cropped to a non-square
    shape in turn), the rest the gallery. The last toy individual keeps no gallery image: its query has
    no relevant item in its species."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        if r["class"] in SPECIES:
            by.setdefault(r["subject"], []).append(r)
    tables = {"train": [], "gallery": [], "generated": []}
    no_gallery = sorted(s for s, rs in by.items() if rs[0]["class"] == "toy")[-1]
    for k, (name, rs) in enumerate(sorted(by.items())):
        species = rs[0]["class"]
        for i, r in enumerate(rs):
            role = "train" if i == 0 else "generated" if i == 1 else "gallery"
            if role == "gallery" and name == no_gallery:
                continue
            d = root / "data" / species / name / role
            d.mkdir(parents=True, exist_ok=True)
            im = Image.open(DREAMBOOTH / r["path"])
            if role == "generated":
                im = [im.convert("L"), im.convert("RGBA"), im.crop((0, 0, im.width, im.height * 2 // 3))][k % 3]
                dst = d / f"{i}.png"
            else:
                dst = d / f"{i}.jpg"
            im.save(dst)
            tables[role].append({"name": name, "file_path": str(dst.relative_to(root)), "species": species})
    for role, fname in (("train", "train_data.csv"), ("gallery", "gallery_data.csv"), ("generated", "generated_data.csv")):
        with open(root / fname, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["name", "file_path", "species"])
            w.writeheader()
            w.writerows(tables[role])
    return root


# ----------------------------------------------------------------- the transcription of FPR's code

def upstream_cosine_distance(input1, input2):
    a = torch.nn.functional.normalize(input1, p=2, dim=1)
    b = torch.nn.functional.normalize(input2, p=2, dim=1)
    return 1 - torch.mm(a, b.t())


def upstream_mean_average_precision(distmat, q_pids, g_pids):
    aps = []
    for i in range(distmat.shape[0]):
        is_relevant = g_pids == q_pids[i]
        indices = np.argsort(distmat[i])
        valid = indices[distmat[i, indices] < np.inf]
        ranked = is_relevant[valid]
        num_gt = np.sum(ranked)
        if num_gt == 0:
            aps.append(0.0)
            continue
        tp = np.cumsum(ranked).astype(float)
        k = np.arange(1, len(ranked) + 1)
        aps.append(np.sum(tp / k * ranked) / num_gt)
    return float(np.mean(aps)) if aps else 0.0, aps


def upstream_evaluate(root: Path, species: str, model, processor):
    """Evaluate.py:evaluate for one species, with extract_dino_embeds (CPU: autocast is a no-op)."""
    def rows(fname):
        return [r for r in csv.DictReader(open(root / fname)) if r["species"] == species]

    q, g = rows("generated_data.csv"), rows("gallery_data.csv")
    names = np.unique([r["name"] for r in q + g])
    enc = {n: i for i, n in enumerate(names)}  # sklearn LabelEncoder on the sorted unique names

    def embed(table):
        out = []
        for r in table:
            image = np.array(Image.open(root / r["file_path"]).convert("RGB"))
            with torch.no_grad():
                out.append(model(pixel_values=processor(images=image, return_tensors="pt")["pixel_values"])
                           .last_hidden_state[:, 0, :][0].numpy())
        return np.stack(out)

    distmat = upstream_cosine_distance(torch.Tensor(embed(q)), torch.Tensor(embed(g))).numpy()
    m, aps = upstream_mean_average_precision(distmat, np.array([enc[r["name"]] for r in q]),
                                             np.array([enc[r["name"]] for r in g]))
    return m, {r["file_path"]: ap for r, ap in zip(q, aps)}


# ----------------------------------------------------------------- the test


def test_fpr_preset_prints_fprs_own_per_species_map(dinov2_hub, dreambooth_rows, tmp_path):
    root = _fpr_layout(tmp_path / "fpr", dreambooth_rows)
    out = tmp_path / "res"
    env = {**os.environ, "HF_HUB_CACHE": str(dinov2_hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "idbench.cli.main", "run", "--refs", str(root), "--gen", str(root),
                        "--gallery", str(root), "--preset", "fpr", "-o", str(out), "-q", "--no-report",
                        "--bootstrap", "200"], env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    model = transformers.Dinov2Model.from_pretrained(_snapshot(dinov2_hub, REPO)).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(_snapshot(dinov2_hub, REPO))
    import json

    section = json.loads((out / "summary.json").read_text())["sections"]["retrieval"]
    groups = section["per_group"]["subject"]
    assert groups["group_level"] == "species" and section["within"] == "parent"
    per_image = {r["path"]: r for r in csv.DictReader(open(out / "per_image.csv"))}
    col = f"ap:subject[hf:{REPO}]"
    all_aps = []
    for species in SPECIES:
        want, aps = upstream_evaluate(root, species, model, processor)
        got = groups["map"]["generated"][species]
        assert abs(got - want) < 1e-4, (species, got, want)
        for rel, ap in aps.items():
            assert abs(float(per_image[str(root / rel)][col]) - ap) < 1e-4, rel
            all_aps.append(ap)
    assert 0.0 in all_aps  # the individual without a gallery image scored 0, as upstream does
    # the headline: every query ranked within its species, averaged over all queries
    assert abs(section["methods"]["generated"]["subject"]["ap"] - float(np.mean(all_aps))) < 1e-4


def test_ranking_within_the_parent_differs_from_the_whole_gallery_and_is_what_fpr_ranks(dreambooth_rows, tmp_path):
    """The same study ranked against the whole gallery gives another number: the option matters."""
    from idbench.study import Study

    root = _fpr_layout(tmp_path / "fpr", dreambooth_rows)
    res = {}
    for within in (None, "parent"):
        s = Study(refs=root, gen=root, gallery=root, encoders=["test-color"], protocols=["retrieval"], n_resamples=100,
                  options={"retrieval": {"levels": ["subject"], **({"within": within} if within else {})}},
                  progress=False)
        res[within] = s.run().sections["retrieval"].methods["generated"]["subject"]["ap"]
    assert res[None] != pytest.approx(res["parent"], abs=1e-3)
