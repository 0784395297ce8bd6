"""Presets: a benchmark's own scoring settings, by name (``idbench run --preset NAME``, ``preset =
"NAME"`` in a study file, ``Study(preset=...)``).

A preset sets the encoders (with the benchmark's preprocessing and pooling), the protocols, the
protocols' options (pairing, face rules) and lists the numbers the papers report. Anything given
explicitly (a flag, a study-file key, an option) wins over the preset, and the study records which
settings differ from it (``sections.study.preset``). ``idbench presets`` lists them.

Scale: per_image.csv and summary.json hold cosines x 1 always; a preset whose paper shows them x 100
(DreamBench++) has ``scale = 100``, and the console, the report and the paper tables then show every
cosine-like column x 100, saying so in the header (:func:`idbench.report.tables.display_scale`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from idbench.registry import Registry, UnknownPluginError


@dataclass(frozen=True)
class Published:
    what: str  # the row: "real images", "DreamBooth (Stable Diffusion)"
    metric: str  # the column, as the paper names it
    value: float
    source: str
    kind: str = "score"  # "score": a reference row under the metric; "agreement": correlation with people


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    source: str  # the benchmark code (file, function) or the paper section the settings follow
    encoders: tuple[str, ...]
    protocols: tuple[str, ...] | None = None
    options: dict = field(default_factory=dict)
    scale: int = 1  # the paper's display scale of cosine-like scores (DreamBench++: 100)
    published: tuple[Published, ...] = ()
    notes: str = ""
    metrics: tuple[str, ...] = ()  # catalogue ids the paper reports: the tables show these (empty: all)


#: Presets are plug-ins (entry-point group ``idbench.presets``, an entry naming a :class:`Preset`):
#: idbench's own are declared in its pyproject.toml (``idbench.preset_defs``), a benchmark's package
#: declares its own the same way.
PRESETS = Registry("idbench.presets", "preset")
_ORDER = ("dreambooth", "dreambench", "dreambench++", "stellar", "nearid", "instantid", "consisid", "withanyone", "fpr")


def available_presets() -> list[str]:
    """Preset names: idbench's own in the order of the docs, then any other installed ones."""
    names = PRESETS.names()
    return [n for n in _ORDER if n in names] + [n for n in names if n not in _ORDER]


def all_presets() -> dict[str, Preset]:
    return {n: get_preset(n) for n in available_presets()}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS.get(name)
    except UnknownPluginError as e:
        raise ValueError(str(e)) from None


def is_paper_metric(paper_name: str, column: str) -> bool:
    """Whether a study's metric column is what a paper calls ``paper_name`` (DINO, CLIP-I, IPS, ...): the
    catalogue id, and for cosines the encoder family (DINO v1, not DINOv2; CLIP).

    >>> is_paper_metric("CLIP-I", "cos[hf:openai/clip-vit-base-patch32]"), is_paper_metric("DINO", "cos[hf:facebook/dinov2-small]")
    (True, False)
    """
    from idbench.metrics.catalogue import MetricId

    want = _PAPER_METRICS.get(paper_name)
    if want is None:
        return False
    mid = MetricId.parse(column)
    enc = (mid.encoder or "").lower()
    return mid.id == want[0] and want[1] in enc and not (want == ("cos", "dino") and "v2" in enc)


#: a paper's metric name -> (catalogue id, a word its encoder's name contains)
_PAPER_METRICS = {"DINO": ("cos", "dino"), "CLIP-I": ("cos", "clip"), "CLIP-T": ("clip_t", "clip"),
                  "IPS": ("ips", ""), "SIS": ("sis", ""), "APS": ("aps", ""), "Aesthetic": ("aesthetic", ""),
                  "ImageReward": ("imagereward", ""), "HPSv1": ("hpsv1", ""), "DreamSim": ("dreamsim", ""),
                  "PickScore": ("pickscore", ""), "HPSv2": ("hpsv2", ""), "RFS": ("rfs", ""), "GOA": ("goa", "")}


def published_agreement(preset: dict | None, column: str) -> float | None:
    """The paper's agreement with human ratings (a preset's ``kind="agreement"`` figure) for a metric
    column of this study, matched by the paper's metric name (:func:`is_paper_metric`)."""
    for p in (preset or {}).get("published") or []:
        if p.get("kind") == "agreement" and is_paper_metric(p["metric"], column):
            return p["value"]
    return None


def presets_markdown() -> str:
    """``docs/presets.md``'s table part (a test keeps the page equal to it)."""
    out = []
    for p in all_presets().values():
        out.append(f"## `{p.name}`\n\n{p.description}.\n")
        out.append(f"- Source: {p.source}.")
        out.append(f"- Encoders: {', '.join(f'`{e}`' for e in p.encoders)}.")
        if p.protocols:
            out.append(f"- Protocols: {', '.join(p.protocols)}.")
        if p.metrics:
            out.append(f"- Columns shown (as the paper reports): {', '.join(f'`{m}`' for m in p.metrics)}; "
                       "per_image.csv has every column.")
        for proto, opts in p.options.items():
            out.append(f"- `[options.{proto}]`: " + ", ".join(f"`{k} = {v!r}`" for k, v in opts.items()) + ".")
        out.append(f"- Scale: x {p.scale} (cosine-like scores in tables; per_image.csv and summary.json stay x 1).")
        if p.notes:
            out.append(f"- Note: {p.notes}")
        if p.published:
            out.append("\n| published | metric | value | source |\n|---|---|---|---|")
            out += [f"| {x.what} | {x.metric} | {x.value:.3f} | {x.source} |" for x in p.published]
            if any(x.kind == "agreement" for x in p.published):
                out.append("\n`idbench agree` on a study run with this preset shows these figures beside its own.")
        out.append("")
    return "\n".join(out)
