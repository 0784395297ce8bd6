"""`evaluate`: similarity-to-reference metrics per method, subject and image.

Takes records and encoders (data, not paths) and returns a :class:`~idbench.results.Results`:

* image encoders: ``cos[<encoder>]`` -- mean cosine to the subject's references (CLIP-I / DINO
  style, named after the encoder so a CLIP-I number is never confused with a DINO number);
* face encoders: ``ips[<encoder>]`` and ``sis[<encoder>]`` (Stellar), ``face_cos`` / ``facesim``
  (ConsisID's FaceSim, raw and clipped at 0), ``copy_paste`` (WithAnyone) and ``face_found``,
  under one :class:`FacePolicy` (no-face rule and which faces count).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from idbench.baselines import BaselineEntry, BaselinesSection, Estimate
from idbench.cache.store import EmbeddingCache
from idbench.data.problems import ProblemLog
from idbench.data.records import GenerationSet, ReferenceSet
from idbench.embed import embed_records
from idbench.encoders.base import Encoder
from idbench.judge.run import JudgeSection
from idbench.metrics.similarity import mean_cosine_to_references
from idbench.results import Results
from idbench.section import Section, validate


@dataclass(kw_only=True)
class Gate:
    """The prompt gate: images failing it score 0 in the zeroed metrics (Stellar's tables)."""

    column: str
    zeroed: list[str] = field(default_factory=list)
    n_images_failing: int = 0
    rule: str = ""


@dataclass(kw_only=True)
class Unit:
    """The unit a row scores when it is not an image (a video: the mean over its sampled frames)."""

    unit: str = "video"
    n_videos: int = 0
    rule: str = ""


@dataclass(kw_only=True)
class SimilaritySection(Section):
    """``sections.similarity``: the references each subject is scored against (the report's examples),
    how copies are scored, the prompt gate and the scoring unit."""

    NAME = "similarity"
    reference_paths: dict[str, list[str]] = field(default_factory=dict)  # subject -> its first references
    leave_one_out: str = ""
    gate: Gate | None = None
    unit: Unit | None = None


@dataclass(kw_only=True)
class FacePolicyRecord:
    no_face: str = "zero"
    faces: str = "best"


@dataclass(kw_only=True)
class MethodFaces:
    n_images: int = 0
    detection_failure_rate: float | None = None


@dataclass(kw_only=True)
class FaceFigures:
    """One face encoder: its policy, how failures enter the means, the boxes it found (for the report's
    examples), its detection failures per method, and the real and impostor levels of its scores."""

    policy: FacePolicyRecord = field(default_factory=FacePolicyRecord)
    how_failures_enter_means: str = ""
    reference_images_without_face: int = 0
    boxes: dict[str, list[list[float]]] = field(default_factory=dict)  # image id -> (left, top, right, bottom) boxes
    reference_boxes: dict[str, list[list[float]]] = field(default_factory=dict)  # reference path -> boxes
    methods: dict[str, MethodFaces] = field(default_factory=dict)
    real: dict[str, Estimate | None] = field(default_factory=dict)  # score (ips, sis, ...) -> level
    impostor: dict[str, Estimate | None] = field(default_factory=dict)
    impostor_from: str = ""


@dataclass(kw_only=True)
class FaceSection(Section):
    """``sections.face``: each face encoder's figures."""

    NAME = "face"
    VERSION = 2  # 1: the encoders at the top level
    encoders: dict[str, FaceFigures] = field(default_factory=dict)

    @classmethod
    def migrate(cls, data, version):
        return {"encoders": {k: v for k, v in data.items() if k != "version"}}


@dataclass(kw_only=True)
class APSSection(Section):
    """``sections.aps``: Stellar's attribute preservation per method (per attribute, and the mean)."""

    NAME = "aps"
    attributes: list[str] = field(default_factory=list)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> {"aps", "per_attribute", "n_faces"}


def evaluate_similarity(
    references: ReferenceSet,
    generations: GenerationSet,
    encoders: Sequence[Encoder],
    *,
    cache: EmbeddingCache | None = None,
    problems: ProblemLog | None = None,
    progress: bool = True,
    batch_size: int = 32,
    results: Results | None = None,
    face_policy: FacePolicy | None = None,
    text: bool = True,
    content=None,
    n_resamples: int = 2000,
    seed: int = 0,
    pairing: str = "all",
    copies: str = "leave_one_out",
    ref_pad_square: float = 0.0,
    prompt_subject: str | None = None,
    identity_pairing: str = "references",
    gate: str = "references",
    gate_zero: Sequence[str] = (),
) -> Results:
    """Score every generated image against its subject's references with each encoder.

    ``pairing="source"`` (DreamBench++): an image encoder's cosine compares each generation with the
    one source image it was given only (the ``source_image`` a layout records, else its
    ``input_reference``), instead of the mean over all its subject's references.

    Leave-one-out for copies (``copies="leave_one_out"``, the default): a generation that copies (or
    nearly copies) one of its subject's references is scored against the subject's *other* references
    (``content``: the study's :class:`~idbench.data.content.ContentAudit`, computed here when not
    given). ``copies="all_references"`` scores it as every other generation, against all the
    references, as the benchmarks' code does: the copy is still flagged (``copy_of``) and kept out of
    rankings, but its number is the benchmark's."""
    if copies not in ("leave_one_out", "all_references"):
        raise ValueError(f"copies must be 'leave_one_out' or 'all_references', got {copies!r}")
    problems = problems if problems is not None else ProblemLog()
    results = results if results is not None else Results(problems=problems)
    if not results.rows:
        from idbench.protocols.common import base_rows

        results.rows = base_rows(generations)
    from idbench.protocols.common import content_audit

    content = content_audit(content, references, generations, results=results, cache=cache, problems=problems)
    rows = results.row_index()
    ref_by_subject = references.by_subject()
    sim = SimilaritySection.ensure(results)
    sim.reference_paths = {subj: [str(r.path) for r in recs[:3]] for subj, recs in ref_by_subject.items()}
    sim.leave_one_out = (
        "a generation that copies or nearly copies one of its subject's references is scored against the subject's "
        "other references (cos, IPS, SIS, FaceSim); copy-paste keeps every reference") if copies == "leave_one_out" \
        else ("copies are flagged and kept out of rankings, but scored against every reference as the benchmark's "
              "code scores them (copies = all_references)")
    own_source = {g.id: c.source.id for g in generations for c in [content.copy_of(g)]
                  if c is not None and c.source_set == "reference" and c.source.subject == g.subject} \
        if copies == "leave_one_out" else {}
    impostors_of = _impostor_subjects(references)
    boot = {"n_resamples": n_resamples, "seed": seed,
            "method_subjects": {m: {g.subject for g in recs} for m, recs in generations.by_method().items()}}
    prompts = filled_prompts(generations, ref_by_subject, prompt_subject)
    sources = _source_records(generations, ref_by_subject) if "source" in (pairing, identity_pairing, gate) else {}
    gate_col = None

    for enc in encoders:
        if enc.kind == "score":
            _score_learned(enc, generations, prompts, rows, results, problems, cache=cache, progress=progress,
                           batch_size=batch_size)
            continue
        ref_enc = enc
        if enc.kind == "face" and ref_pad_square:
            from idbench.encoders.face_retry import PaddedSquare

            ref_enc = PaddedSquare(enc, ref_pad_square)
        emb_ref = embed_records(ref_enc, references.records, cache=cache, problems=problems, progress=progress,
                                batch_size=batch_size, desc=f"references [{enc.name}]")
        emb_gen = embed_records(enc, generations.records, cache=cache, problems=problems, progress=progress,
                                batch_size=batch_size, desc=f"generations [{enc.name}]")
        # the source images' embeddings, once per encoder, for every rule that pairs with the source
        uses_source = (pairing == "source" or gate == "source") if enc.kind == "image" else identity_pairing == "source"
        emb_src = _source_embeddings(enc, sources, emb_ref, cache=cache, problems=problems, progress=progress,
                                     batch_size=batch_size) if uses_source else None
        if enc.kind == "image":
            if pairing == "source":
                _score_against_source(enc, generations, sources, emb_src, emb_gen, rows, results, problems)
            else:
                _score_image_encoder(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems,
                                     own_source)
                _image_baselines(enc, ref_by_subject, emb_ref, impostors_of, results, **boot)
            if text and enc.has_text:
                col = _score_text(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, prompts,
                                  gate=gate, sources=sources, emb_src=emb_src)
                gate_col = gate_col or col
        else:
            policy = face_policy or FacePolicy()
            ref_faces = _reference_faces(ref_by_subject, emb_ref, policy)
            _score_face_encoder(enc, generations, ref_by_subject, ref_faces, emb_ref, emb_gen, rows, results, problems,
                                policy, own_source)
            if identity_pairing == "source":
                _score_ips_against_source(enc, generations, ref_by_subject, sources, emb_ref, emb_src, emb_gen, rows,
                                          results, problems, policy)
            if policy.faces == "hungarian":
                _score_matched_faces(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems,
                                     cache=cache, progress=progress, batch_size=batch_size)
            _face_baselines(enc, ref_faces, impostors_of, results, **boot)
    if gate_zero:
        _apply_gate(results, gate_col, gate_zero, problems)
    return results


def _apply_gate(results: Results, gate_col: str | None, zero: Sequence[str], problems) -> None:
    """Stellar's published IPS / SIS: a generation that fails the prompt gate scores 0 in the metrics
    ``zero`` names (analysis/utils.py ``_identity_score``); the gate column says which were zeroed."""
    from idbench.metrics.catalogue import MetricId

    if gate_col is None:
        problems.add("similarity", "no_gate", "gate_zero asks to zero metrics of images that fail the prompt gate, "
                     "but no encoder with a text tower computed the gate; nothing was zeroed", "warning")
        return
    cols = [c for c in results.metrics if MetricId.parse(c).id in zero]
    n = 0
    for row in results.rows:
        if row.get(gate_col) == 0.0:
            for c in cols:
                if c in row:
                    row[c] = 0.0
            n += 1
    SimilaritySection.ensure(results).gate = Gate(
        column=gate_col, zeroed=sorted(set(MetricId.parse(c).id for c in cols)), n_images_failing=n,
        rule="an image failing the prompt gate scores 0 in these metrics (Stellar's published tables)")


def _score_image_encoder(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems,
                         own_source: dict | None = None) -> None:
    name = f"{enc.similarity_metric}[{enc.name}]"
    results.add_metric(name, f"mean cosine similarity to the subject's references ({enc.name} embeddings; "
                             "CLIP-I / DINO style; a copy of a reference is compared with the other references)",
                       encoder=enc.name)
    own_source = own_source or {}
    for g in generations:
        if g.id not in emb_gen:
            continue
        recs = [r for r in ref_by_subject.get(g.subject, []) if r.id in emb_ref and r.id != own_source.get(g.id)]
        if not recs:
            why = ("it copies the subject's only usable reference (leave-one-out leaves none)" if g.id in own_source
                   else f"subject {g.subject!r} has no usable reference image for {enc.name}")
            problems.add(g.path, "no_references", f"{enc.name}: not scored: {why}")
            continue
        refs = np.concatenate([emb_ref[r.id].vectors for r in recs], axis=0)
        rows[(g.method or "", g.id)][name] = float(mean_cosine_to_references(emb_gen[g.id].vectors, refs)[0])


def _source_records(generations, ref_by_subject) -> dict:
    """``{generation id: the record of the source image it was given}``: the layout's ``source_image``,
    else the reference its ``input_reference`` names."""
    from idbench.data.records import ImageRecord

    sources = {}
    for g in generations:
        src = (g.extra or {}).get("source_image")
        if src:
            sources[g.id] = ImageRecord(f"source/{g.id}", Path(src), g.subject)
        else:
            hit = _named_reference(g, ref_by_subject.get(g.subject, []))
            if hit is not None:
                sources[g.id] = hit
    return sources


def _source_embeddings(enc, sources: dict, emb_ref, *, cache, problems, progress, batch_size) -> dict:
    """The references' embeddings, plus those of source images that are not among the references."""
    extra = [r for r in sources.values() if r.id not in emb_ref]
    emb_src = dict(emb_ref)
    if extra:
        emb_src.update(embed_records(enc, extra, cache=cache, problems=problems, progress=progress,
                                     batch_size=batch_size, desc=f"source images [{enc.name}]"))
    return emb_src


def _score_against_source(enc, generations, sources, emb_src, emb_gen, rows, results, problems) -> None:
    """cos(generation, the source image it was given): DreamBench++'s and Stellar's pairing (``sources``
    and ``emb_src``: :func:`_source_records`, :func:`_source_embeddings`)."""
    name = f"{enc.similarity_metric}[{enc.name}]"
    results.add_metric(name, f"cosine to the source image the generation was given ({enc.name}; DreamBench++ pairing)",
                       encoder=enc.name)
    for g in generations:
        src = sources.get(g.id)
        if g.id not in emb_gen:
            continue
        if src is None or src.id not in emb_src:
            problems.add(g.path, "no_source", f"{enc.name}: not scored: the generation names no source image "
                                              "(source_image or input_reference) for pairing = source")
            continue
        rows[(g.method or "", g.id)][name] = float(mean_cosine_to_references(emb_gen[g.id].vectors,
                                                                            emb_src[src.id].vectors)[0])


# ----------------------------------------------------------------------------- baselines: real and impostor


def _impostor_subjects(references):
    """``impostors_of(subject)``: the other subjects of the same class when class labels exist and
    the class has other subjects, else every other subject."""
    classes = {}
    for r in references:
        classes.setdefault(r.subject, r.labels.get("class"))
    subjects = sorted(classes)
    by_class: dict = {}
    for s, c in classes.items():
        by_class.setdefault(c, []).append(s)

    def impostors_of(s):
        same = [t for t in by_class.get(classes.get(s), []) if t != s] if classes.get(s) else []
        return same or [t for t in subjects if t != s]

    impostors_of.rule = ("other subjects of the same class (all other subjects where the class has no other)"
                         if any(classes.values()) else "all other subjects (no class labels: give them in the references "
                                                       "or a gallery to compare with same-class subjects)")
    impostors_of.class_of = classes.get
    return impostors_of


def impostor_pair_counts(items_by_subject: dict, impostors_of) -> dict:
    """How many (probe, target subject) impostor pairs the baseline holds and how many of them cross
    classes (a probe of another class, or of unknown class), so a reader can tell an all-classes level
    from a same-class one."""
    class_of = getattr(impostors_of, "class_of", lambda s: None)
    n = cross = 0
    for s in items_by_subject:
        for t in impostors_of(s):
            k = len(items_by_subject.get(t, []))
            n += k
            if class_of(s) is None or class_of(t) != class_of(s):
                cross += k
    return {"impostor_pairs": n, "impostor_cross_class": cross}


def _baseline_entries(values, subjects, n_resamples: int, seed: int) -> dict | None:
    from idbench.stats.bootstrap import mean_with_interval

    ok = ~np.isnan(values)
    if not ok.any():
        return None
    return {**mean_with_interval(values[ok], subjects[ok], n_resamples=n_resamples, seed=seed), "n_pairs": int(ok.sum())}


def _store_baselines(results, columns: dict[str, int], scores: dict, rule: str, n_resamples: int, seed: int,
                     method_subjects: dict[str, set] | None = None, counts: dict | None = None) -> dict[str, BaselineEntry]:
    """A :class:`~idbench.baselines.BaselineEntry` per column in the baselines section (``real``,
    ``impostor``, ``impostor_from``, ``how`` and the impostor pair ``counts``); when the methods cover
    different subjects, also ``by_method``: each method's levels over its own subjects only (a method
    is compared with the level of the subjects it was scored on)."""
    out = {}
    for col, k in columns.items():
        entry = {"how": "real: each reference scored against the subject's other references; impostor: other "
                        "subjects' references scored against the subject's references; mean over pairs, interval by "
                        "cluster bootstrap over subjects", "impostor_from": rule}
        covered = {str(x) for key in ("genuine", "impostor") for x in scores[key][1]}
        for key, name in (("genuine", "real"), ("impostor", "impostor")):
            vals, subj = scores[key]
            entry[name] = _baseline_entries(vals[:, k], subj, n_resamples, seed) if len(vals) else None
        if method_subjects and any((ms & covered) != covered for ms in method_subjects.values()):
            entry["by_method"] = {}
            for m, ms in method_subjects.items():
                per = {}
                for key, name in (("genuine", "real"), ("impostor", "impostor")):
                    vals, subj = scores[key]
                    mask = np.array([str(x) in ms for x in subj], bool) if len(subj) else np.zeros(0, bool)
                    per[name] = _baseline_entries(vals[mask, k], subj[mask], n_resamples, seed) if mask.any() else None
                entry["by_method"][m] = per
        entry.update(counts or {})
        out[col] = BaselinesSection.ensure(results).columns[col] = validate(BaselineEntry, entry,
                                                                               where=f"sections.baselines.{col}")
    return out


def _image_baselines(enc, ref_by_subject, emb_ref, impostors_of, results, *, n_resamples, seed,
                     method_subjects=None) -> None:
    from idbench.metrics.similarity import genuine_and_impostor

    items = {s: [emb_ref[r.id].vectors for r in recs if r.id in emb_ref] for s, recs in ref_by_subject.items()}
    items = {s: v for s, v in items.items() if v}
    scores = genuine_and_impostor(items, lambda p, ts: (float(mean_cosine_to_references(p, np.concatenate(ts))[0]),),
                                  impostors_of)
    _store_baselines(results, {f"{enc.similarity_metric}[{enc.name}]": 0}, scores, impostors_of.rule, n_resamples,
                     seed, method_subjects, impostor_pair_counts(items, impostors_of))


def _reference_faces(ref_by_subject, emb_ref, policy) -> dict[str, list[tuple]]:
    """``{subject: [(reference, the faces the policy compares, the largest face)]}``, references with a face."""
    from idbench.metrics.similarity import select_faces

    out: dict[str, list[tuple]] = {}
    for subject, recs in ref_by_subject.items():
        for r in recs:
            emb = emb_ref.get(r.id)
            if emb is not None and emb.n > 0:
                out.setdefault(subject, []).append((r, select_faces(emb.vectors, emb.boxes, policy.faces),
                                                    select_faces(emb.vectors, emb.boxes, "largest")[0]))
    return out


def _face_baselines(enc, ref_faces, impostors_of, results, *, n_resamples, seed, method_subjects=None) -> None:
    """IPS, SIS and FaceSim of real and impostor references (references with a face only)."""
    from idbench.metrics.similarity import facesim, genuine_and_impostor, ips_and_sis

    items = {s: [(f, lf) for _, f, lf in faces] for s, faces in ref_faces.items()}

    def score(probe, targets):
        ips, sis = ips_and_sis(probe[0], [t[0] for t in targets])
        cos, sim = facesim(probe[1], targets[0][1])
        return ips, sis, cos, sim

    e = enc.name
    scores = genuine_and_impostor(items, score, impostors_of)
    cols = {f"ips[{e}]": 0, f"sis[{e}]": 1, f"face_cos[{e}]": 2, f"facesim[{e}]": 3}
    out = _store_baselines(results, cols, scores, impostors_of.rule, n_resamples, seed, method_subjects,
                           impostor_pair_counts(items, impostors_of))
    face = FaceSection.ensure(results).encoders.setdefault(e, FaceFigures())
    face.real = {col.split("[")[0]: v.real for col, v in out.items()}
    face.impostor = {col.split("[")[0]: v.impostor for col, v in out.items()}
    face.impostor_from = impostors_of.rule


def filled_prompts(generations, ref_by_subject, subject_words: str | None = None) -> dict[str, str]:
    """``{generation id: its prompt with the placeholder replaced}``, the text every prompt metric scores:
    by ``subject_words`` when given (Stellar's code: ``"a person"``), else by the class noun (the
    subject's ``class`` label, else the subject's name)."""
    from idbench.metrics.text import fill_prompt

    out = {}
    for g in generations:
        if g.prompt:
            refs = ref_by_subject.get(g.subject)
            noun = subject_words or (refs[0].labels.get("class") if refs else None) or g.subject
            out[g.id] = fill_prompt(g.prompt, noun)
    return out


def _score_learned(scorer, generations, prompts, rows, results, problems, *, cache, progress,
                   batch_size) -> None:
    """A learned scorer's column (PickScore, HPS, ImageReward: each generation with its prompt; the
    aesthetic predictor: the image alone)."""
    from idbench.encoders.scorer import score_records
    from idbench.metrics.catalogue import metric_spec

    name = f"{scorer.metric}[{scorer.name}]"
    spec = metric_spec(scorer.metric)
    results.add_metric(name, f"{spec.name if spec else scorer.metric}: {spec.definition if spec else ''} ({scorer.name})",
                       higher_is_better=spec.higher_is_better if spec else True, encoder=scorer.name,
                       protocol="learned")
    prompts = prompts if scorer.needs_prompt else None
    if scorer.needs_prompt:
        for g in generations:
            if g.id not in prompts:
                problems.add(g.path, "no_prompt", f"{scorer.name}: not scored: the generation has no prompt")
    scores = score_records(scorer, generations.records, prompts, cache=cache, problems=problems, progress=progress,
                           batch_size=batch_size)
    for g in generations:
        if g.id in scores:
            rows[(g.method or "", g.id)][name] = scores[g.id]


def _score_text(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, prompts, *, gate="references",
                sources=None, emb_src=None) -> str:
    """CLIP-T per image and Stellar's prompt-following gate (flag), for CLIP-like encoders; returns the
    gate's column.

    ``gate="references"``: clip_t > mean + 2 std (population) of clip_n over the subject's references.
    ``gate="source"`` (Stellar's code, analysis/utils.py ``parse_exclusion``): clip_n of an image is the
    prompt's cosine with the source image it was given, and the image passes when
    ``clip_n + 2 std(clip_n) < clip_t``, the std (ddof 1) over the method's images."""
    from idbench.metrics.text import clip_t, prompt_gate

    t_name, gate_name, n_name = f"clip_t[{enc.name}]", f"prompt_ok[{enc.name}]", f"clip_n[{enc.name}]"
    results.add_metric(t_name, f"CLIP-T: cosine of the prompt (placeholder filled) and the image ({enc.name})",
                       encoder=enc.name, protocol="text")
    results.add_metric(gate_name, ("1 if clip_t > clip_n + 2 std(clip_n over the method) with clip_n the prompt's cosine "
                                   "to the source image" if gate == "source" else
                                   "1 if clip_t > mean(clip_n) + 2 std(clip_n) over the subject's references")
                       + " (Stellar's prompt-following gate), else 0", encoder=enc.name, protocol="text")
    todo = [g for g in generations if g.id in prompts and g.id in emb_gen]
    if not todo:
        return gate_name
    texts = [prompts[g.id] for g in todo]
    uniq = sorted(set(texts))
    emb_t = dict(zip(uniq, enc.embed_text(uniq)))
    clip_n: dict[str, list] = {}
    for g, text in zip(todo, texts):
        t = emb_t[text]
        ct = float(clip_t(t[None], emb_gen[g.id].vectors)[0])
        row = rows[(g.method or "", g.id)]
        row[t_name] = ct
        if gate == "source":
            src = (sources or {}).get(g.id)
            if src is not None and src.id in (emb_src or {}):
                row[n_name] = float(t @ emb_src[src.id].vectors[0])
                clip_n.setdefault(g.method or "", []).append(row)
            continue
        refs = [emb_ref[r.id].vectors[0] for r in ref_by_subject.get(g.subject, []) if r.id in emb_ref]
        if refs:
            row[gate_name] = float(prompt_gate(ct, [float(t @ v) for v in refs]))
    if gate == "source":
        results.add_metric(n_name, f"CLIP-N: cosine of the prompt and the source image ({enc.name}; Stellar's gate)",
                           encoder=enc.name, protocol="text")
        for method_rows in clip_n.values():
            vals = np.array([r[n_name] for r in method_rows])
            sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
            for r in method_rows:
                r[gate_name] = float(r[n_name] + 2.0 * sd < r[t_name]) if np.isfinite(sd) else 0.0
    return gate_name


@dataclass(frozen=True)
class FacePolicy:
    """How every face encoder's numbers are formed (one policy for dlib-face, arcface:, hub faces).

    * ``no_face``: ``"zero"`` (default, Stellar's published rule) scores an image with no detected
      face 0 in IPS, SIS and FaceSim; ``"skip"`` (ConsisID's) leaves it out of those means. The
      face-found rate is reported beside them either way.
    * ``faces``: ``"best"`` (Stellar's IPS: the best-matching face pair) or ``"largest"`` (ConsisID,
      WithAnyone: the largest face of each image).
    """

    no_face: str = "zero"
    faces: str = "best"

    def __post_init__(self):
        if self.no_face not in ("zero", "skip"):
            raise ValueError(f"no_face must be 'zero' or 'skip', got {self.no_face!r}")
        if self.faces not in ("best", "largest", "hungarian"):
            raise ValueError(f"faces must be 'best', 'largest' or 'hungarian', got {self.faces!r}")


def _score_face_encoder(enc, generations, ref_by_subject, ref_faces, emb_ref, emb_gen, rows, results, problems,
                        policy: FacePolicy = FacePolicy(), own_source: dict | None = None) -> None:
    from idbench.metrics.similarity import copy_paste, facesim, ips_and_sis, select_faces

    e = enc.name
    names = {"ips": f"ips[{e}]", "sis": f"sis[{e}]", "found": f"face_found[{e}]", "cos": f"face_cos[{e}]",
             "sim": f"facesim[{e}]", "cp": f"copy_paste[{e}]"}
    rule = f"no face: {'scored 0' if policy.no_face == 'zero' else 'left out'}; faces: {policy.faces}"
    results.add_metric(names["ips"], f"Stellar IPS: best face-pair cosine to each reference, mean over references ({e}; {rule})",
                       encoder=e, protocol="face")
    results.add_metric(names["sis"], f"Stellar SIS: min over the subject's references of the pairwise IPS ({e}; {rule})",
                       encoder=e, protocol="face")
    results.add_metric(names["found"], f"1 if {e} found a face in the generated image, else 0 (mean: face-found rate)",
                       encoder=e, protocol="face")
    results.add_metric(names["cos"], f"raw cosine of the largest generated face and the largest face of the input "
                                     f"reference ({e}; {rule})", encoder=e, protocol="face")
    results.add_metric(names["sim"], f"ConsisID FaceSim: max(0, cosine) of the largest generated face and the input "
                                     f"reference's largest face ({e}; {rule})", encoder=e, protocol="face")
    results.add_metric(names["cp"], "WithAnyone copy-paste: mean over other references t of (theta(g,t) - theta(g,r)) / "
                                    "theta(t,r), r the input reference; +1 copies the input, 0 neutral, -1 the other "
                                    f"photos (largest faces; needs >= 2 references with a face; faceless images left out) ({e})",
                       encoder=e, protocol="face")
    ref_fail = 0
    for recs in ref_by_subject.values():
        for r in recs:
            if r.id in emb_ref and emb_ref[r.id].n == 0:
                ref_fail += 1
                problems.add(r.path, "no_face", f"{e} found no face in this reference image")
    per_method: dict[str, dict[str, list]] = {}
    boxes: dict[str, list] = {}
    for g in generations:
        emb = emb_gen.get(g.id)
        if emb is None:
            continue
        row = rows[(g.method or "", g.id)]
        stats = per_method.setdefault(g.method or "", {"found": []})
        found = emb.n > 0
        if found and emb.boxes is not None:
            boxes[g.id] = [[round(float(v), 1) for v in b] for b in emb.boxes]
        row[names["found"]] = 1.0 if found else 0.0
        stats["found"].append(found)
        faces = [f for f in ref_faces.get(g.subject, []) if f[0].id != (own_source or {}).get(g.id)] or None
        if not found:
            problems.add(g.path, "no_face", f"{e} found no face in this generated image"
                         + (" (scored 0)" if policy.no_face == "zero" else " (left out of the face means)"), "flagged")
            if policy.no_face == "zero" and faces:
                row[names["ips"]] = row[names["sis"]] = row[names["cos"]] = row[names["sim"]] = 0.0
            continue
        if not faces:
            problems.add(g.path, "no_references", f"{e}: not scored: " + (
                "it copies the subject's only reference with a face (leave-one-out leaves none)"
                if g.id in (own_source or {}) else f"subject {g.subject!r} has no reference image with a face"))
            continue
        gf = select_faces(emb.vectors, emb.boxes, policy.faces)
        row[names["ips"]], row[names["sis"]] = ips_and_sis(gf, [f for _, f, _ in faces])
        g_large = select_faces(emb.vectors, emb.boxes, "largest")[0]
        row[names["cos"]], row[names["sim"]] = facesim(g_large, _input_reference(g, faces)[2])
        every = ref_faces.get(g.subject, [])  # copy-paste measures copying itself: every reference counts
        inp = _input_reference(g, every)
        others = [lf for r, _, lf in every if r is not inp[0]]
        if others:
            row[names["cp"]] = copy_paste(g_large, inp[2], np.stack(others))
    face = FaceSection.ensure(results).encoders.setdefault(e, FaceFigures())
    face.policy = FacePolicyRecord(no_face=policy.no_face, faces=policy.faces)
    face.how_failures_enter_means = (
        ("images with no detected face score 0 in IPS, SIS and FaceSim (Stellar's rule)" if policy.no_face == "zero" else
         "images with no detected face are left out of IPS, SIS and FaceSim (ConsisID's rule)")
        + "; the face-found rate (face_found) is reported beside them")
    face.reference_images_without_face = ref_fail
    face.boxes = boxes  # image id -> detected face boxes (left, top, right, bottom), for the report's examples
    # the first two references of each subject with their detected faces: the report shows them beside
    face.reference_boxes = {str(r.path): [[round(float(v), 1) for v in b] for b in emb_ref[r.id].boxes]
                            for recs in ref_by_subject.values() for r in recs[:2]
                            if r.id in emb_ref and emb_ref[r.id].boxes is not None}
    face.methods = {m: MethodFaces(n_images=len(st["found"]),
                                   detection_failure_rate=float(1.0 - np.mean(st["found"])) if st["found"] else None)
                    for m, st in sorted(per_method.items())}


#: face columns whose video value is 0 when no frame has a face (ConsisID: ``avg_arc_score = 0.0``)
_FACE_ZERO = ("facesim[", "face_cos[", "ips[", "sis[")


def collapse_to_videos(results: Results, generations: GenerationSet) -> None:
    """Replace the per-frame rows by one row per video (``extra["video"]``): each metric is the mean over
    the video's frames that have it; a face metric of a video in which no frame has a face is 0
    (ConsisID's ``process_video``); ``face_found`` is the share of frames with a face. The frame count
    is kept (``n_frames``)."""
    video_of = {(g.method or "", g.id): (g.extra or {}).get("video") for g in generations}
    path_of = {(g.method or "", g.id): (g.extra or {}).get("video_path") or str(g.path) for g in generations}
    metrics = set(results.metrics)
    groups: dict[tuple[str, str], list[dict]] = {}
    order: list[tuple[str, str]] = []
    for r in results.rows:
        key = (r["method"], video_of.get((r["method"], r["image_id"])) or r["image_id"])
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(r)
    rows = []
    for key in order:
        frames = groups[key]
        first = frames[0]
        row = {k: v for k, v in first.items() if k not in metrics}
        row.update(image_id=key[1], path=path_of.get((first["method"], first["image_id"]), first["path"]),
                   n_frames=len(frames))
        for m in metrics:
            vals = [float(f[m]) for f in frames if isinstance(f.get(m), (int, float)) and np.isfinite(f[m])]
            if vals:
                row[m] = float(np.mean(vals))
            elif m.startswith(_FACE_ZERO) and any("face_found" + m[m.index("["):] in f for f in frames):
                row[m] = 0.0
        rows.append(row)
    results.rows = rows
    SimilaritySection.ensure(results).unit = Unit(
        unit="video", n_videos=len(rows),
        rule="each metric is the mean over the video's sampled frames that have it; a face metric is 0 for a video "
             "in which no sampled frame has a face")


def _score_matched_faces(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems, *, cache,
                         progress, batch_size) -> None:
    """MultiID-Bench's face scores (``faces = "hungarian"``), written over face_cos and copy_paste:

    * ``face_cos``: every face of the generation matched one-to-one (Hungarian) to the subject's
      references, one face each (the first the detector gives); the mean of the matched cosines. None
      when the generation or any reference has no face (MultiID-Bench returns None);
    * ``face_cos_gt``: the same against every face of the ground-truth image (``ground_truth``);
    * ``copy_paste``: :func:`~idbench.metrics.similarity.copy_paste_matched` with the ground truth as t,
      when the generation, the ground truth and the references hold as many faces."""
    from idbench.data.records import ImageRecord
    from idbench.metrics.similarity import copy_paste_matched, matched_face_cosines

    e = enc.name
    cos_col, gt_col, cp_col = f"face_cos[{e}]", f"face_cos_gt[{e}]", f"copy_paste[{e}]"
    results.add_metric(cos_col, f"faces of the generation matched one-to-one (Hungarian) to the references' faces, "
                                f"mean matched cosine (MultiID-Bench sim_ref; {e})", encoder=e, protocol="face")
    results.add_metric(gt_col, f"faces of the generation matched one-to-one to the ground-truth image's faces, mean "
                               f"matched cosine (MultiID-Bench sim_ori; {e})", encoder=e, protocol="face")
    results.add_metric(cp_col, "MultiID-Bench copy_geo: per matched face (theta(g, t) - theta(g, r)) / theta(t, r), t the "
                               f"ground truth's face, r the reference's; mean ({e})", higher_is_better=False,
                       encoder=e, protocol="face")
    gts = {p: ImageRecord(f"ground-truth:{p}", Path(p), "") for p in {(g.extra or {}).get("ground_truth") for g in generations} if p}
    emb_gt = embed_records(enc, list(gts.values()), cache=cache, problems=problems, progress=progress,
                           batch_size=batch_size, desc=f"ground truth [{e}]") if gts else {}
    for g in generations:
        row = rows.get((g.method or "", g.id))
        emb = emb_gen.get(g.id)
        for c in (cos_col, cp_col):
            if row is not None:
                row.pop(c, None)
        if row is None or emb is None or emb.n == 0:
            continue
        refs = ref_by_subject.get(g.subject, [])
        firsts = [emb_ref[r.id].vectors[0] for r in refs if r.id in emb_ref and emb_ref[r.id].n > 0]
        if not refs or len(firsts) < len(refs):
            problems.add(g.path, "no_face", f"{e}: a reference of subject {g.subject!r} has no face: not scored "
                                            "(MultiID-Bench needs a face in every reference)")
            continue
        R = np.stack(firsts)
        row[cos_col] = float(matched_face_cosines(emb.vectors, R)[0].mean())
        gt = (g.extra or {}).get("ground_truth")
        te = emb_gt.get(gts[gt].id) if gt else None
        if te is None or te.n == 0:
            continue
        row[gt_col] = float(matched_face_cosines(emb.vectors, te.vectors)[0].mean())
        cp = copy_paste_matched(emb.vectors, te.vectors, R)
        if cp is not None:
            row[cp_col] = cp


def _score_ips_against_source(enc, generations, ref_by_subject, sources, emb_ref, emb_src, emb_gen, rows, results,
                              problems, policy) -> None:
    """Stellar's IPS and SIS as its code computes them (``identity_preservation.py``,
    ``identity_stability.py``; ``identity_pairing = "source"``): IPS = the best face-pair cosine
    between the generation and the one source photo named in its record, 0 when either has no face;
    SIS = the minimum over all the identity's photos of that score, so one photo without a face makes
    it 0. Written over the ips / sis columns."""
    from idbench.metrics.similarity import identity_preservation

    e = enc.name
    ips_col, sis_col = f"ips[{e}]", f"sis[{e}]"
    for g in generations:
        row = rows.get((g.method or "", g.id))
        emb = emb_gen.get(g.id)
        if row is None or emb is None:
            continue
        row.pop(ips_col, None)
        row.pop(sis_col, None)
        if emb.n == 0 and policy.no_face == "skip":
            continue
        src = sources.get(g.id)
        if src is None or src.id not in emb_src:
            problems.add(g.path, "no_source", f"{e}: IPS not scored: the generation names no source image "
                                              "(identity_pairing = source)")
        else:
            ips = identity_preservation(emb.vectors, emb_src[src.id].vectors)
            row[ips_col] = 0.0 if np.isnan(ips) else ips
        refs = [r for r in ref_by_subject.get(g.subject, []) if r.id in emb_ref]
        if refs:
            vals = [identity_preservation(emb.vectors, emb_ref[r.id].vectors) for r in refs]
            row[sis_col] = float(min(0.0 if np.isnan(v) else v for v in vals))


def _named_reference(g, items: list, record=lambda item: item):
    """The item whose reference record the generation's ``input_reference`` names (a reference file
    name, stem, path or id), or None; ``record(item)`` gives an item's reference record."""
    want = (g.extra or {}).get("input_reference", "")
    if want:
        for item in items:
            r = record(item)
            if want in (r.path.name, r.path.stem, str(r.path), r.id):
                return item
    return None


def _input_reference(g, faces: list[tuple]) -> tuple:
    """The reference given to the generator: the one ``input_reference`` names when present, else
    the subject's first reference (by id)."""
    hit = _named_reference(g, faces, record=lambda item: item[0])
    return hit if hit is not None else min(faces, key=lambda item: item[0].id)


# ----------------------------------------------------------------------------- optional metric groups


def score_distribution(references: ReferenceSet, generations: GenerationSet, encoder: Encoder, *, results: Results,
                       cache=None, problems=None, progress=True, seed: int = 0) -> dict:
    """FID / KID per method against the references, on ``encoder``'s features."""
    from idbench.protocols.distribution import distribution_protocol

    return distribution_protocol(references.records, generations, encoder, results=results, cache=cache,
                                 problems=problems, progress=progress, seed=seed)


def score_goa(detector, generations: GenerationSet, *, results: Results, problems: ProblemLog,
              rule: str = "any_box", skip: Sequence[str] = ()) -> None:
    """GOA per image for prompts that name objects (``detectables`` column, ';'-separated, or parsed).
    ``rule``: see :meth:`idbench.encoders.owl.OwlDetector.goa`; objects named in ``skip`` are
    dropped first (Stellar's ``OBJECTS2SKIP``); an image whose objects are all skipped scores 0, as in
    Stellar's batches."""
    from idbench.data.images import ImageError, load_image
    from idbench.metrics.grounding import parse_objects

    name = "goa"
    results.add_metric(name, "grounding object accuracy: mean over the prompt's objects of the detector's max score",
                       protocol="grounding")
    rows = results.row_index()
    for g in generations:
        objects = [o for o in g.extra.get("detectables", "").split(";") if o] or parse_objects(g.prompt or "")
        if not objects:
            continue
        kept = [o for o in objects if o not in set(skip)]
        if not kept:
            rows[(g.method or "", g.id)][name] = 0.0
            continue
        try:
            rows[(g.method or "", g.id)][name] = detector.goa(load_image(g.path), kept, rule=rule)
        except ImageError as e:
            problems.add(g.path, e.kind, e.reason)


def score_rfs(encoder: Encoder, generations: GenerationSet, emb_gen: dict, *, results: Results) -> None:
    """RFS approximation for generations with a ``relation`` column ``subject|relation|object``."""
    from idbench.metrics.relation import rfs_for_images

    name = f"rfs[{encoder.name}]"
    todo = [g for g in generations if g.extra.get("relation", "").count("|") == 2 and g.id in emb_gen]
    if not todo:
        return
    results.add_metric(name, "relation fidelity APPROXIMATION: CLIP softmax probability of the true relation against "
                             "contrast relations (Stellar's RFS has no public code)", encoder=encoder.name, protocol="relation")
    triples = [tuple(x.strip() for x in g.extra["relation"].split("|")) for g in todo]
    vals = rfs_for_images(np.concatenate([emb_gen[g.id].vectors for g in todo]), triples, encoder.embed_text)
    rows = results.row_index()
    for g, v in zip(todo, vals):
        rows[(g.method or "", g.id)][name] = float(v)


def score_aps(face_encoder: Encoder, attribute_rows: list[dict], attribute_names: list[str], references: ReferenceSet,
              generations: GenerationSet, *, results: Results, cache=None, problems=None, progress=True) -> dict:
    """APS per method: probes trained on the labelled faces; a subject's labels are the majority
    over its reference images listed in the attributes file; balanced accuracy per attribute."""
    from pathlib import Path

    from idbench.cache.probes import cached_attribute_probes
    from idbench.cache.store import default_cache_dir
    from idbench.data.records import ImageRecord
    from idbench.metrics.attributes import attribute_preservation

    recs = [ImageRecord(f"attr/{i}", Path(r["path"]), r.get("subject", "")) for i, r in enumerate(attribute_rows)]
    emb = embed_records(face_encoder, recs, cache=cache, problems=problems, progress=progress, desc="attribute faces")
    keep = [(r, row) for r, row in zip(recs, attribute_rows) if r.id in emb and emb[r.id].n > 0]
    if len(keep) < 4:
        raise ValueError("APS needs at least 4 labelled images with a detected face")
    X = np.stack([emb[r.id].vectors[0] for r, _ in keep])
    Y = np.array([[int(float(row[a])) for a in attribute_names] for _, row in keep])
    probes = cached_attribute_probes(X, Y, attribute_names, cache_dir=default_cache_dir() / "probes")
    by_path = {str(Path(row["path"]).resolve()): Y[k] for k, (_, row) in enumerate(keep)}
    subject_labels = {}
    for s, rs in references.by_subject().items():
        ys = [by_path[str(r.path.resolve())] for r in rs if str(r.path.resolve()) in by_path]
        if ys:
            subject_labels[s] = (np.mean(ys, axis=0) >= 0.5).astype(int)
    emb_gen = embed_records(face_encoder, generations.records, cache=cache, problems=problems, progress=progress)
    out = {"attributes": attribute_names, "methods": {}}
    for m, gs in generations.by_method().items():
        gs = [g for g in gs if g.id in emb_gen and emb_gen[g.id].n > 0 and g.subject in subject_labels]
        if not gs:
            continue
        Xg = np.stack([emb_gen[g.id].vectors[0] for g in gs])
        out["methods"][m] = attribute_preservation(probes, Xg, np.stack([subject_labels[g.subject] for g in gs]),
                                                   attribute_names)
        out["methods"][m]["n_faces"] = len(gs)
    out = results.sections["aps"] = APSSection.from_dict(out)
    return out


# ----------------------------------------------------------------------------- study registration


def _score_judge(judge, data, ctx) -> None:
    """A VLM judge's columns (:mod:`idbench.judge.run`), with the protocol's ``judge_*`` options."""
    from idbench.judge.client import JudgeError
    from idbench.judge.protocol import JudgePromptError
    from idbench.judge.run import JudgeSettings, score_with_judge

    refs = data.references
    ref_by_subject = refs.by_subject() if refs is not None else {}
    settings = JudgeSettings(ctx.opt("similarity", "judge_prompts"), ctx.opt("similarity", "judge_setting"),
                             ctx.opt("similarity", "judge_samples"), ctx.opt("similarity", "judge_budget"),
                             ctx.opt("similarity", "judge_prices"))
    root = ctx.cache.directory if ctx.cache is not None else None  # answers are cached beside the embeddings
    try:
        score_with_judge(judge, data.generations, ref_by_subject, _source_records(data.generations, ref_by_subject),
                         _judge_instructions(data.generations, ref_by_subject, settings,
                                             ctx.opt("similarity", "prompt_subject")),
                         _impostor_subjects(refs.records if refs is not None else []), ctx.results, ctx.problems,
                         settings=settings, cache_root=root, progress=ctx.progress, n_resamples=ctx.n_resamples,
                         seed=ctx.seed, echo=_echo_stderr)
    except (JudgeError, JudgePromptError, ImportError) as e:
        hint = " (install the openai client: pip install 'idbench[judge]')" if isinstance(e, ImportError) else ""
        raise ValueError(f"{e}{hint}") from None


def _judge_instructions(generations, ref_by_subject, settings, prompt_subject) -> dict[str, str]:
    """The instruction a judge reads with each generation: with DreamBench++'s prompts, the prompt's first
    line as written (its scripts send ``readline().strip()`` of the prompt file); with idbench's own,
    the prompt with its placeholder filled, as every prompt metric reads it."""
    if settings.prompts:
        return {g.id: (g.prompt or "").splitlines()[0].strip() for g in generations if (g.prompt or "").strip()}
    return filled_prompts(generations, ref_by_subject, prompt_subject)


def _echo_stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr)


def _run(data, ctx) -> None:
    from pathlib import Path

    encoders = [e for e in ctx.encoders if e.kind != "judge"]
    judges = [e for e in ctx.encoders if e.kind == "judge"]
    pad = ctx.opt("similarity", "face_pad_retry")
    trim = ctx.opt("similarity", "trim")
    if pad > 0:
        from idbench.encoders.face_retry import PaddedRetry

        encoders = [PaddedRetry(e, pad, ctx.opt("similarity", "face_pad_geometry"), ctx.opt("similarity", "face_pad_fill"))
                    if e.kind == "face" else e for e in encoders]
    policy = FacePolicy(ctx.opt("similarity", "no_face"), ctx.opt("similarity", "faces"))
    evaluate_similarity(data.references, data.generations, encoders, cache=ctx.cache, problems=ctx.problems,
                        progress=ctx.progress, batch_size=ctx.batch_size, results=ctx.results, face_policy=policy,
                        text=ctx.opt("similarity", "text"), content=data.content, n_resamples=ctx.n_resamples,
                        seed=ctx.seed, pairing=ctx.opt("similarity", "pairing"), copies=ctx.opt("similarity", "copies"),
                        ref_pad_square=ctx.opt("similarity", "ref_pad_square"),
                        prompt_subject=ctx.opt("similarity", "prompt_subject"),
                        identity_pairing=ctx.opt("similarity", "identity_pairing"), gate=ctx.opt("similarity", "gate"),
                        gate_zero=ctx.opt("similarity", "gate_zero") or ())
    if trim == "iqr1.5":
        for info in ctx.results.metrics.values():
            if info.protocol in ("similarity", "face"):
                info.aggregate = "iqr1.5"
    if ctx.opt("similarity", "unit") == "video":
        collapse_to_videos(ctx.results, data.generations)
    gens, image_encs = data.generations, [e for e in encoders if e.kind == "image"]
    if ctx.opt("similarity", "rfs"):
        for e in [e for e in image_encs if e.has_text]:
            score_rfs(e, gens, embed_records(e, gens.records, cache=ctx.cache, problems=ctx.problems, progress=False),
                      results=ctx.results)
    detector = ctx.opt("similarity", "goa_detector")
    if detector:
        from idbench.encoders.owl import OwlDetector

        try:
            det = OwlDetector(detector)
        except (OSError, ValueError, ImportError) as e:  # the other metrics are kept: GOA alone is missing, and said
            det = None
            hint = " (install transformers: pip install 'idbench[hub]')" if isinstance(e, ImportError) else ""
            ctx.problems.add(detector, "detector_unavailable", f"cannot load the GOA detector {detector!r}: {e}{hint}; "
                                                               "GOA is not computed", "warning")
        if det is not None:
            score_goa(det, gens, results=ctx.results, problems=ctx.problems, rule=ctx.opt("similarity", "goa_rule"),
                      skip=ctx.opt("similarity", "goa_skip") or ())
    for judge in judges:
        _score_judge(judge, data, ctx)
    attributes = ctx.opt("similarity", "aps_attributes")
    if attributes:
        from idbench.data.manifest import read_rows

        faces = [e for e in encoders if e.kind == "face"]
        if not faces:
            raise ValueError("APS (aps_attributes) needs a face encoder (-e dlib-face or -e arcface:<pack>)")
        attributes = Path(attributes)
        rows = read_rows(attributes)
        names = [c for c in rows[0] if c not in ("path", "subject", "id")] if rows else []
        for r in rows:
            q = Path(r["path"])
            r["path"] = str(q if q.is_absolute() else attributes.parent / q)
        score_aps(faces[0], rows, names, data.references, gens, results=ctx.results, cache=ctx.cache,
                  problems=ctx.problems, progress=ctx.progress)


from idbench.options import Option  # noqa: E402
from idbench.protocols import similarity_views  # noqa: E402
from idbench.protocols.registry import Protocol, Views  # noqa: E402

OPTIONS = (
    Option("no_face", "str", "zero", "face encoders: a generated image with no detected face scores 0 in IPS, SIS and "
           "FaceSim (Stellar's published rule) or is left out of them (ConsisID's); the face-found rate is shown "
           "either way", choices=("zero", "skip")),
    Option("faces", "str", "best", "faces compared: the best-matching pair (Stellar's IPS), the largest face of "
           "each image (ConsisID, InstantID), or every face matched one-to-one to the references (hungarian: "
           "MultiID-Bench)", choices=("best", "largest", "hungarian")),
    Option("ref_pad_square", "float", 0.0, "face encoders: each reference seen centred on a black square of this "
           "times its longer side (0: off; MultiID-Bench 1.5)", minimum=0.0, maximum=4.0),
    Option("trim", "str", "none", "method means of the similarity and face columns: plain, or after removing values "
           "outside 1.5 IQR of the quartiles (iqr1.5: MultiID-Bench)", choices=("none", "iqr1.5")),
    Option("face_pad_retry", "float", 0.0, "when no face is found, detect again on the image padded by this "
           "fraction of its longer side (0: off; ConsisID's retry)", minimum=0.0, maximum=2.0),
    Option("face_pad_geometry", "str", "longer_side", "the retry's border: pad x the longer side on every side, or "
           "pad x height above and below and pad x width left and right (per_axis: ConsisID)",
           choices=("longer_side", "per_axis")),
    Option("face_pad_fill", "int", 0, "the retry border's grey level (0 black; ConsisID 128)", minimum=0, maximum=255),
    Option("unit", "str", "image", "what a score belongs to: each image, or each video (the mean over its sampled "
           "frames; face metrics over the frames with a face, 0 when none has one, as ConsisID)",
           choices=("image", "video")),
    Option("frames", "int", 16, "unit = video: frames sampled evenly from each video or frames folder (ConsisID 16, "
           "OpenS2V 32)", minimum=1),
    Option("prompt_subject", "str", None, "the words a prompt's placeholder is filled with for every prompt metric "
           "(default: the class noun; Stellar's code: 'a person')"),
    Option("identity_pairing", "str", "references", "face encoders' IPS: the mean over the subject's references "
           "(references) or against the one source photo the generation was given, with SIS 0 when any of the "
           "identity's photos has no face (source: Stellar's code)", choices=("references", "source")),
    Option("gate", "str", "references", "the prompt gate's clip_n: over the subject's references, or the prompt "
           "against the generation's source photo with 2 std over the method (source: Stellar's code)",
           choices=("references", "source")),
    Option("gate_zero", "list", None, "metric ids set to 0 for an image failing the prompt gate (Stellar's tables: "
           "ips, sis)"),
    Option("text", "bool", True, "CLIP-T and Stellar's prompt gate, with encoders that have a text tower"),
    Option("pairing", "str", "all", "image encoders: cosine to all the subject's references (DreamBooth) or to the "
           "one source image each generation was given (DreamBench++)", choices=("all", "source")),
    Option("copies", "str", "leave_one_out", "a generation that copies one of its subject's references: scored "
           "against the other references (leave_one_out) or against all of them as the benchmarks' code does "
           "(all_references; the copy is still flagged and kept out of rankings)",
           choices=("leave_one_out", "all_references")),
    Option("rfs", "bool", False, "relation fidelity (needs a 'relation' column subject|relation|object)"),
    Option("judge_prompts", "path", None, "VLM judge: a DreamBench++ checkout whose prompt files are sent "
           "(default: idbench's own prompt)"),
    Option("judge_setting", "str", "full", "VLM judge with --judge-prompts: DreamBench++'s ablation setting",
           choices=("full", "wo_internal_thinking", "w_human_prior", "w_cot", "wo_cot", "wo_scoring_range",
                    "wo_scoring_criteria")),
    Option("judge_samples", "int", 1, "VLM judge: answers per question; the score is their mean and their spread is "
           "reported (DreamBench++ averages 3 runs)", minimum=1),
    Option("judge_budget", "float", None, "VLM judge: stop before sending when the estimated cost (USD) is above this",
           minimum=0),
    Option("judge_prices", "path", None, "VLM judge: a TOML price table ([models.\"name\"] input, output in USD per "
           "million tokens) over idbench's own"),
    Option("goa_detector", "str", None, "GOA: OWL-ViT / OWLv2 model id or folder", flag="--detector"),
    Option("goa_rule", "str", "any_box", "GOA: an object's score is its max over every box (any_box) or over the "
           "boxes whose top label it is (top_label: Stellar's code)", choices=("any_box", "top_label")),
    Option("goa_skip", "list", None, "GOA: object names left out before scoring (Stellar's OBJECTS2SKIP)"),
    Option("aps_attributes", "path", None, "APS: CSV with path, subject and one 0/1 column per face attribute",
           flag="--attributes"),
)

PROTOCOL = Protocol("similarity", ("references", "generations"), _run,
                    "cosine to the subject's references per encoder (CLIP-I / DINO style); IPS, SIS, FaceSim, "
                    "copy-paste and the face-found rate for face encoders", options=OPTIONS, order=10,
                    title="Similarity to references",
                    sections=(SimilaritySection, BaselinesSection, FaceSection, APSSection, JudgeSection),
                    views=Views(tables=similarity_views.tables, claims=tuple(g for g, _ in similarity_views.GROUPS),
                                headings=similarity_views.HEADINGS))
