"""Running a study: encoders built, inputs embedded (locally or on Ray), the copy audit, every protocol
in order, the summary with intervals and rankings, and the study section that records what produced it."""

from __future__ import annotations

import time
from pathlib import Path

from idbench.data.problems import ProblemLog
from idbench.protocols.registry import RunContext, StudyData, get_protocol
from idbench.results import Results
from idbench.study.plan import load_inputs, plan
from idbench.study.spec import StudyError


def run_study(study, problems: ProblemLog | None = None):
    """Run ``study`` (a validated :class:`~idbench.study.Study`): plan, embed, audit, every protocol in
    order, summarise; the :class:`~idbench.study.StudyResults`."""
    from idbench.cache.store import EmbeddingCache, default_cache_dir
    from idbench.protocols.common import base_rows
    from idbench.results import StudySection
    from idbench.study.outcome import StudyResults

    t0 = time.perf_counter()
    problems = problems if problems is not None else ProblemLog()
    generated = generate_first(study, problems) if study.generate else None
    data = load_inputs(study, problems)
    run, why = plan(study, data)
    if not run:
        raise StudyError("nothing to run: " + "; ".join(f"{k} {v}" for k, v in why.items()))
    encoders = make_encoders(study, problems)
    cache = EmbeddingCache(default_cache_dir()) if study.cache == "default" else study.cache
    ray_stats = None
    if study.backend == "ray":
        cache, ray_stats = prefill_ray(study, data, encoders, cache, problems)
    elif study.backend != "local":
        raise StudyError(f"backend must be 'local' or 'ray', got {study.backend!r}")
    results = Results(command=study.command, problems=problems)
    if data.generations is not None:
        results.rows = base_rows(data.generations)
        _add_extra_metrics(results, data.extra_metrics)
    data.content = audit(data, cache, problems, results, progress=study.progress)
    ctx = RunContext(encoders=encoders, results=results, problems=problems, cache=cache, progress=study.progress,
                     seed=study.seed, n_resamples=study.n_resamples, batch_size=study.batch_size, device=study.device,
                     options=dict(study.options))
    ran, failed = [], {}
    for name in run:
        p = get_protocol(name)
        if p.after_summary:
            continue
        if p.needs_image_encoder and ctx.image_encoder is None:
            failed[name] = "needs an image encoder (-e effnet-lite0, hf:..., timm:...)"
            continue
        try:
            p.run(data, ctx)
            ran.append(name)
        except ValueError as e:  # this protocol cannot use these inputs; the others go on
            failed[name] = str(e)
            problems.add(f"protocol {name}", "protocol_failed", str(e), "warning")
    results.summarise(n_resamples=study.n_resamples, seed=study.seed)
    for name in run:
        p = get_protocol(name)
        if p.after_summary:
            p.run(data, ctx)
            ran.append(name)
    results.sections["study"] = StudySection(
        identity=study_identity(data, encoders, ctx, ran), preset=study.preset_record if study.preset else None,
        protocols_run=ran, protocols_failed=failed, not_run=why, encoders=[e.name for e in encoders],
        inputs={k: (str(v) if isinstance(v, (str, Path)) else type(v).__name__)
                for k, v in (("refs", study.refs), ("gen", study.gen), ("gallery", study.gallery),
                             ("samples", study.samples), ("human", study.human)) if v is not None},
        seconds=round(time.perf_counter() - t0, 2), ray=ray_stats, generated=generated)
    if study.warn:
        problems.warn()
    return StudyResults(results)


def generate_first(study, problems):
    """The study's ``[generate]`` table run before it is evaluated: what it generated."""
    from idbench.generate import generate_missing

    if not isinstance(study.refs, (str, Path)) or not isinstance(study.gen, (str, Path)):
        raise StudyError("[generate] needs refs and gen given as paths (gen is where the images go)")
    try:
        return generate_missing(study.generate, study.refs, study.gen, layout=study.layout, device=study.device,
                                          problems=problems, progress=study.progress)
    except ValueError as e:
        raise StudyError(f"[generate]: {e}") from None


def make_encoders(study, problems: ProblemLog) -> list:
    """The encoders, built from their specs. An encoder a preset chose whose weights are not here is
    named, counted and left out (the run says it differs from the preset), so the preset's other
    metrics are still computed; an encoder given explicitly that cannot be built is an error."""
    from idbench.presets import get_preset

    from_preset = study.preset is not None and list(study.encoders) == list(get_preset(study.preset).encoders)
    out, missing = [], {}
    for e in study.encoders:
        if not isinstance(e, str):
            out.append(e)
            continue
        try:
            out.append(_make_encoder(e, study.device))
        except StudyError as err:
            if not from_preset:
                raise
            missing[e] = str(err)
            problems.add(e, "encoder_unavailable", f"{err}; the preset's columns from it are not computed")
    if missing:
        if not out:
            raise StudyError(f"none of preset {study.preset}'s encoders can be created: " + "; ".join(missing.values()))
        study.preset_record.differs.extend(f"encoder {e} not available (see the problems)" for e in missing)
    return out


def _make_encoder(spec: str, device: str | None):
    from idbench.encoders import create_encoder

    try:
        return create_encoder(spec, device=device)
    except (ValueError, OSError, ImportError, RuntimeError) as e:
        raise StudyError(f"cannot create encoder {spec!r}: {e}") from None


def study_identity(data: StudyData, encoders, ctx, ran: list[str]) -> dict:
    """What produced these results (see :func:`idbench.folder.same_study`): the content of the
    references, gallery and samples, each encoder's cache id, each protocol's options."""
    import idbench
    from idbench.data.content import content_hashes, content_key
    from idbench.folder import digest

    hashes = data.content.hashes if data.content is not None else {}

    def of(recs):
        recs = list(recs)
        missing = [r for r in recs if content_key(r) not in hashes]
        more = content_hashes(missing) if missing else {}
        return digest(hashes.get(content_key(r)) or more.get(content_key(r)) or str(r.path) for r in recs)

    inputs = {}
    if data.references is not None:
        inputs["references"] = of(data.references.records)
    if data.gallery is not None:
        inputs["gallery"] = of(data.gallery.records)
    if data.samples:
        inputs["samples"] = of([v for s in data.samples for v in (*s.views, *[d for d in s.distractors if d])])
    options = {}
    for name in ran:
        opts = {o.name: ctx.opt(name, o.name) for o in get_protocol(name).options}
        options[name] = {k: (str(v) if isinstance(v, Path) else v) for k, v in opts.items()}
    return {"inputs": inputs, "encoders": {e.name: e.cache_id for e in encoders}, "options": options,
            "idbench_version": idbench.__version__}


def audit(data: StudyData, cache, problems, results, *, progress: bool):
    """Copies and near-copies in every direction, once for every protocol (see :mod:`idbench.data.content`)."""
    from idbench.data.content import audit_content
    from idbench.protocols.common import mark_copies

    recs = lambda v: list(v.records) if v is not None else []  # noqa: E731
    audit = audit_content(recs(data.references), recs(data.generations), recs(data.gallery), cache=cache,
                          problems=problems, progress=progress)
    if data.generations is not None:
        mark_copies(results, audit, data.generations.records)
    return audit


def prefill_ray(study, data: StudyData, encoders, cache, problems) -> tuple:
    """Embed every input image on the Ray cluster into the cache (a temporary one with no cache):
    ``(cache, {encoder: counts})``."""
    import tempfile

    from idbench.cache.store import EmbeddingCache
    from idbench.scale import prefill_cache_ray

    if cache is None:  # no cache asked for: a temporary one, removed at exit
        import atexit
        import shutil

        tmp = tempfile.mkdtemp(prefix="idbench-ray-")
        atexit.register(shutil.rmtree, tmp, True)
        cache = EmbeddingCache(tmp)
    recs = []
    for name in ("references", "generations", "gallery"):
        v = getattr(data, name)
        recs += list(v.records) if v is not None else []
    for s in data.samples or []:
        recs += list(s.views) + [d for d in s.distractors if d is not None]
    stats = {}
    for spec, enc in zip(study.encoders, encoders):
        if not isinstance(spec, str):
            raise StudyError("--backend ray needs encoders given as spec strings (they are rebuilt on the workers)")
        if enc.kind in ("score", "judge"):  # scores depend on each image's prompt: scored locally, then cached
            continue
        try:
            stats[enc.name] = prefill_cache_ray(spec, recs, cache, encoder_cache_id=enc.cache_id,
                                                          problems=problems, address=study.ray_address,
                                                          device=study.device)
        except ConnectionError as e:
            raise StudyError(str(e)) from None
    return cache, stats


def _add_extra_metrics(results: Results, extra: dict) -> None:
    """Per-image scores a layout ships (e.g. DreamBench++'s GPT ratings) as metric columns."""
    if not extra:
        return
    by_id = {r["image_id"]: r for r in results.rows}
    for metric, values in extra.items():
        info = values.get("_info", {})
        results.add_metric(metric, info.get("description", metric), protocol=info.get("protocol", "external"),
                           higher_is_better=info.get("higher_is_better", True))
        for image_id, v in values.items():
            if image_id != "_info" and image_id in by_id:
                by_id[image_id][metric] = float(v)
