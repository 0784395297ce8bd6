"""Presets: a benchmark's own scoring settings, by name (``idbench run --preset NAME``, ``preset =
"NAME"`` in a study file, ``Study(preset=...)``).

A preset sets the encoders (with the benchmark's preprocessing and pooling), the protocols, the
protocols' options (pairing, face rules) and lists the numbers the papers report. Anything given
explicitly (a flag, a study-file key, an option) wins over the preset, and the study records which
settings differ from it (``sections.study.preset``). ``idbench presets`` lists them.

Scale: idbench reports cosines x 1; papers that report x 100 (DreamBench++) are noted per preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from idbench.registry import did_you_mean

_TV = "resize=256,crop=224,interp=bicubic,norm=imagenet"


@dataclass(frozen=True)
class Published:
    what: str  # the row: "real images", "DreamBooth (Stable Diffusion)"
    metric: str  # the column, as the paper names it
    value: float
    source: str


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    source: str  # the benchmark code (file, function) or the paper section the settings follow
    encoders: tuple[str, ...]
    protocols: tuple[str, ...] | None = None
    options: dict = field(default_factory=dict)
    scale: str = "x1"
    published: tuple[Published, ...] = ()
    notes: str = ""


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("dreambooth", "DreamBooth's DINO and CLIP-I (mean cosine over all the subject's references) and CLIP-T",
           "Ruiz et al., DreamBooth (CVPR 2023), Sec. 4.1 and Table 1: DINO ViT-S/16, CLIP ViT-B/32",
           (f"hf:facebook/dino-vits16#{_TV}", "hf:openai/clip-vit-base-patch32"), ("similarity",),
           {"similarity": {"pairing": "all"}}, "x1",
           (Published("real images", "DINO", 0.774, "DreamBooth, Table 1"),
            Published("real images", "CLIP-I", 0.885, "DreamBooth, Table 1"),
            Published("DreamBooth (Stable Diffusion)", "DINO", 0.668, "DreamBooth, Table 1"),
            Published("DreamBooth (Stable Diffusion)", "CLIP-I", 0.803, "DreamBooth, Table 1"),
            Published("DreamBooth (Stable Diffusion)", "CLIP-T", 0.305, "DreamBooth, Table 1")),
           "The paper does not state DINO's preprocessing; the preset uses torchvision's standard Resize(256, "
           "bicubic), CenterCrop(224), ImageNet normalisation."),
    Preset("dreambench", "The DreamBench dataset (google/dreambooth: 30 subjects, 25 prompts) scored as later papers "
           "do: DINO, CLIP-I over all references, CLIP-T",
           "google/dreambooth dataset/prompts_and_classes.txt; metrics as DreamBooth, Sec. 4.1",
           (f"hf:facebook/dino-vits16#{_TV}", "hf:openai/clip-vit-base-patch32"), ("similarity",),
           {"similarity": {"pairing": "all"}}, "x1",
           (Published("real images", "DINO", 0.774, "DreamBooth, Table 1"),
            Published("real images", "CLIP-I", 0.885, "DreamBooth, Table 1"))),
    Preset("dreambench++", "DreamBench++'s DINO v1 (ViT-S/8), DINOv2-small and CLIP ViT-B/32 scores, each generation "
           "paired with the source image it was given",
           "yuangpeng/dreambench_plus: dreambench_plus/metrics/dino_score.py (DinoScore: torch hub dino_vits8, "
           "Resize(256, bicubic), CenterCrop(224), ImageNet mean/std, CLS after the final norm; Dinov2Score: "
           "facebook/dinov2-small with its BitImageProcessor, CLS of last_hidden_state) and metrics/clip_score.py "
           "(openai/clip-vit-base-patch32 through CLIPProcessor)",
           (f"hf:facebook/dino-vits8#{_TV}", "hf:facebook/dinov2-small", "hf:openai/clip-vit-base-patch32"),
           ("similarity",), {"similarity": {"pairing": "source"}}, "x100 in the paper (idbench shows x1)",
           notes="The hub repo facebook/dino-vits8 ships a processor that squashes images to 224 x 224; the preset "
                 "uses DreamBench++'s torchvision pipeline instead (the two differ by several points x100)."),
    Preset("instantid", "ArcFace (antelopev2) cosine of the largest face, as InstantID, PhotoMaker and PuLID report",
           "InstantID (Wang et al., 2024), Sec. 4: face similarity with insightface antelopev2",
           ("arcface:antelopev2",), ("similarity",), {"similarity": {"faces": "largest", "no_face": "skip"}}, "x1",
           notes="Read face_cos; check each paper's no-face rule (most leave faceless images out)."),
    Preset("consisid", "ConsisID's FaceSim-Arc: max(0, ArcFace cosine) of the largest faces, detection retried on a "
           "padded canvas, faceless images left out",
           "ConsisID (Yuan et al., 2025), evaluation code: FaceSim-Arc with antelopev2, padded retry",
           ("arcface:antelopev2",), ("similarity",),
           {"similarity": {"faces": "largest", "no_face": "skip", "face_pad_retry": 0.25}}, "x1",
           notes="FaceSim-Cur (CurricularFace) needs a model not packaged offline: not in the preset."),
    Preset("withanyone", "WithAnyone / MultiID-Bench: ArcFace similarity and copy-paste of the largest faces",
           "WithAnyone (2025), MultiID-Bench: sim and copy_geo with antelopev2",
           ("arcface:antelopev2",), ("similarity",), {"similarity": {"faces": "largest"}}, "x1",
           notes="Name the reference given to the generator in an input_reference column for copy-paste."),
    Preset("fpr", "Finer-Personalization Rank: retrieval against the labelled gallery per level, with DINOv2-base",
           "Finer-Personalization Rank: DINOv2-base backbone, CLS token, all label levels",
           ("hf:facebook/dinov2-base",), ("retrieval", "rca"), {}, "x1"),
)}


def available_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; available: "
                         f"{', '.join(PRESETS)}") from None


def presets_markdown() -> str:
    """``docs/presets.md``'s table part (a test keeps the page equal to it)."""
    out = []
    for p in PRESETS.values():
        out.append(f"## `{p.name}`\n\n{p.description}.\n")
        out.append(f"- Source: {p.source}.")
        out.append(f"- Encoders: {', '.join(f'`{e}`' for e in p.encoders)}.")
        if p.protocols:
            out.append(f"- Protocols: {', '.join(p.protocols)}.")
        for proto, opts in p.options.items():
            out.append(f"- `[options.{proto}]`: " + ", ".join(f"`{k} = {v!r}`" for k, v in opts.items()) + ".")
        out.append(f"- Scale: {p.scale}.")
        if p.notes:
            out.append(f"- Note: {p.notes}")
        if p.published:
            out.append("\n| published | metric | value | source |\n|---|---|---|---|")
            out += [f"| {x.what} | {x.metric} | {x.value:.3f} | {x.source} |" for x in p.published]
        out.append("")
    return "\n".join(out)
