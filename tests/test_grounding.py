"""GOA through a tiny random OWL-ViT saved locally (the same loading path as a hub id)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from idbench.encoders.owl import OwlDetector
from idbench.metrics.grounding import goa_from_scores, parse_objects

transformers = pytest.importorskip("transformers")


def build_tiny_owl(d):
    """A tiny random OWL-ViT with its processor, saved in folder ``d``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for c in letters:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    tok = transformers.CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt"), pad_token="!")
    torch.manual_seed(0)
    cfg = transformers.OwlViTConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=2),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=32)  # OWL-ViT's class head needs projection_dim == text hidden size
    transformers.OwlViTForObjectDetection(cfg).save_pretrained(d)
    ip = transformers.OwlViTImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
    transformers.OwlViTProcessor(image_processor=ip, tokenizer=tok).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def tiny_owl(tmp_path_factory):
    return build_tiny_owl(tmp_path_factory.mktemp("owl"))


def test_parse_objects():
    assert parse_objects("a sks dog with a hat and a scarf") == ["hat", "scarf"]
    assert parse_objects("a photo of a cat") == []


def test_goa_scoring_is_mean_of_max():
    s = [np.array([0.1, 0.7, 0.3]), np.array([0.2]), np.array([])]
    assert np.isclose(goa_from_scores(s), (0.7 + 0.2 + 0.0) / 3)


def test_tiny_owlvit_offline(tiny_owl):
    det = OwlDetector(str(tiny_owl))
    im = Image.new("RGB", (64, 48), (120, 40, 200))
    scores = det.object_scores(im, ["hat", "ball"])
    assert len(scores) == 2 and scores[0].shape == (16,)  # (32 / 8) ** 2 boxes
    assert all(((s >= 0) & (s <= 1)).all() for s in scores)
    g = det.goa(im, ["hat", "ball"])
    assert np.isclose(g, np.mean([s.max() for s in scores])) and g == det.goa(im, ["hat", "ball"])


def test_evaluate_goa_group(tiny_owl, tmp_path):
    import csv as _csv

    from click.testing import CliRunner

    from idbench.cli.main import cli

    (tmp_path / "refs/dog").mkdir(parents=True)
    Image.new("RGB", (40, 40), (200, 0, 0)).save(tmp_path / "refs/dog/0.png")
    Image.new("RGB", (40, 40), (0, 200, 0)).save(tmp_path / "g0.png")
    Image.new("RGB", (40, 40), (0, 0, 200)).save(tmp_path / "g1.png")
    with open(tmp_path / "gen.csv", "w", newline="") as f:
        w = _csv.writer(f)
        w.writerow(["path", "method", "subject", "prompt", "detectables"])
        w.writerow(["g0.png", "m", "dog", "a sks dog with a hat", ""])
        w.writerow(["g1.png", "m", "dog", "a sks dog", "ball;tree"])
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen.csv"),
                                 "-e", "test-color", "--metrics", "similarity,goa", "--detector", str(tiny_owl),
                                 "-o", str(tmp_path / "res"), "-q", "--no-report", "--bootstrap", "100"])
    assert r.exit_code == 0, r.output
    rows = {x["image_id"]: x for x in _csv.DictReader(open(tmp_path / "res/per_image.csv"))}
    det = OwlDetector(str(tiny_owl))
    assert np.isclose(float(rows["m/g0"]["goa"]), det.goa(Image.open(tmp_path / "g0.png").convert("RGB"), ["hat"]), atol=1e-5)
    assert np.isclose(float(rows["m/g1"]["goa"]), det.goa(Image.open(tmp_path / "g1.png").convert("RGB"), ["ball", "tree"]), atol=1e-5)
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen.csv"),
                                 "-e", "test-color", "--metrics", "goa", "-q"])
    assert r.exit_code != 0 and "--detector" in r.output
