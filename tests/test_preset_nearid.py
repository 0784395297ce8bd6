"""The nearid preset against NearID's protocol written out here: a tiny random SigLIP (the fixed-resolution
SigLIP2 checkpoints load as transformers' SiglipModel) under the real ``google/siglip2-so400m-patch14-384``
id, the repo's image processor, ``get_image_features``; for each sample of 3 views and their distractors,
the 6 margins sim(v_i, v_j) - sim(v_i, d_i) and sim(v_i, v_j) - sim(v_j, d_j); SSR = share of samples whose
every margin is > 0, PA = share of winning margins. The published rows of the paper's table are shown."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_encoders_hub import _tiny_clip_tokenizer
from tests.test_presets import _hub_put, _snapshot

transformers = pytest.importorskip("transformers")
REPO = "google/siglip2-so400m-patch14-384"


@pytest.fixture(scope="module")
def siglip_hub(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hub")
    d = _hub_put(cache, REPO)
    n = _tiny_clip_tokenizer(d)  # the text tower is not used by NearID; any tokenizer the repo names will do
    torch.manual_seed(0)
    transformers.SiglipModel(transformers.SiglipConfig(
        text_config=dict(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=64),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=384, patch_size=14))).save_pretrained(d)
    transformers.SiglipImageProcessor(size={"height": 384, "width": 384}).save_pretrained(d)
    return cache


def nearid_reference(cache, samples_csv) -> tuple[float, float, int]:
    model = transformers.SiglipModel.from_pretrained(_snapshot(cache, REPO)).eval()
    proc = transformers.SiglipImageProcessor.from_pretrained(_snapshot(cache, REPO))

    def emb(path):
        with torch.no_grad():
            f = model.get_image_features(**proc(images=Image.open(path).convert("RGB"), return_tensors="pt"))
        f = f if isinstance(f, torch.Tensor) else f.pooler_output
        return torch.nn.functional.normalize(f, dim=-1)[0].numpy()

    ok, margins = [], []
    for row in csv.DictReader(open(samples_csv)):
        v = [emb(p) for p in row["views"].split(";")[:3]]
        d = [emb(p) for p in row["distractors"].split(";")[:3]]
        m = []
        for i in range(3):
            for j in range(i + 1, 3):
                s = float(v[i] @ v[j])
                m += [s - float(v[i] @ d[i]), s - float(v[j] @ d[j])]
        ok.append(all(x > 0 for x in m))
        margins += m
    return float(np.mean(ok)), float(np.mean([x > 0 for x in margins])), len(ok)


def test_nearid_preset_equals_the_protocol(siglip_hub, study_inputs, tmp_path):
    out = tmp_path / "res"
    env = {**os.environ, "HF_HUB_CACHE": str(siglip_hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "idbench.cli.main", "run", "--samples", str(study_inputs / "samples.csv"),
                        "--preset", "nearid", "-o", str(out), "--no-report", "--bootstrap", "200"],
                       env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "settings as published" in p.stdout
    sec = json.loads((out / "summary.json").read_text())["sections"]["nearid"]
    ssr, pa, n = nearid_reference(siglip_hub, study_inputs / "samples.csv")
    assert sec["encoder"] == f"hf:{REPO}" and sec["n_samples"] == n == 8
    assert abs(sec["ssr"] - ssr) < 1e-9 and abs(sec["pa"] - pa) < 1e-9
    tables = (out / "tables.md").read_text()
    assert "published: SigLIP2" in tables and "0.307" in tables and "0.997" in tables
