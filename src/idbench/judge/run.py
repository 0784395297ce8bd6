"""A judge over a study: one question per generation, aspect and sample, plus the real and impostor
questions that give its numbers a meaning; then the per-image columns, the reference rows, and what
the run cost.

* ``judge_concept[judge:<model>]``: concept preservation. The source image the generation was given
  (the layout's ``source_image``, else the reference its ``input_reference`` names, else the subject's
  first reference by id) is compared with the generation.
* ``judge_prompt[judge:<model>]``: prompt following, of the generation against its prompt (the
  placeholder filled as for every prompt metric).

Each value is the mean over ``samples`` answers of score / 4, as DreamBench++'s tables show it
(:func:`idbench.judge.protocol.normalise`). With more than one sample, the spread between the
answers is reported as the judge's reliability: the mean per-image standard deviation.

The real and impostor rows for concept preservation ask the same question of photos. For each
subject with two references, the real question compares its first reference with its second. The
impostor question compares its first reference with the first reference of another subject (the
same class when labels allow). These are what a new real photo gets and what another identity
gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from idbench.baselines import BaselineEntry, BaselinesSection
from idbench.judge.client import AnswerCache, JudgeError, JudgeRequest, JudgeStats, cost, estimate_tokens, price_of, read_prices, request_key
from idbench.judge.protocol import JudgePrompts, dreambench_messages, encode_image, idbench_prompts, normalise, read_dreambench_prompts
from idbench.section import Section, validate


@dataclass(kw_only=True)
class Reliability:
    mean_sd: float
    n_images: int
    what: str = ""


@dataclass(kw_only=True)
class JudgeRun:
    """One judge's run: model, endpoint, prompts and their versions, samples, the estimate made before
    sending, what was sent and cached, the cost, and the spread between samples."""

    model: str
    endpoint: str = ""
    prompts: dict[str, str] = field(default_factory=dict)  # aspect -> prompt version
    setting: str = "idbench"
    samples: int = 1
    estimate: dict[str, Any] = field(default_factory=dict)
    run: JudgeStats = field(default_factory=JudgeStats)
    cost_usd: float | None = None
    reliability: dict[str, Reliability] = field(default_factory=dict)


@dataclass(kw_only=True)
class JudgeSection(Section):
    """``sections.judge``: each judge that ran (by its name, ``judge:<model>``)."""

    NAME = "judge"
    VERSION = 2  # 1: the judges at the top level
    judges: dict[str, JudgeRun] = field(default_factory=dict)

    @classmethod
    def migrate(cls, data, version):
        return {"judges": {k: v for k, v in data.items() if k != "version"}}


@dataclass(frozen=True)
class JudgeSettings:
    """What is asked and within what limits (the similarity protocol's ``judge_*`` options)."""

    prompts: str | None = None  # a DreamBench++ checkout; None: idbench's own prompt
    setting: str = "full"
    samples: int = 1
    budget: float | None = None  # USD
    prices: str | None = None  # a TOML price table


def _answer_tokens(p: JudgePrompts) -> int:
    """The answer's expected length: a score line, or an analysis and a score when the prompt asks
    for one (DreamBench++'s chain-of-thought settings)."""
    return 250 if "analysis" in p.user.lower() else 12


def _question(judge, prompts: JudgePrompts, aspect: str, target, *, source=None, instruction=None, sample=0,
              meta=None) -> JudgeRequest:
    from idbench.data.images import file_sha256

    key = request_key([judge.model, prompts.version, aspect, file_sha256(target.path),
                       file_sha256(source.path) if source is not None else None, instruction, sample])
    texts = [prompts.user] + ([prompts.assistant] if prompts.assistant else []) + ([instruction] if instruction else [])
    n_img = 2 if source is not None else 1
    shape = [{"role": "user", "content": [{"type": "text", "text": t} for t in texts]
              + [{"type": "image_url"}] * n_img}]
    t_in, t_out = estimate_tokens(shape, _answer_tokens(prompts))

    def build():
        return dreambench_messages(prompts, encode_image(target.path),
                                   source_b64=encode_image(source.path) if source is not None else None,
                                   instruction=instruction)

    return JudgeRequest(key, build, t_in, t_out, {**(meta or {}), "aspect": aspect, "sample": sample})


def plan(judge, generations, ref_by_subject, sources: dict, prompts_by_id: dict, impostors_of, settings: JudgeSettings,
         problems) -> tuple[list[JudgeRequest], dict]:
    """Every question of the run, and the prompts used per aspect."""
    from idbench.data.images import ImageError

    asked = {a: (read_dreambench_prompts(settings.prompts, a, settings.setting) if settings.prompts
                 else idbench_prompts(a)) for a in judge.aspects}
    reqs: list[JudgeRequest] = []
    for g in generations:
        for aspect in judge.aspects:
            src = instruction = None
            if aspect == "concept":
                refs = sorted(ref_by_subject.get(g.subject, []), key=lambda r: r.id)
                src = sources.get(g.id) or (refs[0] if refs else None)
                if src is None:
                    problems.add(g.path, "no_reference", f"{judge.name}: concept not judged: the subject has no "
                                                          "reference or source image")
                    continue
            else:
                instruction = prompts_by_id.get(g.id)
                if not instruction:
                    problems.add(g.path, "no_prompt", f"{judge.name}: prompt following not judged: the generation has "
                                                      "no prompt")
                    continue
            for k in range(settings.samples):
                try:
                    reqs.append(_question(judge, asked[aspect], aspect, g, source=src, instruction=instruction,
                                          sample=k, meta={"id": g.id, "kind": "generation"}))
                except (OSError, ImageError) as e:
                    problems.add(g.path, "unreadable", f"{judge.name}: {e}")
                    break
    if "concept" in judge.aspects:  # the real and impostor questions, asked once per subject
        first = {s: sorted(rs, key=lambda r: r.id) for s, rs in ref_by_subject.items() if rs}
        for s, refs in first.items():
            pairs = []
            if len(refs) >= 2:
                pairs.append(("real", refs[1]))
            others = [t for t in impostors_of(s) if t in first]
            if others:
                pairs.append(("impostor", first[others[0]][0]))
            for kind, target in pairs:
                for k in range(settings.samples):
                    try:
                        reqs.append(_question(judge, asked["concept"], "concept", target, source=refs[0], sample=k,
                                              meta={"id": f"{kind}/{s}", "kind": kind, "subject": s}))
                    except (OSError, ImageError) as e:
                        problems.add(target.path, "unreadable", f"{judge.name}: {e}")
                        break
    return reqs, asked


def estimate(judge, requests: list[JudgeRequest], known: dict, prices: dict | None) -> dict:
    """What the run will send: the requests not answered already (``known``: cached answers by key),
    their estimated tokens and cost."""
    todo = [r for r in requests if r.key not in known]
    t_in, t_out = sum(r.tokens_in for r in todo), sum(r.tokens_out for r in todo)
    price = price_of(judge.model, prices)
    return {"questions": len(requests), "to_send": len(todo), "cached": len(requests) - len(todo),
            "tokens_in": t_in, "tokens_out": t_out, "cost_usd": cost(t_in, t_out, price),
            "price_per_million": list(price) if price else None}


def score_with_judge(judge, generations, ref_by_subject, sources: dict, prompts_by_id: dict, impostors_of, results,
                     problems, *, settings: JudgeSettings, cache_root: str | Path | None, progress: bool = True,
                     n_resamples: int = 2000, seed: int = 0, echo=None, client=None) -> JudgeRun:
    """Ask the judge every question (cached answers first), write its columns, its real and impostor
    rows and ``sections["judge"]``; returns that section. Stops before sending anything when the
    estimated cost is above ``settings.budget``."""
    from idbench.metrics.catalogue import metric_spec
    from idbench.stats.bootstrap import mean_with_interval

    if settings.setting != "full" and not settings.prompts:
        raise JudgeError(f"{judge.name}: --judge-setting {settings.setting} chooses among DreamBench++'s prompts: give "
                         "them with --judge-prompts (a dreambench_plus checkout); idbench's own prompt has no settings")
    prices = read_prices(settings.prices) if settings.prices else None
    reqs, asked = plan(judge, generations, ref_by_subject, sources, prompts_by_id, impostors_of, settings, problems)
    sharing: dict[str, list[JudgeRequest]] = {}  # the same question (identical files and text) is asked once
    for r in reqs:
        sharing.setdefault(r.key, []).append(r)
    unique = [rs[0] for rs in sharing.values()]
    cache = AnswerCache(cache_root) if cache_root is not None else None
    known = {r.key: a for r in unique if cache is not None and (a := cache.get(r.key)) is not None}  # read once
    before = estimate(judge, unique, known, prices)
    if echo is not None and before["to_send"]:
        money = (f"about ${before['cost_usd']:.2f}" if before["cost_usd"] is not None else
                 f"cost unknown (no price for {judge.model}: give --judge-prices)")
        echo(f"{judge.name}: {before['to_send']} request(s) to send ({before['cached']} cached), about "
             f"{before['tokens_in']} input and {before['tokens_out']} output tokens, {money}")
    if settings.budget is not None and before["to_send"]:
        if before["cost_usd"] is None:
            raise JudgeError(f"{judge.name}: --judge-budget {settings.budget} is set but no price is known for "
                             f"{judge.model!r}; give one with --judge-prices (TOML: [models.\"{judge.model}\"] input = "
                             "..., output = ... in USD per million tokens)")
        if before["cost_usd"] > settings.budget:
            raise JudgeError(f"{judge.name}: the estimated cost ${before['cost_usd']:.2f} of {before['to_send']} "
                             f"request(s) is above the budget ${settings.budget:.2f}; nothing was sent (raise "
                             "--judge-budget, or judge fewer images or samples)")
    path_of = {g.id: g.path for g in generations}

    def failed(req, kind, message):  # named for every item that asked this question
        for r in sharing[req.key]:
            problems.add(path_of.get(r.meta.get("id"), r.meta.get("id")), f"judge_{kind}",
                         f"{judge.name} ({r.meta.get('aspect')}): {message}")

    client = client or judge.client()
    answers, stats = client.run(unique, cache, progress=progress, on_failure=failed, known=known)
    rows = results.row_index()
    values: dict[tuple[str, str], list[float]] = {}
    for req in reqs:  # each answer goes to every item that asked its question
        if req.key in answers:
            values.setdefault((req.meta["aspect"], req.meta["id"]), []).append(normalise(answers[req.key]["score"]))
    section = {"model": judge.model, "endpoint": client.base_url or "https://api.openai.com/v1",
               "prompts": {a: p.version for a, p in asked.items()}, "setting": settings.setting if settings.prompts
               else "idbench", "samples": settings.samples, "estimate": before, "run": stats.to_dict(),
               "cost_usd": cost(stats.tokens_in, stats.tokens_out, price_of(judge.model, prices)),
               "reliability": {}}
    for aspect in judge.aspects:
        col = judge.column(aspect)
        spec = metric_spec(f"judge_{aspect}")
        results.add_metric(col, f"{spec.name}: {spec.definition} ({judge.name})", encoder=judge.name, protocol="judge")
        sds = []
        for g in generations:
            v = values.get((aspect, g.id))
            if v:
                rows[(g.method or "", g.id)][col] = float(np.mean(v))
                if len(v) > 1:
                    sds.append(float(np.std(v, ddof=1)))
        if sds:
            section["reliability"][aspect] = {"mean_sd": float(np.mean(sds)), "n_images": len(sds),
                                              "what": "mean over images of the standard deviation of the "
                                                      f"{settings.samples} answers (score / 4)"}
    if "concept" in judge.aspects:
        entry = {"how": "real: a subject's first reference judged against its second; impostor: against another "
                        "subject's first reference; mean over subjects, interval by bootstrap over subjects",
                 "impostor_from": getattr(impostors_of, "rule", "other subjects")}
        for kind in ("real", "impostor"):
            pts = [(req.meta["subject"], float(np.mean(values[("concept", req.meta["id"])])))
                   for req in {r.meta["id"]: r for r in reqs if r.meta.get("kind") == kind}.values()
                   if ("concept", req.meta["id"]) in values]
            if pts:
                subj, vals = zip(*pts)
                entry[kind] = {**mean_with_interval(np.array(vals), np.array(subj), n_resamples=n_resamples, seed=seed),
                               "n_pairs": len(vals)}
        if "real" in entry or "impostor" in entry:
            BaselinesSection.ensure(results).columns[judge.column("concept")] = validate(BaselineEntry, entry, where="sections.baselines")
    typed = validate(JudgeRun, section, where=f"sections.judge.{judge.name}")
    JudgeSection.ensure(results).judges[judge.name] = typed
    return typed


__all__ = ["JudgeSettings", "estimate", "plan", "score_with_judge"]
