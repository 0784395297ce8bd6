"""idbench's own presets, one object each, declared as entry points (group ``idbench.presets``) in its
pyproject.toml exactly as another package declares its own. See :mod:`idbench.presets`."""

from __future__ import annotations

from idbench.presets import Preset, Published

_TV = "resize=256,crop=224,interp=bicubic,norm=imagenet"
_DB1 = "DreamBooth, Table 1"

DREAMBOOTH = Preset(
    "dreambooth", "DreamBooth's DINO and CLIP-I (mean cosine over all the subject's references) and CLIP-T",
    source="Ruiz et al., DreamBooth (CVPR 2023), Sec. 4.1 and Table 1: DINO ViT-S/16, CLIP ViT-B/32",
    encoders=(f"hf:facebook/dino-vits16#{_TV}", "hf:openai/clip-vit-base-patch32"), protocols=("similarity",),
    options={"similarity": {"pairing": "all"}}, metrics=("cos", "clip_t"),
    published=(Published("real images", "DINO", 0.774, _DB1), Published("real images", "CLIP-I", 0.885, _DB1),
               Published("DreamBooth (Stable Diffusion)", "DINO", 0.668, _DB1),
               Published("DreamBooth (Stable Diffusion)", "CLIP-I", 0.803, _DB1),
               Published("DreamBooth (Stable Diffusion)", "CLIP-T", 0.305, _DB1)),
    notes="The paper does not state DINO's preprocessing; the preset uses torchvision's standard Resize(256, bicubic), "
          "CenterCrop(224), ImageNet normalisation.")

DREAMBENCH = Preset(
    "dreambench", "The DreamBench dataset (google/dreambooth: 30 subjects, 25 prompts) scored as later papers do: "
                  "DINO, CLIP-I over all references, CLIP-T",
    source="google/dreambooth dataset/prompts_and_classes.txt; metrics as DreamBooth, Sec. 4.1",
    encoders=(f"hf:facebook/dino-vits16#{_TV}", "hf:openai/clip-vit-base-patch32"), protocols=("similarity",),
    options={"similarity": {"pairing": "all"}}, metrics=("cos", "clip_t"),
    published=(Published("real images", "DINO", 0.774, _DB1), Published("real images", "CLIP-I", 0.885, _DB1)))

DREAMBENCH_PLUS_PLUS = Preset(
    "dreambench++", "DreamBench++'s DINO v1 (ViT-S/8), DINOv2-small and CLIP ViT-B/32 scores, each generation paired "
                    "with the source image it was given, x 100",
    source="yuangpeng/dreambench_plus: dreambench_plus/metrics/dino_score.py (DinoScore: torch hub dino_vits8, "
           "Resize(256, bicubic), CenterCrop(224), ImageNet mean/std, CLS after the final norm; Dinov2Score: "
           "facebook/dinov2-small with its BitImageProcessor, CLS of last_hidden_state) and metrics/clip_score.py "
           "(openai/clip-vit-base-patch32 through CLIPProcessor)",
    encoders=(f"hf:facebook/dino-vits8#{_TV}", "hf:facebook/dinov2-small", "hf:openai/clip-vit-base-patch32"),
    protocols=("similarity",), options={"similarity": {"pairing": "source"}}, scale=100, metrics=("cos", "clip_t"),
    notes="The hub repo facebook/dino-vits8 ships a processor that squashes images to 224 x 224; the preset uses "
          "DreamBench++'s torchvision pipeline instead (the two differ by several points x 100).")

_STELLAR = "Stellar (Achlioptas et al., 2023), human-agreement table (Kendall tau with overall human preference)"
STELLAR = Preset(
    "stellar", "Stellar's identity metrics (IPS, SIS with FaceNet), its CLIP-I / CLIP-T and prompt gate, GOA, and the "
               "learned baselines of its human-agreement table (PickScore, HPSv2, ImageReward, DreamSim, aesthetic)",
    source="stellar-gen-ai/stellar-metrics: identity_preservation.py (facenet-pytorch MTCNN + InceptionResnetV1 "
           "vggface2, faces with probability >= 0.9, max cosine over face pairs, 0 without a face), clip metrics "
           "(laion/CLIP-ViT-bigG-14-laion2B-39B-b160k), dreamsim_distance.py, human_preference_score.py (hpc.pt, "
           "hpsv2.score), image_reward.py, aesthetic score; OWL-ViT for GOA (google/owlvit-base-patch32 here)",
    encoders=("facenet", "hf:laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", "dreamsim", "pickscore", "hpsv2",
              "imagereward", "aesthetic"),
    protocols=("similarity",),
    options={"similarity": {"no_face": "zero", "faces": "best", "text": True,
                            "goa_detector": "google/owlvit-base-patch32"}},
    metrics=("ips", "sis", "aps", "goa", "rfs", "cos", "clip_t", "prompt_ok", "dreamsim", "pickscore", "hpsv1", "hpsv2",
             "imagereward", "aesthetic"),
    published=tuple(Published("Kendall tau, overall", m, v, _STELLAR, kind="agreement") for m, v in (
        ("IPS", 0.455), ("SIS", 0.435), ("APS", 0.389), ("Aesthetic", 0.359), ("ImageReward", 0.320),
        ("CLIP-I", 0.304), ("HPSv1", 0.304), ("DreamSim", 0.270), ("PickScore", 0.246), ("HPSv2", 0.224),
        ("RFS", 0.167), ("GOA", 0.149), ("CLIP-T", 0.106))),
    notes="HPSv1 needs its checkpoint file (hpc.pt, not on a hub): add -e hpsv1:<hpc.pt> to the preset's encoders. "
          "APS needs the face-attribute labels (--attributes). Stellar reports the DreamSim distance; idbench's "
          "dreamsim column is 1 - distance (higher is closer). Stellar's DINO fidelity is not part of the preset.")

_NEARID = "NearID (arXiv 2604.01973), SSR / PA in %"
NEARID = Preset(
    "nearid", "NearID's strict margins (SSR, PA) of near-identity distractors on the same background, with SigLIP2",
    source="Gorluxor/NearID: 3 views per identity, one distractor per view on its background; margins "
           "sim(view_i, view_j) - sim(view_i, distractor_i), SSR strict (> 0), PA pooled over samples",
    encoders=("hf:google/siglip2-so400m-patch14-384",), protocols=("nearid",),
    published=(Published("CLIP L/14", "SSR", 0.103, _NEARID), Published("CLIP L/14", "PA", 0.209, _NEARID),
               Published("DINOv2-L", "SSR", 0.204, _NEARID), Published("DINOv2-L", "PA", 0.346, _NEARID),
               Published("SigLIP2", "SSR", 0.307, _NEARID), Published("SigLIP2", "PA", 0.488, _NEARID),
               Published("NearID head on SigLIP2", "SSR", 0.992, _NEARID),
               Published("NearID head on SigLIP2", "PA", 0.997, _NEARID)),
    notes="The paper reports percentages; idbench shows shares (0.307 = 30.7 %). The NearID head is scored with "
          "-e nearid:<head folder> (on the backbone it was trained on); CLIP L/14 is hf:openai/clip-vit-large-patch14 "
          "and DINOv2-L hf:facebook/dinov2-large. Which SigLIP2 checkpoint the paper used is not stated in its text: "
          "the preset uses the so400m/14 at 384 px.")

INSTANTID = Preset(
    "instantid", "ArcFace (antelopev2) cosine of the largest face, as InstantID, PhotoMaker and PuLID report",
    source="InstantID (Wang et al., 2024), Sec. 4: face similarity with insightface antelopev2",
    encoders=("arcface:antelopev2",), protocols=("similarity",),
    options={"similarity": {"faces": "largest", "no_face": "skip"}}, metrics=("face_cos",),
    notes="The tables show face_cos (the raw cosine, as these papers report) with the face-found rate; check each "
          "paper's no-face rule (most leave faceless images out).")

CONSISID = Preset(
    "consisid", "ConsisID's FaceSim-Arc: max(0, ArcFace cosine) of the largest faces, detection retried on a padded "
                "canvas, faceless images left out",
    source="ConsisID (Yuan et al., 2025), evaluation code: FaceSim-Arc with antelopev2, padded retry",
    encoders=("arcface:antelopev2",), protocols=("similarity",),
    options={"similarity": {"faces": "largest", "no_face": "skip", "face_pad_retry": 0.25}}, metrics=("facesim",),
    notes="FaceSim-Cur (CurricularFace) needs a model not packaged offline: not in the preset.")

WITHANYONE = Preset(
    "withanyone", "WithAnyone / MultiID-Bench: ArcFace similarity and copy-paste of the largest faces",
    source="WithAnyone (2025), MultiID-Bench: sim and copy_geo with antelopev2",
    encoders=("arcface:antelopev2",), protocols=("similarity",),
    options={"similarity": {"faces": "largest", "no_face": "skip"}}, metrics=("face_cos", "copy_paste"),
    notes="Name the reference given to the generator in an input_reference column for copy-paste. MultiID-Bench leaves "
          "the metrics undefined for an image without a face: the preset leaves such images out (no_face = skip).")

FPR = Preset(
    "fpr", "Finer-Personalization Rank: retrieval against the labelled gallery per level, with DINOv2-base",
    source="Finer-Personalization Rank: DINOv2-base backbone, CLS token, all label levels",
    encoders=("hf:facebook/dinov2-base",), protocols=("retrieval", "rca"))
