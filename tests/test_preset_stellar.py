"""The stellar preset against Stellar's own code path: FaceNet (facenet-pytorch's MTCNN with its shipped
weights and a random InceptionResnetV1 placed where ``pretrained="vggface2"`` finds it), a tiny CLIP under
the real ``laion/CLIP-ViT-bigG-14-laion2B-39B-b160k`` id, PickScore and ImageReward under their hub ids,
a tiny OWL-ViT under ``google/owlvit-base-patch32``. IPS and SIS are written out here from Stellar's
``IdentityPreservation`` (max cosine over face pairs, 0 without a face) and must equal idbench per image."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from idbench.cli.main import cli
from tests import test_learned_scorers as learned
from tests.conftest import SHARED
from tests.test_encoders_hub import _tiny_clip_tokenizer
from tests.test_presets import _hub_put

models, offline_hub = learned.models, learned.offline_hub  # the tiny learned-baseline models, as fixtures here

facenet_pytorch = pytest.importorskip("facenet_pytorch")
transformers = pytest.importorskip("transformers")
FACES = SHARED / "datasets" / "faces-small"
VGGFACE2 = "20180402-114759-vggface2.pt"


@pytest.fixture
def stellar_models(offline_hub, tmp_path_factory, monkeypatch):
    m = offline_hub
    torch_home = tmp_path_factory.mktemp("torch-home")
    (torch_home / "checkpoints").mkdir()
    torch.manual_seed(3)
    net = facenet_pytorch.InceptionResnetV1(classify=True, num_classes=8631).eval()  # the released file's layout
    torch.save(net.state_dict(), torch_home / "checkpoints" / VGGFACE2)
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    hub = m["hub"]
    big = "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k"
    if not (hub / f"models--{big.replace('/', '--')}").exists():
        d = _hub_put(hub, big)
        n = _tiny_clip_tokenizer(d)
        transformers.CLIPModel(transformers.CLIPConfig(
            text_config=dict(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                             pad_token_id=1),
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                               image_size=224, patch_size=32), projection_dim=16)).save_pretrained(d)
        transformers.CLIPImageProcessor(size={"shortest_edge": 224},
                                        crop_size={"height": 224, "width": 224}).save_pretrained(d)
        from tests.test_grounding import build_tiny_owl

        build_tiny_owl(_hub_put(hub, "google/owlvit-base-patch32"))
        learned._build_imagereward(m)
        d = _hub_put(hub, "THUDM/ImageReward")
        shutil.copy(m["imagereward"], d / "ImageReward.pt")
        shutil.copy(m["med"], d / "med_config.json")
        learned._build_dreamsim(m)
    return m


def stellar_identity(ref_images, gen_image, net) -> tuple[float, float]:
    """Stellar's ``IdentityPreservation.__call__`` for one generation against each reference (its FaceDector:
    MTCNN faces with probability >= 0.9, InceptionResnetV1 embeddings), then IPS = mean and SIS = min over
    the references; a generation or reference without a face scores 0."""
    mtcnn = facenet_pytorch.MTCNN(image_size=160, margin=0, keep_all=True, device="cpu")

    def embeds(im):
        faces, probs = mtcnn(im, return_prob=True)
        if faces is None:
            return torch.zeros(0, 512)
        keep = torch.as_tensor(np.asarray(probs, np.float64) >= 0.9)
        with torch.no_grad():
            return net(faces[keep]) if keep.any() else torch.zeros(0, 512)

    syn = embeds(gen_image)
    scores = []
    for og in ref_images:
        og_embed = embeds(og)
        if len(syn) == 0 or len(og_embed) == 0:
            scores.append(0.0)
            continue
        scores.append(float(torch.nn.functional.cosine_similarity(syn.unsqueeze(1), og_embed, dim=-1).max()))
    return float(np.mean(scores)), float(np.min(scores))


def test_stellar_preset_equals_stellars_identity_code(stellar_models, tmp_path):
    m = stellar_models
    refs, gen = tmp_path / "refs" / "obama", tmp_path / "gen" / "m" / "obama"
    refs.mkdir(parents=True)
    gen.mkdir(parents=True)
    for name in ("obama.jpg", "obama2.jpg"):
        shutil.copy(FACES / "images" / "obama" / name, refs / name)
    shutil.copy(FACES / "images" / "obama" / "obama3.jpg", gen / "0.jpg")
    shutil.copy(FACES / "images" / "biden" / "biden.jpg", gen / "1.jpg")
    Image.new("RGB", (256, 256), (30, 140, 60)).save(gen / "2.jpg")  # no face: Stellar scores it 0
    for k in range(3):
        (gen / f"{k}.txt").write_text("a photo of a person with a hat on the beach")
    # the preset's own specs where a tiny model can stand under them; tiny architectures for HPSv2 (ViT-H-14),
    # the aesthetic CLIP (ViT-L/14) and the DreamSim ensemble, whose random weights would be gigabytes
    encoders = ["facenet", "hf:laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", "pickscore", "imagereward",
                f"hpsv2:{m['hpsv2']}#arch={m['hpsv2_cfg']}", f"aesthetic:{m['aesthetic']}#clip={m['clip']}",
                f"dreamsim:open_clip_vitb32#cache_dir={m['dreamsim']}"]
    args = ["run", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "--preset", "stellar",
            "-o", str(tmp_path / "o"), "-q", "--no-report", "--bootstrap", "200"]
    for e in encoders:
        args += ["-e", e]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "preset stellar" in r.output and "encoders" in r.output  # the substituted encoders are said
    rows = {x["image_id"]: x for x in csv.DictReader(open(tmp_path / "o" / "per_image.csv"))}
    net = facenet_pytorch.InceptionResnetV1(pretrained="vggface2").eval()
    ref_images = [Image.open(p).convert("RGB") for p in sorted(refs.glob("*.jpg"))]
    for k in range(3):
        row = rows[f"m/obama/{k}"]
        ips, sis = stellar_identity(ref_images, Image.open(gen / f"{k}.jpg").convert("RGB"), net)
        assert abs(float(row["ips[facenet]"]) - ips) < 1e-4 and abs(float(row["sis[facenet]"]) - sis) < 1e-4, (k, row)
    assert float(rows["m/obama/2"]["face_found[facenet]"]) == 0 and float(rows["m/obama/2"]["ips[facenet]"]) == 0
    assert float(rows["m/obama/0"]["face_found[facenet]"]) == 1
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    for col in ("clip_t[hf:laion/CLIP-ViT-bigG-14-laion2B-39B-b160k]", "prompt_ok[hf:laion/CLIP-ViT-bigG-14-laion2B-39B-b160k]",
                "pickscore[pickscore]", "imagereward[imagereward]", "goa"):
        assert col in s["metrics"], col
    assert s["sections"]["study"]["preset"]["name"] == "stellar"
    # agree shows Stellar's published Kendall tau beside the study's own
    ratings = tmp_path / "ratings.csv"
    with open(ratings, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image_id", "rater", "score"])
        for k, v in enumerate((5, 1, 1)):
            w.writerow([f"m/obama/{k}", "a", v])
            w.writerow([f"m/obama/{k}", "b", v + (k == 1)])
    r = CliRunner().invoke(cli, ["agree", str(tmp_path / "o"), "--human", str(ratings)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "Kendall (stellar paper)" in r.output and "+0.455" in r.output


def test_a_preset_runs_with_the_encoders_that_are_here_and_names_the_others(tmp_path, monkeypatch):
    """Offline with only FaceNet's weights: IPS and SIS are computed; each other preset encoder and the GOA
    detector are named as unavailable, the run says it differs from the preset, and nothing else is lost."""
    import huggingface_hub.constants as c

    import idbench.encoders.registry as registry

    monkeypatch.setattr(registry, "_INSTANCES", {})  # no encoder built by an earlier test in this process

    (tmp_path / "empty-hub").mkdir()
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch_home = tmp_path / "torch-home"
    (torch_home / "checkpoints").mkdir(parents=True)
    torch.manual_seed(3)
    torch.save(facenet_pytorch.InceptionResnetV1(classify=True, num_classes=8631).state_dict(),
               torch_home / "checkpoints" / VGGFACE2)
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    refs, gen = tmp_path / "refs" / "obama", tmp_path / "gen" / "m" / "obama"
    refs.mkdir(parents=True)
    gen.mkdir(parents=True)
    shutil.copy(FACES / "images" / "obama" / "obama.jpg", refs / "a.jpg")
    shutil.copy(FACES / "images" / "obama" / "obama3.jpg", gen / "0.jpg")
    (gen / "0.txt").write_text("a photo of a person with a hat")
    r = CliRunner().invoke(cli, ["run", "--refs", str(tmp_path / "refs"), "--gen", str(tmp_path / "gen"), "--preset",
                                 "stellar", "-o", str(tmp_path / "o"), "--no-report", "--bootstrap", "100"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "ips[facenet]" in s["metrics"] and "goa" not in s["metrics"]
    differs = s["sections"]["study"]["preset"]["differs"]
    for spec in ("dreamsim", "pickscore", "hpsv2", "imagereward", "aesthetic"):
        assert f"encoder {spec} not available (see the problems)" in differs
    problems = (tmp_path / "o" / "problems.csv").read_text()
    assert problems.count("encoder_unavailable") == 6 and "detector_unavailable" in problems
    assert "not available" in r.output
    from idbench.report.html import render_report  # the similarity section says why it has no table

    html = render_report(tmp_path / "o").read_text()
    assert "no image-encoder scores" in html and "some encoders could not be created" in html


def _no_network(url, *a, **k):
    raise OSError(f"no network here ({url})")


def test_a_preset_none_of_whose_encoders_is_here_is_an_error_naming_them(tmp_path, monkeypatch, study_inputs):
    import huggingface_hub.constants as c

    import idbench.encoders.registry as registry

    monkeypatch.setattr(registry, "_INSTANCES", {})

    (tmp_path / "empty-hub").mkdir()
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = CliRunner().invoke(cli, ["run", "--gen", str(study_inputs / "gen"), "--gallery", str(study_inputs / "gallery.csv"),
                                 "--preset", "fpr", "-o", str(tmp_path / "o"), "--no-report"])
    assert r.exit_code != 0 and "none of preset fpr's encoders can be created" in r.output
    assert "hf:facebook/dinov2-base" in r.output and "Traceback" not in r.output
