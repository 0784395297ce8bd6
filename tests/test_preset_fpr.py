"""The fpr preset against Finer-Personalization Rank's protocol written out here: a tiny random DINOv2 under
the real ``facebook/dinov2-base`` id with the repo's processor, the CLS token; each generated image ranks
the whole gallery by 1 - cos; AP = (1 / N_rel) sum_k P@k rel_k, per label level."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_presets import _hub_put, _snapshot

transformers = pytest.importorskip("transformers")
REPO = "facebook/dinov2-base"


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


def test_fpr_preset_equals_the_protocol(dinov2_hub, study_inputs, tmp_path):
    out = tmp_path / "res"
    env = {**os.environ, "HF_HUB_CACHE": str(dinov2_hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "idbench.cli.main", "run", "--gen", str(study_inputs / "gen"), "--gallery",
                        str(study_inputs / "gallery.csv"), "--preset", "fpr", "-o", str(out), "-q", "--no-report",
                        "--bootstrap", "200"], env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    model = transformers.Dinov2Model.from_pretrained(_snapshot(dinov2_hub, REPO)).eval()
    proc = transformers.AutoImageProcessor.from_pretrained(_snapshot(dinov2_hub, REPO), use_fast=False)

    def emb(path):
        with torch.no_grad():
            f = model(**proc(images=Image.open(path).convert("RGB"), return_tensors="pt")).last_hidden_state[:, 0]
        return torch.nn.functional.normalize(f, dim=-1)[0].numpy()

    gallery = list(csv.DictReader(open(study_inputs / "gallery.csv")))
    G = np.stack([emb(g["path"]) for g in gallery])
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    assert rows
    for r in rows:
        d = 1 - G @ emb(r["path"])
        order = np.argsort(d, kind="stable")
        for level, label in (("subject", r["subject"]), ("class", r.get("class") or next(
                g["class"] for g in gallery if g["subject"] == r["subject"]))):
            rel = np.array([gallery[i][level] == label for i in order])
            hits = np.cumsum(rel)
            ap = float(np.sum(hits[rel] / (np.flatnonzero(rel) + 1)) / rel.sum())
            assert abs(float(r[f"ap:{level}[hf:{REPO}]"]) - ap) < 1e-6, (r["image_id"], level)
