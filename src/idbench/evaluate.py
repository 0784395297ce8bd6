"""`evaluate`: similarity-to-reference metrics per method, subject and image.

Takes records and encoders (data, not paths) and returns a :class:`~idbench.results.Results`:

* image encoders: ``cos[<encoder>]`` -- mean cosine to the subject's references (CLIP-I / DINO
  style, named after the encoder so a CLIP-I number is never confused with a DINO number);
* face encoders: ``ips[<encoder>]`` and ``sis[<encoder>]`` (Stellar) plus ``face_found[<encoder>]``.
  A generated image with no detected face gets no IPS/SIS (left empty, excluded from the means)
  and is logged as a ``no_face`` problem; the detection failure rate is reported per method in
  ``sections["face"]`` beside the means. Stellar's published code scores such images 0 instead;
  ``sections["face"]`` also gives that zero-filled mean so the two conventions can be compared.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from idbench.cache.store import EmbeddingCache
from idbench.data.problems import ProblemLog
from idbench.data.records import GenerationSet, ReferenceSet
from idbench.embed import embed_records
from idbench.encoders.base import Encoder
from idbench.metrics.similarity import ips_and_sis, mean_cosine_to_references
from idbench.results import Results


def base_rows(generations: GenerationSet) -> list[dict]:
    return [
        {"method": g.method or "", "subject": g.subject, "image_id": g.id, "path": str(g.path), "prompt": g.prompt or ""}
        for g in generations
    ]


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
) -> Results:
    """Score every generated image against its subject's references with each encoder."""
    problems = problems if problems is not None else ProblemLog()
    results = results if results is not None else Results(problems=problems)
    if not results.rows:
        results.rows = base_rows(generations)
    from idbench.data.content import content_hashes
    from idbench.protocols.common import flag_generation_copies

    hashes = content_hashes(list(generations.records) + list(references.records))
    results.sections.setdefault("similarity", {})["copies"] = flag_generation_copies(
        generations.records, {"reference": references.records}, hashes, results, problems)
    rows = results.row_index()
    ref_by_subject = references.by_subject()

    for enc in encoders:
        emb_ref = embed_records(enc, references.records, cache=cache, problems=problems, progress=progress,
                                batch_size=batch_size, desc=f"references [{enc.name}]")
        emb_gen = embed_records(enc, generations.records, cache=cache, problems=problems, progress=progress,
                                batch_size=batch_size, desc=f"generations [{enc.name}]")
        if enc.kind == "image":
            _score_image_encoder(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems)
        else:
            _score_face_encoder(enc, references, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems)
    return results


def _score_image_encoder(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems) -> None:
    name = f"cos[{enc.name}]"
    results.add_metric(name, f"mean cosine similarity to the subject's references ({enc.name} embeddings; "
                             "CLIP-I / DINO style)", encoder=enc.name)
    ref_mats = {}
    for subject, recs in ref_by_subject.items():
        vecs = [emb_ref[r.id].vectors for r in recs if r.id in emb_ref]
        if vecs:
            ref_mats[subject] = np.concatenate(vecs, axis=0)
    for g in generations:
        if g.id not in emb_gen:
            continue
        refs = ref_mats.get(g.subject)
        if refs is None:
            problems.add(g.path, "no_references", f"subject {g.subject!r} has no usable reference image for {enc.name}")
            continue
        rows[(g.method or "", g.id)][name] = float(mean_cosine_to_references(emb_gen[g.id].vectors, refs)[0])
    if enc.has_text:
        _score_text(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results)


def _score_text(enc, generations, ref_by_subject, emb_ref, emb_gen, rows, results) -> None:
    """CLIP-T per image and Stellar's prompt-following gate (flag), for CLIP-like encoders."""
    from idbench.metrics.text import clip_t, fill_prompt, prompt_gate

    t_name, gate_name = f"clip_t[{enc.name}]", f"prompt_ok[{enc.name}]"
    results.add_metric(t_name, f"CLIP-T: cosine of the prompt (placeholder -> class noun) and the image ({enc.name})",
                       encoder=enc.name, protocol="text")
    results.add_metric(gate_name, "1 if clip_t > mean(clip_n) + 2 std(clip_n) over the subject's references "
                                  "(Stellar's prompt-following gate), else 0", encoder=enc.name, protocol="text")
    todo = [g for g in generations if g.prompt and g.id in emb_gen]
    if not todo:
        return
    nouns = {g.id: (ref_by_subject.get(g.subject, [None])[0].labels.get("class") if ref_by_subject.get(g.subject) else None)
             or g.subject for g in todo}
    texts = [fill_prompt(g.prompt, nouns[g.id]) for g in todo]
    uniq = sorted(set(texts))
    emb_t = dict(zip(uniq, enc.embed_text(uniq)))
    for g, text in zip(todo, texts):
        t = emb_t[text]
        ct = float(clip_t(t[None], emb_gen[g.id].vectors)[0])
        refs = [emb_ref[r.id].vectors[0] for r in ref_by_subject.get(g.subject, []) if r.id in emb_ref]
        row = rows[(g.method or "", g.id)]
        row[t_name] = ct
        if refs:
            row[gate_name] = float(prompt_gate(ct, [float(t @ v) for v in refs]))


def _score_face_encoder(enc, references, generations, ref_by_subject, emb_ref, emb_gen, rows, results, problems) -> None:
    ips_name, sis_name, found_name = f"ips[{enc.name}]", f"sis[{enc.name}]", f"face_found[{enc.name}]"
    results.add_metric(ips_name, f"Stellar IPS: max face cosine to each reference, mean over references ({enc.name})",
                       encoder=enc.name, protocol="face")
    results.add_metric(sis_name, f"Stellar SIS: min over the subject's images of the pairwise IPS ({enc.name})",
                       encoder=enc.name, protocol="face")
    results.add_metric(found_name, f"1 if {enc.name} found a face in the generated image, else 0",
                       encoder=enc.name, protocol="face")
    ref_faces: dict[str, list[np.ndarray]] = {}
    ref_fail = 0
    for subject, recs in ref_by_subject.items():
        for r in recs:
            e = emb_ref.get(r.id)
            if e is None:
                continue
            if e.n == 0:
                ref_fail += 1
                problems.add(r.path, "no_face", f"{enc.name} found no face in this reference image")
                continue
            ref_faces.setdefault(subject, []).append(e.vectors)
    per_method: dict[str, dict[str, list]] = {}
    for g in generations:
        e = emb_gen.get(g.id)
        if e is None:
            continue
        row = rows[(g.method or "", g.id)]
        stats = per_method.setdefault(g.method or "", {"found": [], "ips0": []})
        found = e.n > 0
        row[found_name] = 1.0 if found else 0.0
        stats["found"].append(found)
        if not found:
            problems.add(g.path, "no_face", f"{enc.name} found no face in this generated image")
            stats["ips0"].append(0.0)
            continue
        faces = ref_faces.get(g.subject)
        if not faces:
            problems.add(g.path, "no_references", f"subject {g.subject!r} has no reference image with a face")
            continue
        ips, sis = ips_and_sis(e.vectors, faces)
        row[ips_name], row[sis_name] = ips, sis
        stats["ips0"].append(ips)
    face = results.sections.setdefault("face", {})
    face[enc.name] = {
        "how_failures_enter_means": "images with no detected face are excluded from the IPS/SIS means; "
                                    "their share is the detection failure rate. 'ips_zero_filled_mean' scores "
                                    "them 0, as Stellar's published code does.",
        "reference_images_without_face": ref_fail,
        "methods": {
            m: {
                "n_images": len(s["found"]),
                "detection_failure_rate": float(1.0 - np.mean(s["found"])) if s["found"] else float("nan"),
                "ips_zero_filled_mean": float(np.mean(s["ips0"])) if s["ips0"] else float("nan"),
            }
            for m, s in sorted(per_method.items())
        },
    }


# ----------------------------------------------------------------------------- optional metric groups


def score_distribution(references: ReferenceSet, generations: GenerationSet, encoder: Encoder, *, results: Results,
                       cache=None, problems=None, progress=True, seed: int = 0) -> dict:
    """FID / KID per method against the references, on ``encoder``'s features."""
    from idbench.protocols.rca import distribution_protocol

    return distribution_protocol(references.records, generations, encoder, results=results, cache=cache,
                                 problems=problems, progress=progress, seed=seed)


def score_goa(detector, generations: GenerationSet, *, results: Results, problems: ProblemLog) -> None:
    """GOA per image for prompts that name objects (``detectables`` column, ';'-separated, or parsed)."""
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
        try:
            rows[(g.method or "", g.id)][name] = detector.goa(load_image(g.path), objects)
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

    from idbench.cache.store import default_cache_dir
    from idbench.data.records import ImageRecord
    from idbench.metrics.attributes import attribute_preservation, train_attribute_probes

    recs = [ImageRecord(f"attr/{i}", Path(r["path"]), r.get("subject", "")) for i, r in enumerate(attribute_rows)]
    emb = embed_records(face_encoder, recs, cache=cache, problems=problems, progress=progress, desc="attribute faces")
    keep = [(r, row) for r, row in zip(recs, attribute_rows) if r.id in emb and emb[r.id].n > 0]
    if len(keep) < 4:
        raise ValueError("APS needs at least 4 labelled images with a detected face")
    X = np.stack([emb[r.id].vectors[0] for r, _ in keep])
    Y = np.array([[int(float(row[a])) for a in attribute_names] for _, row in keep])
    probes = train_attribute_probes(X, Y, attribute_names, cache_dir=default_cache_dir() / "probes")
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
    results.sections["aps"] = out
    return out
