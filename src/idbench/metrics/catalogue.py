"""The metric catalogue: one table of every metric idbench can write.

Each entry holds the metric's id, the name a person reads, its definition, direction, range,
chance level or baseline, the paper it comes from and the function that computes it. The console,
the paper tables, the report and summary.json take names and descriptions from here, and
``idbench metrics`` prints it; ``docs/metrics.md`` is generated from it (a test keeps them equal).

A per-image column is named ``<id>[:<level>][<encoder>]``, e.g. ``cos[effnet-lite0]``,
``ap:subject[effnet-lite0]``; :class:`MetricId` reads and writes that form.

>>> m = MetricId.parse("ap:subject[effnet-lite0]")
>>> (m.id, m.level, m.encoder, m.label)
('ap', 'subject', 'effnet-lite0', 'mAP (subject)')
>>> str(m)
'ap:subject[effnet-lite0]'
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    id: str
    name: str
    definition: str
    higher_is_better: bool
    range: str
    baseline: str
    source: str
    function: str
    protocol: str
    per_image: bool = True  # a column of per_image.csv (else a figure of a protocol's section)

    @property
    def rate(self) -> bool:
        """A per-image 0/1 score (or a mean of them): its mean is a proportion, whose interval must
        also reflect the number of images (Wilson), not only the spread between subjects."""
        return self.range in ("{0, 1}", "[0, 1] (share of probes)")


_S, _R, _C, _N, _F, _D = "similarity", "retrieval", "rca", "nearid", "face", "distribution"
_L = "learned"
_RET = "idbench.metrics.retrieval.retrieval_metrics"
_BASE = ("rows beside the methods: real (each reference against the subject's other references) and impostor (other "
         "subjects' references, same class first)")

CATALOGUE: tuple[MetricSpec, ...] = (
    MetricSpec("cos", "cosine to references", "mean over the subject's references r of cos(e(g), e(r)); "
               "CLIP-I or DINO when the encoder is CLIP or DINO", True, "[-1, 1]",
               _BASE, "DreamBooth (Ruiz et al., 2023)",
               "idbench.metrics.similarity.mean_cosine_to_references", _S),
    MetricSpec("clip_t", "CLIP-T", "cos(text embedding of the prompt with the class noun, image embedding)", True,
               "[-1, 1]", "none", "DreamBooth (Ruiz et al., 2023)", "idbench.metrics.text.clip_t", "text"),
    MetricSpec("prompt_ok", "prompt gate", "1 if CLIP-T > mean + 2 std of the CLIP-T of the subject's references "
               "(which do not show the prompt), else 0", True, "{0, 1}", "none", "Stellar (Achlioptas et al., 2023)",
               "idbench.metrics.text.prompt_gate", "text"),
    MetricSpec("ips", "IPS", "mean over the subject's references of the best face-pair cosine (Stellar's identity "
               "preservation); an image with no face scores 0 or is left out (no_face option)", True, "[-1, 1]",
               _BASE, "Stellar (Achlioptas et al., 2023)",
               "idbench.metrics.similarity.ips_and_sis", _F),
    MetricSpec("sis", "SIS", "minimum over the subject's references of the best face-pair cosine (stability of "
               "identity)", True, "[-1, 1]", _BASE, "Stellar (Achlioptas et al., 2023)",
               "idbench.metrics.similarity.ips_and_sis", _F),
    MetricSpec("face_found", "face found", "1 if the face encoder found a face in the generated image (mean: the "
               "face-found rate)", True, "{0, 1}", "none", "idbench", "idbench.protocols.similarity", _F),
    MetricSpec("face_cos", "face cosine", "cosine of the largest generated face and the input reference's largest "
               "face", True, "[-1, 1]", _BASE, "ConsisID (Yuan et al., 2025)",
               "idbench.metrics.similarity.facesim", _F),
    MetricSpec("face_cos_gt", "face cosine to ground truth", "faces of the generation matched one-to-one "
               "(Hungarian) to the ground-truth photo's faces, mean matched cosine (MultiID-Bench sim_ori)", True,
               "[-1, 1]", _BASE, "WithAnyone (2025)", "idbench.metrics.similarity.matched_face_cosines", _F),
    MetricSpec("facesim", "FaceSim", "max(0, face cosine)", True, "[0, 1]", _BASE,
               "ConsisID (Yuan et al., 2025)", "idbench.metrics.similarity.facesim", _F),
    MetricSpec("copy_paste", "copy-paste", "mean over the other references t of (angle(g, t) - angle(g, r)) / "
               "angle(t, r), r the input reference: +1 copies the input, -1 resembles the other photos", False,
               "[-1, 1]", "0: neutral", "WithAnyone (2025)", "idbench.metrics.similarity.copy_paste", _F),
    MetricSpec("dreamsim", "DreamSim similarity", "mean over the subject's references r of 1 - DreamSim distance "
               "(g, r) = cosine of the DreamSim embeddings (Stellar reports the distance, lower better)", True,
               "[-1, 1]", _BASE, "DreamSim (Fu et al., 2023)", "idbench.encoders.dreamsim_encoder.DreamSimEncoder", _S),
    MetricSpec("judge_concept", "judge: concept", "a VLM judge's 0-4 score of how well the generation preserves the "
               "subject of its source image, divided by 4 (DreamBench++'s concept preservation; the mean over "
               "--judge-samples answers)", True, "[0, 1]", _BASE + " (judged as the generations are)",
               "DreamBench++ (Peng et al., 2025)", "idbench.judge.run.score_with_judge", "judge"),
    MetricSpec("judge_prompt", "judge: prompt", "a VLM judge's 0-4 score of how well the generation follows its "
               "prompt, divided by 4 (DreamBench++'s prompt following; the mean over --judge-samples answers)", True,
               "[0, 1]", "none", "DreamBench++ (Peng et al., 2025)", "idbench.judge.run.score_with_judge", "judge"),
    MetricSpec("pickscore", "PickScore", "logit scale x cos(prompt, image) of the PickScore CLIP-H/14 "
               "(yuvalkirstain/PickScore_v1)", True, "about 0-30 (logit scale 100 x cosine)", "none",
               "Pick-a-Pic (Kirstain et al., 2023)", "idbench.encoders.pickscore.PickScore", _L),
    MetricSpec("hpsv2", "HPSv2", "cos(prompt, image) of the HPSv2 open_clip ViT-H-14 (hpsv2.score)", True,
               "[-1, 1] (about 0.2-0.3)", "none", "HPSv2 (Wu et al., 2023)",
               "idbench.encoders.hps.HPSv2", _L),
    MetricSpec("hpsv1", "HPSv1", "cos(prompt, image) of CLIP ViT-L/14 fine-tuned on human choices (hpc.pt)", True,
               "[-1, 1] (about 0.2)", "none", "HPS (Wu et al., 2023)", "idbench.encoders.hps.HPSv1", _L),
    MetricSpec("imagereward", "ImageReward", "the BLIP reward model's score of the prompt and image, standardised "
               "by its training mean and std (ImageReward.score)", True, "about -2 to 2 (standardised)", "none",
               "ImageReward (Xu et al., 2023)", "idbench.encoders.imagereward.ImageRewardScore", _L),
    MetricSpec("aesthetic", "aesthetic", "the LAION aesthetic predictor's MLP on the L2-normalised CLIP ViT-L/14 "
               "image embedding (no prompt)", True, "about 1-10", "none", "LAION improved-aesthetic-predictor",
               "idbench.encoders.aesthetic.AestheticScore", _L),
    MetricSpec("ap", "mAP", "average precision of the gallery ranking for the query: (1/N) sum_k k / r_k over the "
               "ranks r_k of the N relevant items; mean over queries = mAP", True, "[0, 1]",
               "chance: exact expected AP of a random ranking of this gallery", "Finer-Personalization Rank",
               "idbench.metrics.retrieval.average_precision", _R),
    MetricSpec("cmc@1", "R@1", "1 if the top-ranked gallery item has the query's label (CMC@1, Recall@1)", True,
               "{0, 1}", "chance: exact expected CMC@1 of a random ranking", "Finer-Personalization Rank",
               "idbench.metrics.retrieval.cmc_at_k", _R),
    MetricSpec("cmc@5", "R@5", "1 if one of the 5 top-ranked gallery items has the query's label", True, "{0, 1}",
               "chance: exact expected CMC@5 of a random ranking", "Finer-Personalization Rank",
               "idbench.metrics.retrieval.cmc_at_k", _R),
    MetricSpec("cmc@10", "R@10", "1 if one of the 10 top-ranked gallery items has the query's label", True, "{0, 1}",
               "chance: exact expected CMC@10 of a random ranking", "Finer-Personalization Rank",
               "idbench.metrics.retrieval.cmc_at_k", _R, False),
    MetricSpec("p@1", "P@1", "precision at 1: 1 if r_1 = 1", True, "{0, 1}", "chance: as R@1",
               "Finer-Personalization Rank", "idbench.metrics.retrieval.precision_at_1", _R, False),
    MetricSpec("rr", "MRR", "reciprocal rank 1 / r_1 of the first relevant item; mean over queries = MRR", True,
               "(0, 1]", "none", "Finer-Personalization Rank", "idbench.metrics.retrieval.reciprocal_rank", _R, False),
    MetricSpec("r_precision", "R-precision", "share of the N relevant items ranked within the top N", True,
               "[0, 1]", "none", "Musgrave et al., 2020", "idbench.metrics.retrieval.r_precision", _R, False),
    MetricSpec("map@r", "mAP@R", "(1/N) sum over relevant items ranked within the top N of k / r_k", True, "[0, 1]",
               "none", "Musgrave et al., 2020", "idbench.metrics.retrieval.map_at_r", _R, False),
    MetricSpec("avg_cos", "mean cosine to relevant", "mean cosine of the query to the relevant gallery items", True,
               "[-1, 1]", "none", "Finer-Personalization Rank", _RET, _R, False),
    MetricSpec("relative_map", "gen/real mAP", "generated mAP / the real references' mAP against the same gallery",
               True, "[0, ~1]", "1: as retrievable as real photos", "Finer-Personalization Rank",
               "idbench.protocols.retrieval.rank_protocol", _R, False),
    MetricSpec("top1", "RCA top-1 (Acc_gen)", "share of the cross-fitted oracle's fold probes that name the "
               "conditioning identity (0/1 for a copy of a training image, scored by one probe); mean = Acc_gen", True,
               "[0, 1] (share of probes)", "chance: 1/K for K identities", "RCA (Relative Classification Accuracy)",
               "idbench.metrics.rca.relative_classification_accuracy", _C),
    MetricSpec("acc_real", "Acc_real", "the cross-fitted oracle's top-1 accuracy on real images, each predicted by the fold "
               "probe that did not see it", True, "[0, 1]",
               "chance: 1/K", "RCA (Relative Classification Accuracy)", "idbench.metrics.rca.fit_oracle", _C, False),
    MetricSpec("rca", "RCA", "Acc_gen / Acc_real", True, "[0, ~1]", "1: as recognisable as real photos",
               "RCA (Relative Classification Accuracy)", "idbench.metrics.rca.relative_classification_accuracy", _C,
               False),
    MetricSpec("ssr", "SSR", "share of samples whose every margin sim(view_i, view_j) - sim(view_i, distractor_i) "
               "is > 0", True, "[0, 1]", "none (strict)", "NearID", "idbench.metrics.nearid.ssr_pa", _N, False),
    MetricSpec("pa", "PA", "share of winning margins over all samples", True, "[0, 1]", "chance: 0.5", "NearID",
               "idbench.metrics.nearid.ssr_pa", _N, False),
    MetricSpec("fid", "FID", "Frechet distance between Gaussians fitted to real and generated features", False,
               "[0, inf)", "0: same distribution", "Heusel et al., 2017", "idbench.metrics.distribution.frechet_distance",
               _D, False),
    MetricSpec("kid", "KID", "unbiased polynomial-kernel MMD^2, mean over subsets", False, "about 0 and up",
               "0: same distribution", "Binkowski et al., 2018",
               "idbench.metrics.distribution.kernel_inception_distance", _D, False),
    MetricSpec("goa", "GOA", "mean over the prompt's objects of the detector's highest score", True, "[0, 1]", "none",
               "Stellar (Achlioptas et al., 2023)", "idbench.metrics.grounding.goa_from_scores", "grounding"),
    MetricSpec("rfs", "RFS (approx.)", "CLIP softmax probability of the true relation against contrast relations "
               "(an approximation: Stellar's RFS has no public code)", True, "[0, 1]", "chance: 1 / number of "
               "relations", "Stellar (Achlioptas et al., 2023)", "idbench.metrics.relation.rfs_for_images", "relation"),
    MetricSpec("aps", "APS", "balanced accuracy of attribute probes on generated faces against the subject's "
               "attributes, mean over attributes", True, "[0, 1]", "chance: 0.5", "Stellar (Achlioptas et al., 2023)",
               "idbench.metrics.attributes.attribute_preservation", _F, False),
)

_BY_ID = {m.id: m for m in CATALOGUE}
_COLUMN = re.compile(r"^(?P<id>[^:\[\]]+)(?::(?P<level>[^\[\]]+))?(?:\[(?P<encoder>.*)\])?$")


def register_spec(spec: MetricSpec) -> None:
    """Add a plug-in's catalogue entry (a protocol's ``catalogue``, registered when the protocol is
    loaded). An id already in the catalogue with another definition is refused: one definition per
    metric."""
    have = _BY_ID.get(spec.id)
    if have is not None and have != spec:
        raise ValueError(f"metric id {spec.id!r} is already in the catalogue ({have.source}); a plug-in names its "
                         "metrics with ids of its own")
    _BY_ID[spec.id] = spec


def all_specs() -> list[MetricSpec]:
    """Every catalogue entry: idbench's own, then those of plug-ins loaded so far."""
    return list(_BY_ID.values())


def metric_spec(metric_id: str) -> MetricSpec | None:
    """The catalogue entry of an id (``"ap"``) or a column name (``"ap:subject[effnet-lite0]"``)."""
    return _BY_ID.get(MetricId.parse(metric_id).id)


@dataclass(frozen=True)
class MetricId:
    """A per-image column name, read into its parts (never sliced as a string)."""

    id: str
    level: str | None = None
    encoder: str | None = None

    @classmethod
    def parse(cls, column: str) -> "MetricId":
        m = _COLUMN.match(column)
        if m is None:
            return cls(column)
        return cls(m["id"], m["level"], m["encoder"])

    def __str__(self) -> str:
        return self.id + (f":{self.level}" if self.level else "") + (f"[{self.encoder}]" if self.encoder else "")

    @property
    def spec(self) -> MetricSpec | None:
        return _BY_ID.get(self.id)

    @property
    def label(self) -> str:
        """The name a person reads: ``"mAP (subject)"``; an unknown id is shown as written."""
        base = self.spec.name if self.spec else self.id
        return f"{base} ({self.level})" if self.level else base


def catalogue_markdown() -> str:
    """The catalogue as the Markdown table of ``docs/metrics.md``."""
    head = "| id | name | definition | better | range | chance / baseline | source | computed by |\n"
    head += "|---|---|---|---|---|---|---|---|\n"
    rows = "".join(f"| `{m.id}` | {m.name} | {m.definition} | {'higher' if m.higher_is_better else 'lower'} | "
                   f"{m.range} | {m.baseline} | {m.source} | `{m.function}` |\n" for m in CATALOGUE)
    return head + rows


def is_paper_metric(paper_name: str, column: str) -> bool:
    """Whether a study's metric column is what a paper calls ``paper_name`` (DINO, CLIP-I, IPS, ...): the
    catalogue id, and for cosines the encoder family (DINO v1, not DINOv2; CLIP).

    >>> is_paper_metric("CLIP-I", "cos[hf:openai/clip-vit-base-patch32]"), is_paper_metric("DINO", "cos[hf:facebook/dinov2-small]")
    (True, False)
    """
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


def published_agreement(preset, column: str) -> float | None:
    """The paper's agreement with human ratings (a ``kind="agreement"`` figure of a study's preset record,
    :class:`idbench.results.PresetRecord`, or None) for a metric column of this study, matched by the
    paper's metric name (:func:`is_paper_metric`)."""
    for p in preset.published if preset is not None else ():
        if p.kind == "agreement" and is_paper_metric(p.metric, column):
            return p.value
    return None
