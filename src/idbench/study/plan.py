"""Planning a study: its inputs read (:func:`load_inputs`) and the protocols they allow (:func:`plan`)."""

from __future__ import annotations

from pathlib import Path

from idbench.data.problems import ProblemLog
from idbench.protocols.registry import StudyData, available_protocols, get_protocol
from idbench.study.spec import _INPUT_OF, StudyError


def load_inputs(study, problems: ProblemLog) -> StudyData:
    """Read every input (a published layout fills whichever inputs it holds)."""
    from idbench.data import manifest
    from idbench.data.layout import read_layout

    data = StudyData()
    context: dict = {}
    for key in ("refs", "gen", "gallery", "samples", "human"):
        value = getattr(study, key)
        if value is None or not isinstance(value, (str, Path)):
            if value is not None:
                setattr(data, _INPUT_OF[key], value)
            continue
        path = Path(value)
        data.paths[key] = path
        found = read_layout(path, problems, name=study.layout, role=key, context=context)
        if found is not None:
            for name, v in found.items():
                if name == "extra_metrics":
                    data.extra_metrics.update(v or {})
                elif v is not None and getattr(data, name) is None:
                    setattr(data, name, v)
            continue
        if key == "refs":
            data.references = manifest.load_references(path, problems)
        elif key == "gen":
            sim = study.options.get("similarity", {})
            data.generations = manifest.load_generations(path, problems, references=data.references,
                                                         video_frames=sim.get("frames") or 16)
            if context.get("name_prompts"):  # e.g. DreamBench: prompts by the index in the file name
                data.generations = context["name_prompts"](data.generations, problems)
        elif key == "gallery":
            levels = study.options.get("retrieval", {}).get("levels") or study.options.get("rca", {}).get("levels")
            data.gallery = manifest.load_gallery(path, problems, levels=levels)
        elif key == "samples":
            from idbench.data.nearid import load_samples

            data.samples = load_samples(path, problems)
        elif key == "human":
            from idbench.data.ratings import read_ratings

            data.ratings = read_ratings(path, problems)
    if data.references is not None and data.gallery is not None:
        data.references = _labels_from_gallery(data.references, data.gallery)
    sim = study.options.get("similarity", {})
    if sim.get("unit") == "video" and data.generations is not None:  # a video's frames, as its benchmark samples them
        from idbench.data.video import video_units

        data.generations = video_units(data.generations, sim.get("frames") or 16)
    return data


def _labels_from_gallery(references, gallery):
    """The references, where a subject's labels known from the gallery (its class) are added to the
    references that lack them, so that the impostor baseline compares with same-class subjects even when
    the reference folders carry no class. New records: the inputs are never changed in place."""
    from dataclasses import replace

    from idbench.data.records import ReferenceSet

    known: dict[str, dict] = {}
    for r in gallery:
        d = known.setdefault(r.subject, {})
        for k, v in r.labels.items():
            d.setdefault(k, v)
    if not any(known.get(r.subject) for r in references):
        return references
    return ReferenceSet([replace(r, labels={**{k: v for k, v in known.get(r.subject, {}).items() if k != "subject"},
                                           **r.labels}) for r in references])


def plan_for(study, has: set[str]) -> list[str]:
    """The protocols that run given the names of the inputs present."""
    wanted = list(study.protocols) if study.protocols else [p for p in available_protocols()]
    known = available_protocols()
    for name in wanted:
        if name not in known:
            raise StudyError(f"unknown protocol {name!r}; available: {', '.join(known)}")
    out = []
    for name in wanted:
        p = get_protocol(name)
        if p.opt_in and not (study.distribution or (study.protocols and name in study.protocols)):
            continue
        if all(n in has for n in p.needs):
            out.append(name)
    return out

def plan(study, data: StudyData) -> tuple[list[str], dict[str, str]]:
    """``(protocols to run, {protocol: why it does not run})``."""
    has = {n for n in ("references", "generations", "gallery", "samples", "ratings") if data.has(n)}
    run = plan_for(study, has)
    why = {}
    for name in available_protocols():
        if name in run:
            continue
        p = get_protocol(name)
        missing = [n for n in p.needs if n not in has]
        if missing:
            why[name] = "needs " + " and ".join(missing)
        elif p.opt_in:
            why[name] = "opt-in (--distribution)" if name == "distribution" else "opt-in"
        else:
            why[name] = "not asked for"
    return run, why
