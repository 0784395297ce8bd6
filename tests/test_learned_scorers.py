"""Stellar's learned baselines (PickScore, HPSv1, HPSv2, ImageReward, DreamSim, the LAION aesthetic
predictor): each is built here as a tiny random model with its own library's architecture code, saved
where its loader finds it offline, and idbench's per-image column must equal a direct call to the
library's own scoring (or, where the library ships no function, the authors' published pipeline
written out here) on the same weights and images, to 1e-4."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.test_encoders_hub import _tiny_clip_tokenizer
from tests.test_presets import _hub_put, _refs_and_gen

transformers = pytest.importorskip("transformers")
open_clip = pytest.importorskip("open_clip")
hpsv2 = pytest.importorskip("hpsv2")
dreamsim_pkg = pytest.importorskip("dreamsim")
clip = pytest.importorskip("clip")  # OpenAI's CLIP (clip-anytorch): Stellar's and the aesthetic predictor's loader

PROMPTS = {"can": "a photo of a can on the beach", "clock": "a photo of a clock on the beach"}


def _openai_clip_state(embed_dim: int) -> dict:
    """A tiny OpenAI-format CLIP (``clip.model.CLIP``: OpenAI's own class) with the real vocabulary and context."""
    m = clip.model.CLIP(embed_dim=embed_dim, image_resolution=224, vision_layers=1, vision_width=64,
                        vision_patch_size=32, context_length=77, vocab_size=49408, transformer_width=64,
                        transformer_heads=1, transformer_layers=1)
    return {k: v.float() for k, v in m.state_dict().items()}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("learned")
    torch.manual_seed(0)
    hub = root / "hub"
    out = {"hub": hub}
    # PickScore: the model repo and the processor repo its README names
    d = _hub_put(hub, "yuvalkirstain/PickScore_v1")
    n = _tiny_clip_tokenizer(d)
    pick = transformers.CLIPModel(transformers.CLIPConfig(
        text_config=dict(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=224, patch_size=32), projection_dim=16))
    pick.save_pretrained(d)
    p = _hub_put(hub, "laion/CLIP-ViT-H-14-laion2B-s32B-b79K")  # the processor repo (a CLIP repo: its config too)
    _tiny_clip_tokenizer(p)
    pick.config.save_pretrained(p)
    transformers.CLIPProcessor(image_processor=transformers.CLIPImageProcessor(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}),
        tokenizer=transformers.CLIPTokenizer.from_pretrained(p)).save_pretrained(p)
    # HPSv2: hpsv2's own open_clip, a tiny model config, a checkpoint {'state_dict': ...}
    from hpsv2.src.open_clip import add_model_config, create_model_and_transforms

    cfg = root / "tiny-hps.json"
    cfg.write_text(json.dumps({"embed_dim": 16, "vision_cfg": {"image_size": 224, "layers": 1, "width": 64,
                                                               "head_width": 32, "patch_size": 32},
                               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2,
                                            "layers": 1}}))
    add_model_config(str(cfg))
    m, _, _ = create_model_and_transforms("tiny-hps", None, output_dict=True)
    torch.save({"state_dict": m.state_dict()}, root / "hps2.pt")
    out["hpsv2"], out["hpsv2_cfg"] = root / "hps2.pt", cfg
    # HPSv1 (hpc.pt) and the aesthetic predictor's CLIP: OpenAI-format state dicts
    torch.save({"state_dict": _openai_clip_state(16)}, root / "hpc.pt")
    torch.save(_openai_clip_state(768), root / "clip-l14.pt")
    from idbench.encoders.aesthetic import AestheticMLP

    mlp = AestheticMLP(768)
    for q in mlp.parameters():
        torch.nn.init.normal_(q, std=0.05)
    torch.save(mlp.state_dict(), root / "aesthetic.pth")
    out.update(hpsv1=root / "hpc.pt", clip=root / "clip-l14.pt", aesthetic=root / "aesthetic.pth")
    # ImageReward: the package's own ImageReward class (BLIP ViT-L, a 1-layer BERT of width 768), bert-base-uncased
    b = _hub_put(hub, "bert-base-uncased")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for t in PROMPTS.values() for w in t.split()})
    (b / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizer(str(b / "vocab.txt")).save_pretrained(b)
    med = dict(architectures=["BertModel"], attention_probs_dropout_prob=0.1, hidden_act="gelu", hidden_dropout_prob=0.1,
               hidden_size=768, initializer_range=0.02, intermediate_size=64, layer_norm_eps=1e-12,
               max_position_embeddings=64, model_type="bert", num_attention_heads=12, num_hidden_layers=1, pad_token_id=0,
               type_vocab_size=2, vocab_size=len(words) + 2, encoder_width=1024, add_cross_attention=True)
    (root / "med_config.json").write_text(json.dumps(med))
    out.update(med=root / "med_config.json", imagereward=root / "ImageReward.pt", dreamsim=root / "dreamsim")
    return out


@pytest.fixture
def offline_hub(models, monkeypatch):
    """transformers and huggingface_hub read the cache and offline mode at call time."""
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(models["hub"]))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return models


def _build_imagereward(models):
    from idbench.encoders.imagereward import _import_model_class

    if not models["imagereward"].exists():
        torch.manual_seed(1)
        m = _import_model_class()(device="cpu", med_config=str(models["med"]))
        for q in m.mlp.parameters():
            torch.nn.init.normal_(q, std=0.05)
        torch.save(m.state_dict(), models["imagereward"])


def _build_dreamsim(models):
    """A dreamsim cache folder for the single open_clip ViT-B/32 model: the backbone file its extractor
    loads and the LoRA adapter ``dreamsim()`` reads (random, with a non-zero LoRA update)."""
    from dreamsim.config import dreamsim_args
    from dreamsim.feature_extraction.vision_transformer import vit_base
    from dreamsim.model import PerceptualModel
    from peft import LoraConfig, get_peft_model

    d = models["dreamsim"]
    if d.exists():
        return
    d.mkdir()
    torch.manual_seed(2)
    vit = vit_base(patch_size=32)
    vit.pos_drop = torch.nn.LayerNorm(768)
    sd = vit.state_dict()
    sd["proj"] = torch.randn(768, 512) * 0.05
    torch.save({"state_dict": sd}, d / "open_clip_vitb32_pretrain.pth.tar")
    pm = PerceptualModel(**dreamsim_args["model_config"]["open_clip_vitb32"], device="cpu", load_dir=str(d),
                         normalize_embeds=True)
    peft_model = get_peft_model(pm, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", target_modules=["qkv"]))
    for name, q in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(q, std=0.02)
    peft_model.save_pretrained(str(d / "open_clip_vitb32_single_lora"))


# ----------------------------------------------------------------------------- the libraries' own scoring


def pickscore_reference(hub, image, prompt) -> float:
    """PickScore's README (yuvalkirstain/PickScore): AutoProcessor of the CLIP-H repo, AutoModel of PickScore_v1,
    ``model.logit_scale.exp() * (text_embs @ image_embs.T)[0]`` on L2-normalised embeddings."""
    from tests.test_presets import _snapshot

    processor = transformers.AutoProcessor.from_pretrained(_snapshot(hub, "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"))
    model = transformers.AutoModel.from_pretrained(_snapshot(hub, "yuvalkirstain/PickScore_v1")).eval()
    with torch.no_grad():
        image_inputs = processor(images=[image], padding=True, truncation=True, max_length=77, return_tensors="pt")
        text_inputs = processor(text=prompt, padding=True, truncation=True, max_length=77, return_tensors="pt")
        image_embs = model.get_image_features(pixel_values=image_inputs["pixel_values"])
        image_embs = image_embs if isinstance(image_embs, torch.Tensor) else image_embs.pooler_output
        image_embs = image_embs / torch.norm(image_embs, dim=-1, keepdim=True)
        text_embs = model.get_text_features(input_ids=text_inputs["input_ids"],
                                            attention_mask=text_inputs["attention_mask"])
        text_embs = text_embs if isinstance(text_embs, torch.Tensor) else text_embs.pooler_output
        text_embs = text_embs / torch.norm(text_embs, dim=-1, keepdim=True)
        return float((model.logit_scale.exp() * (text_embs @ image_embs.T)[0])[0])


def hpsv2_reference(models, image, prompt) -> float:
    """``hpsv2.score(image, prompt, cp=...)`` itself, its model created (as ``initialize_model`` does) with the
    tiny architecture instead of ViT-H-14, so that nothing downloads."""
    from hpsv2 import img_score
    from hpsv2.src.open_clip import create_model_and_transforms

    model, _, preprocess_val = create_model_and_transforms("tiny-hps", None, precision="amp", device="cpu",
                                                           light_augmentation=True, aug_cfg={}, output_dict=True)
    img_score.model_dict.clear()
    img_score.model_dict.update(model=model, preprocess_val=preprocess_val)
    try:
        return float(img_score.score(image, prompt, cp=str(models["hpsv2"]), hps_version="v2.0")[0])
    finally:
        img_score.model_dict.clear()


def hpsv1_reference(models, images, prompts) -> np.ndarray:
    """Stellar's ``HumanPreferenceClassifier``: ``clip.load("ViT-L/14")`` (here: the tiny base), its state dict
    replaced by hpc.pt, then ``F.cosine_similarity`` of the normalised image and text features."""
    import torch.nn.functional as F

    base = models["hpsv1"].parent / "hpc-base.pt"
    if not base.exists():
        torch.save(_openai_clip_state(16), base)
    model, preprocess = clip.load(str(base), device="cpu", jit=False)
    model.load_state_dict(torch.load(models["hpsv1"])["state_dict"])
    model.eval()
    with torch.inference_mode():
        x = torch.cat([preprocess(im).unsqueeze(0) for im in images])
        image_features = model.encode_image(x)
        text_features = model.encode_text(clip.tokenize(prompts))
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return F.cosine_similarity(image_features, text_features).numpy()


def aesthetic_reference(models, image) -> float:
    """The predictor's ``simple_inference.py``: ``clip.load("ViT-L/14")``, ``encode_image``, numpy L2
    normalisation, the MLP."""
    from idbench.encoders.aesthetic import AestheticMLP

    mlp = AestheticMLP(768)
    mlp.load_state_dict(torch.load(models["aesthetic"]))
    mlp.eval()
    model2, preprocess = clip.load(str(models["clip"]), device="cpu", jit=False)
    model2.load_state_dict(torch.load(models["clip"]))
    with torch.no_grad():
        image_features = model2.encode_image(preprocess(image).unsqueeze(0))
    a = image_features.cpu().detach().numpy()
    l2 = np.atleast_1d(np.linalg.norm(a, 2, -1))
    l2[l2 == 0] = 1
    im_emb_arr = a / np.expand_dims(l2, -1)
    with torch.no_grad():
        return float(mlp(torch.from_numpy(im_emb_arr).float())[0, 0])


def imagereward_reference(models, pairs) -> list[float]:
    """``ImageReward.score(prompt, image)`` of the package's own model with the same weights (as ``RM.load``:
    ``load_state_dict(strict=False)``), for each (image, prompt)."""
    from idbench.encoders.imagereward import _import_model_class

    model = _import_model_class()(device="cpu", med_config=str(models["med"]))
    model.load_state_dict(torch.load(models["imagereward"]), strict=False)
    model.eval()
    with torch.no_grad():
        return [float(model.score(prompt, image)) for image, prompt in pairs]


def dreamsim_reference(models, pairs) -> list[float]:
    """Stellar's ``DreamsimDistance``: ``dreamsim(pretrained=True, ...)``, ``model(preprocess(a), preprocess(b))``,
    for each (image, reference)."""
    from dreamsim import dreamsim

    model, preprocess = dreamsim(pretrained=True, device="cpu", cache_dir=str(models["dreamsim"]),
                                 dreamsim_type="open_clip_vitb32")
    model.eval()
    with torch.no_grad():
        return [float(model(preprocess(a), preprocess(b))[0]) for a, b in pairs]


# ----------------------------------------------------------------------------- tests


def _images(root: Path):
    gens = sorted((root / "gen" / "m").glob("*/0.jpg"))
    return [(g.parent.name, Image.open(g).convert("RGB"), g) for g in gens]


def _per_image(out: Path) -> dict[str, dict]:
    return {r["image_id"]: r for r in csv.DictReader(open(out / "per_image.csv"))}


def test_prompt_scorers_equal_their_libraries_per_image(offline_hub, tmp_path):
    models = offline_hub
    _refs_and_gen(tmp_path, n_refs=2, prompts=True)
    specs = {"pickscore": "pickscore", "hpsv2": f"hpsv2:{models['hpsv2']}#arch={models['hpsv2_cfg']}",
             "hpsv1": f"hpsv1:{models['hpsv1']}", "aesthetic": f"aesthetic:{models['aesthetic']}#clip={models['clip']}"}
    args = ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "-o", str(tmp_path / "o"),
            "-q", "--no-report", "--bootstrap", "200"]
    for s in specs.values():
        args += ["-e", s]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = _per_image(tmp_path / "o")
    images = _images(tmp_path)
    assert len(rows) == len(images) == 2
    hps1 = hpsv1_reference(models, [im for _, im, _ in images], [PROMPTS[s] for s, _, _ in images])
    for k, (subject, im, path) in enumerate(images):
        row = rows[f"m/{subject}/0"]
        prompt = PROMPTS[subject]
        want = {"pickscore": pickscore_reference(models["hub"], im, prompt),
                "hpsv2": hpsv2_reference(models, im, prompt), "hpsv1": float(hps1[k]),
                "aesthetic": aesthetic_reference(models, im)}
        for metric, spec in specs.items():
            col = f"{metric}[{spec}]"
            assert abs(float(row[col]) - want[metric]) < 1e-4, (metric, subject, row[col], want[metric])
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["metrics"]["pickscore[pickscore]"]["protocol"] == "learned"
    assert not any(k.startswith("clip_t[") for k in s["metrics"])  # a scorer's text use is its own score


def test_imagereward_and_dreamsim_equal_their_packages(offline_hub, tmp_path):
    models = offline_hub
    _build_imagereward(models)
    _build_dreamsim(models)
    _refs_and_gen(tmp_path, n_refs=2, prompts=True)
    ir = f"imagereward:{models['imagereward']}#med_config={models['med']}"
    ds = f"dreamsim:open_clip_vitb32#cache_dir={models['dreamsim']}"
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "-e", ir,
                                 "-e", ds, "-o", str(tmp_path / "o"), "-q", "--no-report", "--bootstrap", "200"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = _per_image(tmp_path / "o")
    images = _images(tmp_path)
    rewards = imagereward_reference(models, [(im, PROMPTS[subject]) for subject, im, _ in images])
    refs = {s: [Image.open(p).convert("RGB") for p in sorted((tmp_path / "refs" / s).glob("*.jpg"))] for s, _, _ in images}
    dist = dreamsim_reference(models, [(im, r) for s, im, _ in images for r in refs[s]])
    for k, (subject, im, _) in enumerate(images):
        row = rows[f"m/{subject}/0"]
        assert abs(float(row[f"imagereward[imagereward:{models['imagereward']}]"]) - rewards[k]) < 1e-4
        n = len(refs[subject])
        want = np.mean([1 - d for d in dist[k * n:(k + 1) * n]])
        assert abs(float(row["dreamsim[dreamsim:open_clip_vitb32]"]) - want) < 1e-4
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    base = s["sections"]["baselines"]["columns"]["dreamsim[dreamsim:open_clip_vitb32]"]
    assert {"real", "impostor"} <= set(base)  # DreamSim is a similarity: real and impostor rows like CLIP-I


def test_scores_are_cached_per_image_and_prompt(offline_hub, tmp_path):
    from idbench.cache.store import EmbeddingCache
    from idbench.data.records import ImageRecord
    from idbench.encoders import create_encoder
    from idbench.encoders.scorer import score_records

    models = offline_hub
    _refs_and_gen(tmp_path, n_refs=1, prompts=True)
    scorer = create_encoder(f"hpsv2:{models['hpsv2']}#arch={models['hpsv2_cfg']}", device="cpu", cached=False)
    recs = [ImageRecord(f"g{i}", p, "can") for i, p in enumerate(sorted((tmp_path / "gen").rglob("*.jpg")))]
    cache = EmbeddingCache(tmp_path / "cache")
    a = score_records(scorer, recs, {r.id: "a photo of a can" for r in recs}, cache=cache, progress=False)
    b = score_records(scorer, recs, {r.id: "a photo of a clock" for r in recs}, cache=cache, progress=False)
    assert a.keys() == b.keys() == {r.id for r in recs} and all(a[k] != b[k] for k in a)  # the prompt is in the key
    scorer.score_batch = None  # a warm run must not score again
    assert score_records(scorer, recs, {r.id: "a photo of a can" for r in recs}, cache=cache, progress=False) == a
    # a prompt scorer leaves out images without a prompt (the protocol names them: no_prompt)
    assert score_records(scorer, recs, {}, cache=cache, progress=False) == {}


def test_learned_scorers_are_in_the_catalogue_and_the_registry():
    from idbench.encoders import available_encoders
    from idbench.metrics.catalogue import metric_spec

    for metric, spec in (("pickscore", "pickscore"), ("hpsv1", "hpsv1"), ("hpsv2", "hpsv2"),
                         ("imagereward", "imagereward"), ("aesthetic", "aesthetic"), ("dreamsim", "dreamsim")):
        assert metric_spec(metric) is not None and metric_spec(metric).higher_is_better
        assert spec in available_encoders()
    r = CliRunner().invoke(cli, ["metrics"])
    assert r.exit_code == 0
    for name in ("PickScore", "HPSv2", "HPSv1", "ImageReward", "aesthetic", "DreamSim"):
        assert name in r.output


def test_hpsv1_without_its_checkpoint_says_where_it_comes_from():
    from idbench.encoders import create_encoder

    with pytest.raises(ValueError, match="hpc.pt"):
        create_encoder("hpsv1", device="cpu")


def test_dreamsim_without_its_checkpoints_says_where_they_go(tmp_path, monkeypatch):
    """No network: a message naming idbench's cache folder (never ~/.cache/torch, whatever the cache
    folder is), no download left behind, and torch hub's folder as it was before."""
    import os

    from idbench.encoders import create_encoder

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    hub_before = torch.hub.get_dir()
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(ValueError, match=r"checkpoints are not in .*dreamsim/ensemble.*cannot be downloaded"):
        create_encoder("dreamsim", device="cpu", cached=False)
    cache = Path(os.environ["IDBENCH_CACHE"])
    assert (cache / "dreamsim" / "ensemble").is_dir() and not list((cache / "dreamsim" / "ensemble").glob("pretrained.zip*"))
    assert not (tmp_path / "torch-home").exists() and torch.hub.get_dir() == hub_before


def test_a_received_dreamsim_folder_never_offers_its_code_to_torch_hub(tmp_path):
    from idbench.encoders.dreamsim_encoder import _link_checkpoints

    src = tmp_path / "received"
    (src / "facebookresearch_dino_main").mkdir(parents=True)
    (src / "facebookresearch_dino_main" / "hubconf.py").write_text("open('ran', 'w')")
    (src / "ensemble_lora").mkdir()
    (src / "ensemble_lora" / "adapter_config.json").write_text("{}")
    (src / "dino_vitb16_pretrain.pth").write_bytes(b"x")
    work = tmp_path / "work"
    work.mkdir()
    _link_checkpoints(src, work)
    assert sorted(p.name for p in work.iterdir()) == ["dino_vitb16_pretrain.pth", "ensemble_lora"]
