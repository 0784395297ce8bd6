"""The nearid preset gives the numbers NearID's own evaluation code gives.

The reference is a transcription, written for this test, of Gorluxor/NearID at commit
12415c6bffe70b183e3059edb6beaf1bde46e5f2:

* ``evaluation/sim_test.py`` ``_compute_intra_similarities`` / ``_compute_cross_similarities``: per sample,
  ``sim_ij`` (views i < j) and ``cross_ij`` (view i against the j-th distractor) as dot products of the
  normalised embeddings; a sample with fewer distractors has no ``cross`` column for the missing ones;
* ``evaluation/metrics.py`` ``add_disc_sim_vs_crossii_bidir_with_overall``: for pairs (0,1), (0,2), (1,2)
  the terms ``sim_ij - cross_ii`` and ``sim_ij - cross_jj``, a NaN term without a win; and
  ``summarize_margin_family``: ``SSRm`` = mean over samples with a valid term of 1[all valid terms win],
  ``PA`` = valid wins / valid trials pooled over samples (``gen_tables.py``: paper SSR = SSRm, PA = PA).

It runs on a tiny random SigLIP under the real ``google/siglip2-so400m-patch14-384`` id with the repo's
image processor, on NearID samples built from the DreamBooth photos, one of which misses its last
distractor (NearID keeps its four valid margins; idbench's default would drop the sample)."""

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


def upstream_sims(cache, samples_csv) -> list[dict]:
    """One row per sample, as sim_test.py writes them: sim_ij and cross_ij (only for distractors given)."""
    model = transformers.SiglipModel.from_pretrained(_snapshot(cache, REPO)).eval()
    proc = transformers.SiglipImageProcessor.from_pretrained(_snapshot(cache, REPO))

    def emb(path):
        with torch.no_grad():
            f = model.get_image_features(**proc(images=Image.open(path).convert("RGB"), return_tensors="pt"))
        f = f if isinstance(f, torch.Tensor) else f.pooler_output
        return torch.nn.functional.normalize(f, dim=-1)[0]

    rows = []
    for r in csv.DictReader(open(samples_csv)):
        pos = [emb(p) for p in r["views"].split(";")[:3]]
        neg = [emb(p) for p in r["distractors"].split(";")[:3] if p]
        row = {"sample_id": r["sample_id"], "sim_01": float((pos[0] * pos[1]).sum()),
               "sim_02": float((pos[0] * pos[2]).sum()), "sim_12": float((pos[1] * pos[2]).sum())}
        row.update({f"cross_{i}{j}": float((pos[i] * neg[j]).sum()) for i in range(3) for j in range(len(neg))})
        rows.append(row)
    return rows


def upstream_ssr_pa(rows: list[dict]) -> tuple[float, float, int]:
    """add_disc_sim_vs_crossii_bidir_with_overall + summarize_margin_family (SSRm, PA), transcribed."""
    import pandas as pd

    df = pd.DataFrame(rows)
    wins = []
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        sim_val = pd.to_numeric(df[f"sim_{i}{j}"], errors="coerce")
        for anchor in (i, j):
            cross_col = f"cross_{anchor}{anchor}"
            if cross_col not in df.columns:
                continue
            m = sim_val - pd.to_numeric(df[cross_col], errors="coerce")
            w = (m > 0.0).astype("boolean")
            w[~np.isfinite(m.to_numpy(dtype=float))] = pd.NA
            wins.append(w)
    w_num = pd.concat(wins, axis=1).apply(pd.to_numeric, errors="coerce")
    pa_wins = w_num.sum(axis=1, skipna=True)
    pa_trials = w_num.notna().sum(axis=1).astype(float)
    pa_wins[pa_trials <= 0] = np.nan
    pa_trials[pa_trials <= 0] = np.nan
    ssr_all = np.where(pa_trials.notna(), (pa_wins == pa_trials).astype(float), np.nan)
    return float(np.nanmean(ssr_all)), float(pa_wins.sum() / pa_trials.sum()), int(np.isfinite(ssr_all).sum())


def test_nearid_preset_equals_the_protocol(siglip_hub, study_inputs, tmp_path):
    rows = list(csv.reader(open(study_inputs / "samples.csv")))
    rows[3][3] = ";".join(rows[3][3].split(";")[:2] + [""])  # one sample misses its third distractor
    with open(study_inputs / "samples.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = tmp_path / "res"
    env = {**os.environ, "HF_HUB_CACHE": str(siglip_hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "idbench.cli.main", "run", "--samples", str(study_inputs / "samples.csv"),
                        "--preset", "nearid", "-o", str(out), "--no-report", "--bootstrap", "200"],
                       env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "settings as published" in p.stdout
    sec = json.loads((out / "summary.json").read_text())["sections"]["nearid"]
    ssr, pa, n = upstream_ssr_pa(upstream_sims(siglip_hub, study_inputs / "samples.csv"))
    assert sec["encoder"] == f"hf:{REPO}" and sec["n_samples"] == n == 8 and sec["n_partial"] == 1
    assert sec["n_margins"] == 7 * 6 + 4
    assert abs(sec["ssr"] - ssr) < 1e-9 and abs(sec["pa"] - pa) < 1e-9
    tables = (out / "tables.md").read_text()
    assert "published: SigLIP2" in tables and "0.307" in tables and "0.997" in tables
