"""Presets reproduce each benchmark's own scoring code: tiny random models with the real repos'
configurations are placed in an offline hub cache under the real repo ids, the benchmark's
pipeline is written out here from its source, and idbench's preset output must equal it per image."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests.conftest import DREAMBOOTH
from tests.test_encoders_hub import _tiny_clip_tokenizer

transformers = pytest.importorskip("transformers")
SNAP = "0" * 40


def _hub_put(cache: Path, repo: str) -> Path:
    """A snapshot folder for ``repo`` in a hub cache (what ``from_pretrained(repo)`` finds offline)."""
    d = cache / f"models--{repo.replace('/', '--')}"
    snap = d / "snapshots" / SNAP
    snap.mkdir(parents=True)
    (d / "refs").mkdir()
    (d / "refs" / "main").write_text(SNAP)
    return snap


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Tiny random facebook/dino-vits8, facebook/dinov2-small, openai/clip-vit-base-patch32 with the real repos'
    preprocessing configurations."""
    cache = tmp_path_factory.mktemp("hub")
    torch.manual_seed(0)
    d = _hub_put(cache, "facebook/dino-vits8")  # ViT-S/8: the repo's ViTImageProcessor squashes to 224 x 224
    transformers.ViTModel(transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=64, image_size=224, patch_size=8)).save_pretrained(d)
    transformers.ViTImageProcessor(size={"height": 224, "width": 224}, resample=2).save_pretrained(d)
    d = _hub_put(cache, "facebook/dino-vits16")  # DreamBooth's DINO ViT-S/16
    transformers.ViTModel(transformers.ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=64, image_size=224, patch_size=16)).save_pretrained(d)
    transformers.ViTImageProcessor(size={"height": 224, "width": 224}, resample=2).save_pretrained(d)
    d = _hub_put(cache, "facebook/dinov2-small")  # BitImageProcessor: shortest side 256 (bicubic), crop 224
    transformers.Dinov2Model(transformers.Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                       intermediate_size=64, image_size=518, patch_size=14)).save_pretrained(d)
    transformers.BitImageProcessor(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=3,
                                   image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225]).save_pretrained(d)
    d = _hub_put(cache, "openai/clip-vit-base-patch32")
    n = _tiny_clip_tokenizer(d)
    transformers.CLIPModel(transformers.CLIPConfig(
        text_config=dict(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=224, patch_size=32), projection_dim=16)).save_pretrained(d)
    transformers.CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(d)
    return cache


def _refs_and_gen(root: Path, *, n_refs: int, prompts: bool = False) -> None:
    """refs/<s>/ (the first ``n_refs`` photos) and gen/m/<s>/0.jpg (the last), for can and clock."""
    from tests.conftest import DREAMBOOTH

    for s in ("can", "clock"):
        (root / "refs" / s).mkdir(parents=True)
        (root / "gen" / "m" / s).mkdir(parents=True)
        photos = sorted((DREAMBOOTH / "images" / s).glob("*.jpg"))
        for p in photos[:n_refs]:
            (root / "refs" / s / p.name).write_bytes(p.read_bytes())
        (root / "gen" / "m" / s / "0.jpg").write_bytes(photos[-1].read_bytes())
        if prompts:
            (root / "gen" / "m" / s / "0.txt").write_text(f"a photo of a {s} on the beach")


def _clip_image_features(clip, proc, im) -> torch.Tensor:
    """CLIPModel.get_image_features on CLIPProcessor's pixels (transformers >= 5 may return an output object)."""
    with torch.no_grad():
        o = clip.get_image_features(pixel_values=proc(images=im, return_tensors="pt")["pixel_values"])
    return o if isinstance(o, torch.Tensor) else o.pooler_output


def _snapshot(cache, repo):
    return cache / f"models--{repo.replace('/', '--')}" / "snapshots" / SNAP


def _cos(a, b) -> float:
    a, b = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    return float((a * b).sum())


def upstream_load_image(path):
    """yuangpeng/dreambench_plus@66ca27e52b5e7daa350bdb92ac8c60d4a9339c5e, dreambench_plus/utils/image_utils.py
    ``load_image``, transcribed: PIL open, ``ImageOps.exif_transpose``, modes L / RGB / RGBA / CMYK only, RGBA
    composited over a white RGBA background, then ``convert("RGB")``."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(Image.open(path))
    assert image.mode in ("L", "RGB", "RGBA", "CMYK")
    if image.mode == "RGBA":
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image).convert("RGB")
    return image.convert("RGB")


def upstream_pairs(src_dir: Path, tgt_dir: Path) -> dict[str, str]:
    """The same repository, metrics/dino_score.py ``multigpu_eval_dino_score``, transcribed: both folders
    globbed for ``**/*.{png,jpeg,jpg}`` (and upper case), sorted, equal counts asserted, zipped in order,
    and each pair's relative paths up to the first ``.`` asserted equal. Returns tgt path -> src path."""
    exts = ["png", "jpeg", "jpg"]
    exts += [e.upper() for e in exts]
    a = sorted(str(p) for e in exts for p in src_dir.glob(f"**/*.{e}"))
    b = sorted(str(p) for e in exts for p in tgt_dir.glob(f"**/*.{e}"))
    assert len(a) == len(b)
    out = {}
    for x, y in zip(a, b):
        assert x.split(str(src_dir) + "/")[-1].split(".")[0] == y.split(str(tgt_dir) + "/")[-1].split(".")[0]
        out[y] = x
    return out


def transformers_4_35_dinov2_pos_encoding(self, embeddings, height, width):
    """transformers v4.35.2 (the version DreamBench++'s requirements pin),
    src/transformers/models/dinov2/modeling_dinov2.py ``Dinov2Embeddings.interpolate_pos_encoding``,
    transcribed: the patch grid's size + 0.1 as a bicubic ``scale_factor`` of the stored grid (float32)."""
    import math

    num_patches = embeddings.shape[1] - 1
    num_positions = self.position_embeddings.shape[1] - 1
    if num_patches == num_positions and height == width:
        return self.position_embeddings
    class_pos_embed = self.position_embeddings[:, 0]
    patch_pos_embed = self.position_embeddings[:, 1:]
    dim = embeddings.shape[-1]
    height = height // self.config.patch_size
    width = width // self.config.patch_size
    height, width = height + 0.1, width + 0.1
    patch_pos_embed = patch_pos_embed.reshape(1, int(math.sqrt(num_positions)), int(math.sqrt(num_positions)), dim)
    patch_pos_embed = patch_pos_embed.permute(0, 3, 1, 2)
    target_dtype = patch_pos_embed.dtype
    patch_pos_embed = torch.nn.functional.interpolate(
        patch_pos_embed.to(dtype=torch.float32),
        scale_factor=(float(height / math.sqrt(num_positions)), float(width / math.sqrt(num_positions))),
        mode="bicubic", align_corners=False).to(dtype=target_dtype)
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


def dreambench_plus_scores(cache, gen_path, src_path) -> dict[str, float]:
    """DreamBench++'s own pipelines, written out from its code (scores x 1; the paper shows x 100):

    * ``dreambench_plus/metrics/dino_score.py`` ``DinoScore``: torchvision ``Resize(256, interpolation=3)``,
      ``CenterCrop(224)``, ``ToTensor``, ``Normalize(ImageNet)``; the model's CLS output after the final norm;
    * ``Dinov2Score``: ``AutoImageProcessor`` of facebook/dinov2-small; CLS of ``last_hidden_state``;
    * ``metrics/clip_score.py``: ``CLIPProcessor`` of openai/clip-vit-base-patch32; ``get_image_features``.
    Each: cosine between the generation and the source image it was given."""
    from torchvision import transforms as T

    gen, src = upstream_load_image(gen_path), upstream_load_image(src_path)
    out = {}
    tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    vit = transformers.ViTModel.from_pretrained(_snapshot(cache, "facebook/dino-vits8")).eval()
    with torch.no_grad():
        f = [vit(pixel_values=tf(im)[None]).last_hidden_state[:, 0] for im in (gen, src)]
    out["dino"] = _cos(*f)
    d2 = transformers.Dinov2Model.from_pretrained(_snapshot(cache, "facebook/dinov2-small")).eval()
    import types

    d2.embeddings.interpolate_pos_encoding = types.MethodType(transformers_4_35_dinov2_pos_encoding, d2.embeddings)
    proc = transformers.AutoImageProcessor.from_pretrained(_snapshot(cache, "facebook/dinov2-small"), use_fast=False)
    with torch.no_grad():
        f = [d2(**proc(images=im, return_tensors="pt")).last_hidden_state[:, 0] for im in (gen, src)]
    out["dinov2"] = _cos(*f)
    clip = transformers.CLIPModel.from_pretrained(_snapshot(cache, "openai/clip-vit-base-patch32")).eval()
    cproc = transformers.CLIPProcessor.from_pretrained(_snapshot(cache, "openai/clip-vit-base-patch32"))
    out["clip"] = _cos(*[_clip_image_features(clip, cproc, im) for im in (gen, src)])
    return out


def test_dreambench_plus_preset_equals_its_code_per_image(hub, tmp_path, dreambooth_rows):
    from tests.test_layouts import _dreambenchpp

    root = _dreambenchpp(tmp_path, dreambooth_rows)
    # what real sample folders hold: PNG generations beside JPG sources, RGBA and greyscale generations, an
    # EXIF-rotated source
    tgt = sorted((root / "samples" / "emu2" / "tgt_image").rglob("*.jpg"))
    for i, f in enumerate(tgt[:3]):
        im = Image.open(f)
        im = [im.convert("RGBA"), im.convert("L"), im][i]
        if i == 0:
            im.putalpha(Image.linear_gradient("L").resize(im.size))
        im.save(f.with_suffix(".png"))
        f.unlink()
    src = sorted((root / "samples" / "emu2" / "src_image").rglob("*.jpg"))[-1]
    im = Image.open(src)
    exif = im.getexif()
    exif[0x0112] = 6
    im.transpose(Image.Transpose.ROTATE_90).save(src, exif=exif)
    out = tmp_path / "res"
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "idbench.cli.main", "run", "--refs", str(root), "--gen",
                        str(root / "samples"), "--preset", "dreambench++", "-o", str(out), "-q", "--no-report",
                        "--bootstrap", "200"], env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "preset dreambench++" in p.stdout and "settings as published" in p.stdout
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    cols = {"dino": "cos[hf:facebook/dino-vits8#resize=256,crop=224,interp=bicubic,norm=imagenet]",
            "dinov2": "cos[hf:facebook/dinov2-small#pos_interp=scale_factor]", "clip": "cos[hf:openai/clip-vit-base-patch32]"}
    assert len(rows) == 12
    pairs = {}
    for method in ("emu2", "blip_diffusion"):
        pairs.update(upstream_pairs(root / "samples" / method / "src_image", root / "samples" / method / "tgt_image"))
    per_method: dict[str, list] = {}
    for r in rows:
        ref = dreambench_plus_scores(hub, r["path"], pairs[r["path"]])
        for k, col in cols.items():
            assert abs(float(r[col]) - ref[k]) < 1e-4, (k, r["image_id"], float(r[col]), ref[k])
        per_method.setdefault(r["method"], []).append(ref)
    s = json.loads((out / "summary.json").read_text())
    assert s["sections"]["study"]["preset"]["name"] == "dreambench++"
    for method, refs in per_method.items():  # DreamBench++'s score: the mean over the method's pairs
        for k, col in cols.items():
            assert abs(s["methods"][method][col]["mean"] - float(np.mean([x[k] for x in refs]))) < 1e-4
    # the paper's scale in every table a person reads (per_image.csv and summary.json stay x 1)
    md = (out / "tables.md").read_text()
    assert "x100" in md
    mean = next(iter(s["methods"].values()))[cols["clip"]]["mean"]
    assert f"{100 * mean:.3f}" in md
    assert "clip_t[hf:openai/clip-vit-base-patch32]" in s["metrics"]  # CLIP-T from the encoder with a text tower
    assert not any(k.startswith("clip_t[hf:facebook") for k in s["metrics"])  # image-only encoders never score prompts


def test_the_repo_processor_and_the_benchmark_pipeline_differ(hub, tmp_path, dreambooth_rows):
    """The hub repo's ViTImageProcessor (squash to 224) is not DreamBench++'s pipeline (resize 256, crop 224)."""
    from idbench.encoders.hf import HFEncoder

    snap = _snapshot(hub, "facebook/dino-vits8")
    from tests.conftest import DREAMBOOTH

    im = [Image.open(DREAMBOOTH / dreambooth_rows[0]["path"]).convert("RGB")]
    repo = HFEncoder(str(snap)).embed_images(im)
    bench = HFEncoder(f"{snap}#resize=256,crop=224,interp=bicubic,norm=imagenet").embed_images(im)
    assert float(repo[0] @ bench[0]) < 0.9999


def test_image_only_hf_encoder_runs_on_prompted_generations(hub, tmp_path, dreambooth_rows):
    _refs_and_gen(tmp_path, n_refs=2, prompts=True)
    snap = _snapshot(hub, "facebook/dinov2-small")
    r = CliRunner().invoke(cli, ["evaluate", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "-e",
                                 f"hf:{snap}", "-o", str(tmp_path / "o"), "-q", "--no-report", "--bootstrap", "200"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert any(k.startswith("cos[hf:") for k in s["metrics"]) and not any(k.startswith("clip_t") for k in s["metrics"])


def test_presets_are_listed_and_documented():
    from idbench.presets import all_presets, presets_markdown

    PRESETS = all_presets()

    r = CliRunner().invoke(cli, ["presets"])
    assert r.exit_code == 0 and all(name in r.output for name in PRESETS)
    assert all(p.source for p in PRESETS.values())
    doc = (Path(__file__).parents[1] / "docs" / "presets.md").read_text()
    assert doc.endswith(presets_markdown())


def test_preset_flags_given_win_and_the_difference_is_said(tmp_path):
    from idbench.study import Study, StudyError

    s = Study(refs="r", gen="g", preset="consisid", options={"similarity": {"no_face": "zero"}})
    assert s.encoders == ["arcface:buffalo_l#det_size=320"] and s.options["similarity"]["no_face"] == "zero"
    assert s.options["similarity"]["face_pad_retry"] == 0.25
    assert s.preset_record.differs == ["similarity.no_face = 'zero' (preset: 'skip')"]
    with pytest.raises(StudyError, match=r"unknown preset 'dreambench\+' \(did you mean 'dreambench\+\+'"):
        Study(refs="r", gen="g", preset="dreambench+")


def test_a_preset_run_shows_the_published_numbers_as_reference_rows():
    from idbench.presets import get_preset
    from idbench.report.tables import render_tables
    from idbench.results import Results

    p = get_preset("dreambooth")
    res = Results(command="x")
    cols = [f"cos[{p.encoders[0]}]", f"cos[{p.encoders[1]}]"]
    for c in cols:
        res.add_metric(c, "cos")
    res.rows = [{"method": "m", "subject": f"s{k}", "image_id": str(k), cols[0]: 0.7, cols[1]: 0.8} for k in range(3)]
    res.sections["study"] = {"preset": {"name": p.name, "published": [vars(x) for x in p.published]}}
    res.summarise(n_resamples=100)
    md = render_tables(res, "md")
    row = next(x for x in md.splitlines() if x.startswith("| published: real images"))
    assert row.endswith("| 0.774 | 0.885 |")  # DINO under the DINO column, CLIP-I under the CLIP column


@pytest.mark.parametrize("preset", ["dreambooth", "dreambench"])
def test_dreambooth_preset_equals_the_mean_over_all_references(hub, tmp_path, preset):
    """DreamBooth's DINO (ViT-S/16, torchvision pipeline) and CLIP-I: each generation's mean cosine to
    all its subject's references, per image; CLIP-T: the prompt's and the image's CLIP cosine. The
    dreambench preset (the DreamBench dataset as later papers score it) is the same pipeline. A generation
    that copies a reference is flagged, but its number is the paper's formula: the mean over every reference
    (the copy guard informs, it never changes a preset's number)."""
    from torchvision import transforms as T

    _refs_and_gen(tmp_path, n_refs=3, prompts=True)
    first_ref = sorted((tmp_path / "refs" / "can").glob("*.jpg"))[0]
    (tmp_path / "gen" / "m" / "can" / "1.jpg").write_bytes(first_ref.read_bytes())
    (tmp_path / "gen" / "m" / "can" / "1.txt").write_text("a photo of a can on the beach")
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "idbench.cli.main", "run", "--refs", str(tmp_path / "refs"), "--gen",
                        str(tmp_path / "gen"), "--preset", preset, "-o", str(tmp_path / "o"), "-q", "--no-report",
                        "--bootstrap", "200"], env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "o" / "per_image.csv")))
    assert len(rows) == 3 and [r["copy_of"] != "" for r in rows].count(True) == 1
    tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    vit = transformers.ViTModel.from_pretrained(_snapshot(hub, "facebook/dino-vits16")).eval()
    clip = transformers.CLIPModel.from_pretrained(_snapshot(hub, "openai/clip-vit-base-patch32")).eval()
    cproc = transformers.CLIPProcessor.from_pretrained(_snapshot(hub, "openai/clip-vit-base-patch32"))

    def dino(im):
        with torch.no_grad():
            return vit(pixel_values=tf(im)[None]).last_hidden_state[:, 0]

    def clip_i(im):
        return _clip_image_features(clip, cproc, im)

    for r in rows:
        gen = Image.open(r["path"]).convert("RGB")
        refs = [Image.open(q).convert("RGB") for q in sorted((tmp_path / "refs" / r["subject"]).glob("*.jpg"))]
        for col, f in (("cos[hf:facebook/dino-vits16#resize=256,crop=224,interp=bicubic,norm=imagenet]", dino),
                       ("cos[hf:openai/clip-vit-base-patch32]", clip_i)):
            want = sum(_cos(f(gen), f(x)) for x in refs) / len(refs)
            assert abs(float(r[col]) - want) < 1e-4, (col, r["image_id"])
        prompt = (Path(r["path"]).with_suffix(".txt")).read_text()
        with torch.no_grad():
            t = clip.get_text_features(**cproc(text=[prompt], return_tensors="pt", padding=True))
        t = t if isinstance(t, torch.Tensor) else t.pooler_output
        assert abs(float(r["clip_t[hf:openai/clip-vit-base-patch32]"]) - _cos(t, clip_i(gen))) < 1e-4


# ---------------------------------------------------------------- presets are data files

_MINE = '''name = "mine"
description = "my benchmark"
encoders = ["effnet-lite0"]
protocols = ["similarity"]

[source]
text = "my_eval.py: score()"
repository = "me/my-bench"

[options.similarity]
pairing = "all"
'''


def test_a_preset_file_of_ones_own_runs_and_is_recorded(tmp_path, study_inputs):
    from idbench.study import Study

    f = tmp_path / "mine.toml"
    f.write_text(_MINE)
    s = Study(refs=study_inputs / "refs", gen=study_inputs / "gen", preset=str(f), progress=False, n_resamples=100)
    res = s.run()
    assert res.sections["study"].preset.name == "mine"
    assert res.sections["study"].preset.differs == []
    r = CliRunner().invoke(cli, ["presets", str(f)])
    assert r.exit_code == 0 and r.output == _MINE


@pytest.mark.parametrize("edit,names", [
    (lambda t: t.replace("protocols =", "protocol ="), "'protocol'"),
    (lambda t: t.replace("pairing =", "pairng ="), "'pairng'"),
    (lambda t: t.replace("[options.similarity]", "[options.similarty]"), "'similarty'"),
    (lambda t: t.replace('text = "my_eval.py: score()"', 'txt = "x"'), "'txt'"),
    (lambda t: t.replace('encoders = ["effnet-lite0"]', 'encoders = 5'), "encoders"),
    (lambda t: t + '\n[[published]]\nwhat = "real"\nmetric = "DINO"\nvalue = "high"\nsource = "T1"\n', "value"),
    (lambda t: t + '\n[[rules]]\nupstream = "x.py:f"\n', "'idbench' is required"),
])
def test_a_misspelt_or_mistyped_preset_key_is_an_error_naming_it(tmp_path, study_inputs, edit, names):
    f = tmp_path / "mine.toml"
    f.write_text(edit(_MINE))
    r = CliRunner().invoke(cli, ["run", "--refs", str(study_inputs / "refs"), "--gen", str(study_inputs / "gen"),
                                 "--preset", str(f), "-o", str(tmp_path / "out"), "-q"])
    assert r.exit_code != 0 and names in r.output and str(f) in r.output, r.output
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_new_preset_file_is_listed_without_code(tmp_path, monkeypatch):
    import shutil

    from idbench import presets

    d = tmp_path / "preset_files"
    shutil.copytree(presets.PRESET_DIR, d)
    (d / "mine.toml").write_text(_MINE)
    monkeypatch.setattr(presets, "PRESET_DIR", d)
    r = CliRunner().invoke(cli, ["presets"])
    assert r.exit_code == 0 and "mine: my benchmark" in r.output and "fpr:" in r.output
    assert presets.get_preset("mine").repository == "me/my-bench"


def test_one_broken_plugin_preset_does_not_take_the_listing_down(monkeypatch):
    from idbench import presets

    monkeypatch.setitem(presets.PRESETS._loaded, "broken", presets.Preset(
        "broken", "a plug-in with a misspelt option", "x", ("effnet-lite0",), options={"similarity": {"pairng": "all"}}))
    r = CliRunner().invoke(cli, ["presets"])
    assert r.exit_code == 0 and "fpr:" in r.output
    assert "broken: cannot be loaded" in r.output and "pairng" in r.output


def test_every_shipped_preset_file_loads_and_names_its_source():
    from idbench.presets import PRESET_DIR, load_preset_file

    files = sorted(PRESET_DIR.glob("*.toml"))
    assert len(files) >= 9
    for f in files:
        p = load_preset_file(f)
        assert p.source and p.encoders and p.path == str(f)
        if p.repository:  # a preset read from its benchmark's code names the commit and maps its rules
            assert len(p.commit) == 40 and p.files and p.rules


def test_dinov2_position_grid_as_the_transformers_version_dreambench_pins(hub, dreambooth_rows):
    """hf:...#pos_interp=scale_factor embeds as transformers 4.35.2 does (the transcription above), which
    transformers 5's own rule does not: the embeddings show the difference the cosine hides on a tiny model."""
    import types

    from idbench.encoders.hf import HFEncoder

    snap = _snapshot(hub, "facebook/dinov2-small")
    old, new = HFEncoder(str(snap) + "#pos_interp=scale_factor"), HFEncoder(str(snap))
    assert old.cache_id != new.cache_id
    ref = transformers.Dinov2Model.from_pretrained(snap).eval()
    ref.embeddings.interpolate_pos_encoding = types.MethodType(transformers_4_35_dinov2_pos_encoding, ref.embeddings)
    proc = transformers.AutoImageProcessor.from_pretrained(snap, use_fast=False)
    for row in dreambooth_rows[:4]:
        im = upstream_load_image(DREAMBOOTH / row["path"])
        with torch.no_grad():
            want = torch.nn.functional.normalize(ref(**proc(images=im, return_tensors="pt")).last_hidden_state[:, 0],
                                                 dim=-1)[0].numpy()
        got = old.embed_batch([old.preprocess(im)])[0].vectors[0]
        other = new.embed_batch([new.preprocess(im)])[0].vectors[0]
        assert np.abs(got - want).max() < 1e-6
        assert np.abs(other - want).max() > 1e-5
    with pytest.raises(ValueError, match="DINOv2"):
        HFEncoder(str(_snapshot(hub, "openai/clip-vit-base-patch32")) + "#pos_interp=scale_factor")
