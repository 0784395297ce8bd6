"""hf: and timm: encoders through their real loading code, on tiny random models saved locally."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from idbench.encoders import create_encoder

transformers = pytest.importorskip("transformers")


def _tiny_clip_tokenizer(d):
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in letters:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    tok = transformers.CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt"))
    tok.save_pretrained(d)
    return len(vocab)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-clip")
    n_vocab = _tiny_clip_tokenizer(d)
    torch.manual_seed(0)
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=n_vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16)
    transformers.CLIPModel(cfg).save_pretrained(d)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(d)
    return d


def test_clip_image_and_text_through_the_hub_path(tiny_clip):
    enc = create_encoder(f"hf:{tiny_clip}")
    assert enc.family == "clip" and enc.dim == 16 and enc.has_text
    ims = [Image.new("RGB", (40, 50), (200, 30, 30)), Image.new("RGB", (64, 64), (10, 200, 30))]
    e = enc.embed_images(ims)
    assert e.shape == (2, 16) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    # equals a direct call of the model on the processor's output
    model = transformers.CLIPModel.from_pretrained(tiny_clip).eval()
    proc = transformers.CLIPImageProcessor.from_pretrained(tiny_clip)
    with torch.no_grad():
        out = model.get_image_features(pixel_values=proc(images=ims, return_tensors="pt")["pixel_values"])
    direct = out if isinstance(out, torch.Tensor) else out.pooler_output
    direct = torch.nn.functional.normalize(direct, dim=-1).numpy()
    assert np.allclose(e, direct, atol=1e-5)
    t = enc.embed_text(["a photo of a dog", "a cat"])
    assert t.shape == (2, 16) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    assert np.allclose(enc.embed_images(ims), e)  # deterministic


def test_dinov2_cls_and_mean_pooling(tmp_path):
    torch.manual_seed(0)
    cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                    image_size=32, patch_size=8)
    transformers.Dinov2Model(cfg).save_pretrained(tmp_path)
    transformers.BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    cls = create_encoder(f"hf:{tmp_path}")
    mean = create_encoder(f"hf:{tmp_path}", pooling="mean")
    im = [Image.new("RGB", (48, 48), (90, 20, 160))]
    a, b = cls.embed_images(im), mean.embed_images(im)
    assert a.shape == b.shape == (1, 32) and not np.allclose(a, b)
    assert cls.cache_id != mean.cache_id
    with pytest.raises(NotImplementedError):
        cls.embed_text(["x"])


def test_timm_local_dir(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, num_classes=0)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "test_vit"}))
    enc = create_encoder(f"timm:{tmp_path}")
    im = Image.new("RGB", (100, 80), (30, 60, 90))
    e = enc.embed_images([im])
    assert e.shape == (1, model.num_features) and np.isclose(np.linalg.norm(e), 1, atol=1e-5)
    with torch.no_grad():
        direct = model.eval()(torch.from_numpy(enc.preprocess(im)[None])).numpy()
    assert np.allclose(e, direct / np.linalg.norm(direct), atol=1e-5)


def test_evaluate_adds_clip_t_and_gate_for_text_encoders(tiny_clip, tmp_path):
    from idbench.data.records import GenerationSet, ImageRecord, ReferenceSet
    from idbench.metrics.text import fill_prompt
    from idbench.protocols.similarity import evaluate_similarity

    for name, col in (("r0", (200, 0, 0)), ("r1", (190, 20, 0)), ("g0", (0, 0, 200))):
        Image.new("RGB", (32, 32), col).save(tmp_path / f"{name}.png")
    refs = ReferenceSet([ImageRecord(n, tmp_path / f"{n}.png", "dog", labels={"class": "dog"}) for n in ("r0", "r1")])
    gens = GenerationSet([ImageRecord("g0", tmp_path / "g0.png", "dog", method="m", prompt="a photo of sks dog")])
    enc = create_encoder(f"hf:{tiny_clip}")
    res = evaluate_similarity(refs, gens, [enc], progress=False)
    row = res.rows[0]
    t = enc.embed_text([fill_prompt("a photo of sks dog", "dog")])[0]
    img = enc.embed_images([Image.open(tmp_path / "g0.png").convert("RGB")])[0]
    assert np.isclose(row[f"clip_t[{enc.name}]"], float(t @ img), atol=1e-5)
    n = [float(t @ v) for v in enc.embed_images([Image.open(tmp_path / f"{k}.png").convert("RGB") for k in ("r0", "r1")])]
    assert row[f"prompt_ok[{enc.name}]"] == float(float(t @ img) > np.mean(n) + 2 * np.std(n))


def test_evaluate_rfs_group(tiny_clip, tmp_path):
    from idbench.data.records import GenerationSet, ImageRecord
    from idbench.metrics.relation import relation_fidelity, relation_prompts
    from idbench.protocols.similarity import score_rfs
    from idbench.results import Results

    Image.new("RGB", (32, 32), (10, 100, 200)).save(tmp_path / "g.png")
    g = ImageRecord("g", tmp_path / "g.png", "dog", method="m", prompt="a dog on a sofa", extra={"relation": "a dog|on|a sofa"})
    gens = GenerationSet([g])
    enc = create_encoder(f"hf:{tiny_clip}")
    res = Results()
    res.rows = [{"method": "m", "subject": "dog", "image_id": "g", "path": "", "prompt": ""}]
    emb = {"g": enc.embed_batch([enc.preprocess(Image.open(tmp_path / "g.png").convert("RGB"))])[0]}
    score_rfs(enc, gens, emb, results=res)
    expected = relation_fidelity(emb["g"].vectors[0], enc.embed_text(relation_prompts("a photo of {s} {r} {o}", "a dog", "on", "a sofa")))
    assert np.isclose(res.rows[0][f"rfs[{enc.name}]"], expected)
