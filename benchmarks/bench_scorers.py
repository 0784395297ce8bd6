"""Learned scorers: images with one prompt each (Stellar), scored batched across prompts vs one at a time
(what per-prompt batches amount to), in the same process. A small random HPSv2-architecture model (hpsv2's own
open_clip) on the 111 DreamBooth photos. Run: .venv/bin/python benchmarks/bench_scorers.py"""
import glob
import json
import tempfile
import time
from pathlib import Path

import torch
from hpsv2.src.open_clip import add_model_config, create_model_and_transforms

from idbench.data.records import ImageRecord
from idbench.encoders.hps import HPSv2
from idbench.encoders.scorer import score_records

d = Path(tempfile.mkdtemp())
cfg = d / "small-hps.json"  # a small ViT (6 layers x 256) so the forward pass, not Python, dominates
cfg.write_text(json.dumps({"embed_dim": 128, "vision_cfg": {"image_size": 224, "layers": 6, "width": 256, "head_width": 64, "patch_size": 16},
                           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 2}}))
add_model_config(str(cfg))
m, _, _ = create_model_and_transforms("small-hps", None, output_dict=True)
torch.save({"state_dict": m.state_dict()}, d / "c.pt")
s = HPSv2(str(d / "c.pt"), str(cfg), device="cpu")
paths = sorted(glob.glob(str(Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "dreambooth-objects" / "images" / "*" / "*.jpg")))
recs = [ImageRecord(f"g{k}", p, "s") for k, p in enumerate(paths)]
prompts = {r.id: f"a photo number {k} of an object" for k, r in enumerate(recs)}  # one prompt per image, as Stellar


def timed(batch_size: int) -> float:
    t = time.perf_counter()
    score_records(s, recs, prompts, progress=False, batch_size=batch_size)
    return time.perf_counter() - t


one, batched = timed(1), timed(16)
print(f"{len(recs)} images, one prompt each: batch 1 (per-prompt groups) {one:.1f} s, batched across prompts {batched:.1f} s, ratio {batched/one:.2f}")
