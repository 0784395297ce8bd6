"""One study: references, generations, a gallery, NearID samples and human ratings in; every
number those inputs allow out, in one results folder.

>>> from idbench.study import Study
>>> Study(refs="refs/", gen="gen/").plan_for(has={"references", "generations"})
['similarity']

Each input may be a path (folder or manifest, or a published benchmark layout: see
:mod:`idbench.data.layouts`) or an already loaded object (``ReferenceSet``, ``GenerationSet``,
``Gallery``, a list of ``NearIDSample``, a ratings dict). A study file (TOML) names the same
things plus per-protocol options::

    refs = "dataset/"            # paths relative to the study file
    gen = "samples/"
    gallery = "gallery.csv"
    encoders = ["effnet-lite0", "dlib-face"]
    protocols = ["similarity", "retrieval", "rca", "nearid"]   # default: all the inputs allow
    [options.retrieval]
    levels = ["class", "subject"]
    [options.similarity]
    no_face = "skip"
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from idbench.data.problems import ProblemLog
from idbench.protocols.registry import RunContext, StudyData, available_protocols, get_protocol
from idbench.results import Results

_INPUT_OF = {"refs": "references", "gen": "generations", "gallery": "gallery", "samples": "samples", "human": "ratings"}


class StudyError(ValueError):
    """A study that cannot run (no usable inputs, an unknown protocol, a bad study file)."""


@dataclass
class Study:
    refs: Any = None
    gen: Any = None
    gallery: Any = None
    samples: Any = None
    human: Any = None
    encoders: Sequence[str] = ("effnet-lite0",)
    protocols: Sequence[str] | None = None  # None: every protocol the inputs allow (opt-in ones excluded)
    distribution: bool = False  # FID / KID (opt-in)
    layout: str | None = None  # a published layout name, else auto-detected
    options: dict[str, dict] = field(default_factory=dict)
    seed: int = 0
    n_resamples: int = 2000
    device: str | None = None
    progress: bool = True
    cache: Any = "default"  # an EmbeddingCache, None for no cache, or "default"
    command: str = ""
    backend: str = "local"  # "ray": embed every input on a Ray cluster first (idbench[ray])
    ray_address: str | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> "Study":
        import tomllib

        path = Path(path)
        try:
            cfg = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise StudyError(f"{path}: cannot read the study file ({e})") from None
        known = {"refs", "gen", "gallery", "samples", "human", "encoders", "protocols", "distribution", "layout",
                 "options", "seed", "bootstrap"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise StudyError(f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        base = path.parent
        kw: dict[str, Any] = {}
        for k in _INPUT_OF:
            if cfg.get(k):
                p = Path(cfg[k]).expanduser()
                kw[k] = p if p.is_absolute() else base / p
        if "encoders" in cfg:
            kw["encoders"] = [cfg["encoders"]] if isinstance(cfg["encoders"], str) else list(cfg["encoders"])
        for k in ("protocols", "distribution", "layout", "options", "seed"):
            if k in cfg:
                kw[k] = cfg[k]
        if "bootstrap" in cfg:
            kw["n_resamples"] = int(cfg["bootstrap"])
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)

    # ------------------------------------------------------------------ loading

    def load(self, problems: ProblemLog) -> StudyData:
        """Read every input (a published layout fills whichever inputs it holds)."""
        from idbench.data import manifest
        from idbench.data.layout import read_layout

        data = StudyData()
        context: dict = {}
        for key in ("refs", "gen", "gallery", "samples", "human"):
            value = getattr(self, key)
            if value is None or not isinstance(value, (str, Path)):
                if value is not None:
                    setattr(data, _INPUT_OF[key], value)
                continue
            path = Path(value)
            found = read_layout(path, problems, name=self.layout, role=key, context=context)
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
                data.generations = manifest.load_generations(path, problems, references=data.references)
                if context.get("name_prompts"):  # e.g. DreamBench: prompts by the index in the file name
                    data.generations = context["name_prompts"](data.generations, problems)
            elif key == "gallery":
                levels = self.options.get("retrieval", {}).get("levels")
                data.gallery = manifest.load_gallery(path, problems, levels=levels)
            elif key == "samples":
                from idbench.nearid.samples import load_samples

                data.samples = load_samples(path)
            elif key == "human":
                from idbench.data.ratings import read_ratings

                data.ratings = read_ratings(path, problems)
        return data

    # ------------------------------------------------------------------ planning

    def plan_for(self, has: set[str]) -> list[str]:
        """The protocols that run given the names of the inputs present."""
        wanted = list(self.protocols) if self.protocols else [p for p in available_protocols()]
        for name in wanted:
            if name not in available_protocols():
                raise StudyError(f"unknown protocol {name!r}; available: {', '.join(available_protocols())}")
        out = []
        for name in wanted:
            p = get_protocol(name)
            if p.opt_in and not (self.distribution or (self.protocols and name in self.protocols)):
                continue
            if all(n in has for n in p.needs):
                out.append(name)
        return out

    def plan(self, data: StudyData) -> tuple[list[str], dict[str, str]]:
        """``(protocols to run, {protocol: why it does not run})``."""
        has = {n for n in ("references", "generations", "gallery", "samples", "ratings") if data.has(n)}
        run = self.plan_for(has)
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

    # ------------------------------------------------------------------ running

    def run(self, problems: ProblemLog | None = None) -> "StudyResults":
        from idbench.cache.store import EmbeddingCache, default_cache_dir
        from idbench.encoders import create_encoder
        from idbench.protocols.similarity import base_rows

        t0 = time.perf_counter()
        problems = problems if problems is not None else ProblemLog()
        data = self.load(problems)
        run, why = self.plan(data)
        if not run:
            raise StudyError("nothing to run: " + "; ".join(f"{k} {v}" for k, v in why.items()))
        encoders = [e if not isinstance(e, str) else create_encoder(e, device=self.device) for e in self.encoders]
        cache = EmbeddingCache(default_cache_dir()) if self.cache == "default" else self.cache
        if self.backend == "ray":
            cache = self._prefill_ray(data, encoders, cache, problems)
        elif self.backend != "local":
            raise StudyError(f"backend must be 'local' or 'ray', got {self.backend!r}")
        results = Results(command=self.command, problems=problems)
        if data.generations is not None:
            results.rows = base_rows(data.generations)
            _add_extra_metrics(results, data.extra_metrics)
        ctx = RunContext(encoders=encoders, results=results, problems=problems, cache=cache, progress=self.progress,
                         seed=self.seed, n_resamples=self.n_resamples, options=dict(self.options))
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
        results.summarise(n_resamples=self.n_resamples, seed=self.seed)
        for name in run:
            p = get_protocol(name)
            if p.after_summary:
                p.run(data, ctx)
                ran.append(name)
        results.sections["study"] = {"protocols_run": ran, "protocols_failed": failed, "not_run": why,
                                     "encoders": [e.name for e in encoders],
                                     "inputs": {k: (str(v) if isinstance(v, (str, Path)) else type(v).__name__)
                                                for k, v in (("refs", self.refs), ("gen", self.gen), ("gallery", self.gallery),
                                                             ("samples", self.samples), ("human", self.human)) if v is not None},
                                     "seconds": round(time.perf_counter() - t0, 2)}
        if self.backend == "ray":
            results.sections["study"]["ray"] = self._ray_stats
        return StudyResults(results)

    def _prefill_ray(self, data: StudyData, encoders, cache, problems):
        """Embed every input image on the Ray cluster into the cache (a temporary one with no cache)."""
        import tempfile

        from idbench.cache.store import EmbeddingCache
        from idbench.scale import prefill_cache_ray

        if cache is None:
            cache = EmbeddingCache(tempfile.mkdtemp(prefix="idbench-ray-"))
        recs = []
        for name in ("references", "generations", "gallery"):
            v = getattr(data, name)
            recs += list(v.records) if v is not None else []
        for s in data.samples or []:
            recs += list(s.views) + [d for d in s.distractors if d is not None]
        self._ray_stats = {}
        for spec, enc in zip(self.encoders, encoders):
            if not isinstance(spec, str):
                raise StudyError("--backend ray needs encoders given as spec strings (they are rebuilt on the workers)")
            self._ray_stats[enc.name] = prefill_cache_ray(spec, recs, cache, encoder_cache_id=enc.cache_id,
                                                          problems=problems, address=self.ray_address,
                                                          device=self.device)
        return cache


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


@dataclass
class StudyResults:
    """What a study produced: ``results`` (the folder's content), with the ways to read it."""

    results: Results

    def write(self, out_dir: str | Path, *, report: bool = True, merge: bool = True) -> Path:
        """Write summary.json, per_image.csv (+ .parquet), tables.md / tables.tex and report.html."""
        from idbench.report.tables import write_tables

        out = Path(out_dir)
        r = self.results
        if merge:
            self.results = r.write_merged(out, n_resamples=r.bootstrap.get("n_resamples", 2000),
                                          seed=r.bootstrap.get("seed", 0))
        else:
            r.write(out)
        write_tables(self.results, out)
        if "rca" in self.results.sections:
            from idbench.report.confusion import write_confusions

            write_confusions(self.results.sections["rca"], out)
        if report:
            self.report(out)
        return out

    def report(self, out_dir: str | Path) -> Path:
        from idbench.report.html import render_report

        return render_report(out_dir)

    def tables(self, fmt: str = "md") -> str:
        from idbench.report.tables import render_tables

        return render_tables(self.results, fmt)

    def to_pandas(self):
        """Per-image rows as a pandas DataFrame (metric columns as floats)."""
        import pandas as pd

        return pd.DataFrame(self.results.rows)

    @property
    def sections(self) -> dict:
        return self.results.sections

    @property
    def methods(self) -> dict:
        return self.results.methods
