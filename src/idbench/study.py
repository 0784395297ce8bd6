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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idbench.data.problems import ProblemLog
from idbench.options import Option
from idbench.protocols.registry import BROKEN, RunContext, StudyData, available_protocols, get_protocol
from idbench.registry import did_you_mean
from idbench.results import Results

_INPUT_OF = {"refs": "references", "gen": "generations", "gallery": "gallery", "samples": "samples", "human": "ratings"}

#: The study's own keys (a study file's top level; Study's fields). Each protocol declares its
#: options in its own module (``[options.<protocol>]``): see :mod:`idbench.options`.
STUDY_OPTIONS = (
    Option("refs", "path", None, "references: refs/<subject>/*.jpg, a manifest, or a benchmark layout"),
    Option("gen", "path", None, "generations: gen/<method>/<subject>/*.png, a manifest, or a benchmark layout"),
    Option("gallery", "path", None, "labelled gallery (retrieval and RCA): manifest or folder tree"),
    Option("samples", "path", None, "NearID samples manifest (idbench's or NearID's tables)"),
    Option("human", "path", None, "human ratings (image_id, score[, rater]) or DreamBench++ rating files"),
    Option("encoders", "list", ["effnet-lite0"], "encoder specs; retrieval, RCA, NearID and FID use the first image "
           "encoder (default: the preset's, else effnet-lite0)"),
    Option("protocols", "list", None, "the protocols to run (default: every one the inputs allow)"),
    Option("preset", "str", None, "a benchmark's own scoring settings (idbench presets); given keys win over it"),
    Option("distribution", "bool", False, "also FID / KID (opt-in: meaningful only with many images per method)"),
    Option("layout", "str", None, "published benchmark layout of the inputs (default: auto-detected)"),
    Option("options", "table", None, "per-protocol options: [options.<protocol>] tables"),
    Option("generate", "table", None, "[generate] table: generate what is missing into gen before evaluating "
           "(see idbench generate)"),
    Option("seed", "int", 0, "seed for resampling and sampling"),
    Option("bootstrap", "int", 2000, "bootstrap resamples (over subjects) for confidence intervals", minimum=100),
    Option("backend", "str", "local", "ray: embed every input on a Ray cluster first", choices=("local", "ray")),
    Option("ray_address", "str", None, "Ray cluster address (only with backend = \"ray\")"),
    Option("batch_size", "int", 32, "images per encoder batch", minimum=1),
    Option("device", "str", None, "torch device (default: cuda when present, else cpu)"),
)
_FIELD_OF = {"bootstrap": "n_resamples"}  # study-file key -> Study field, where they differ


class StudyError(ValueError):
    """A study that cannot run (no usable inputs, an unknown protocol, a bad study file)."""


@dataclass
class Study:
    refs: Any = None
    gen: Any = None
    gallery: Any = None
    samples: Any = None
    human: Any = None
    encoders: Sequence[Any] | None = None  # None: the preset's, else effnet-lite0
    protocols: Sequence[str] | None = None  # None: every protocol the inputs allow (opt-in ones excluded)
    preset: str | None = None  # idbench.presets: encoders, protocols and options a benchmark's code uses
    distribution: bool = False  # FID / KID (opt-in)
    layout: str | None = None  # a published layout name, else auto-detected
    options: dict[str, dict] = field(default_factory=dict)
    seed: int = 0
    n_resamples: int = 2000
    batch_size: int = 32
    device: str | None = None
    progress: bool = True
    cache: Any = "default"  # an EmbeddingCache, None for no cache, or "default"
    command: str = ""
    backend: str = "local"  # "ray": embed every input on a Ray cluster first (idbench[ray])
    ray_address: str | None = None
    warn: bool = True  # emit the input problems as IdbenchWarning (one per kind) at the end of run()
    generate: dict | None = None  # a [generate] table (idbench.generate.GENERATE_OPTIONS)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> "Study":
        """Check every field against :data:`STUDY_OPTIONS` and each protocol's declared options."""
        from idbench.data.layout import available_layouts
        from idbench.options import OptionError
        from idbench.protocols.registry import available_protocols, check_protocol_options

        try:
            for opt in STUDY_OPTIONS:
                name = _FIELD_OF.get(opt.name, opt.name)
                value = getattr(self, name)
                if opt.name == "options":
                    self.options = check_protocol_options(value)
                elif opt.name == "generate":
                    if value is not None:
                        from idbench.generate import GENERATE_OPTIONS
                        from idbench.options import check_table

                        self.generate = check_table(value, GENERATE_OPTIONS, "generate", required=True)
                elif opt.name in _INPUT_OF and value is not None and not isinstance(value, (str, Path)):
                    _check_loaded_input(opt.name, value)  # an already loaded input (ReferenceSet, GenerationSet, ...)
                    continue
                elif opt.name == "encoders" and _built_encoders(value):
                    self.encoders = list(value)  # encoder objects (Python API), maybe mixed with specs
                else:
                    setattr(self, name, opt.check(list(value) if isinstance(value, tuple) else value, "study"))
            if self.protocols is not None:
                known = available_protocols()
                for p in self.protocols:
                    if p in BROKEN:
                        raise OptionError(f"study.protocols: protocol {p!r} is installed but could not be loaded: "
                                          f"{BROKEN[p]}")
                    if p not in known:
                        raise OptionError(f"study.protocols: unknown protocol {p!r}{did_you_mean(p, known)}; "
                                          f"available: {', '.join(known)}")
            if self.layout not in (None, "auto", "idbench") and self.layout not in available_layouts():
                raise OptionError(f"study.layout: unknown layout {self.layout!r}"
                                  f"{did_you_mean(self.layout, available_layouts())}; available: "
                                  f"{', '.join(['auto', 'idbench', *available_layouts()])}")
            if not (self.cache is None or self.cache == "default" or hasattr(self.cache, "get_many")):
                if isinstance(self.cache, (str, Path)) and str(self.cache).strip():
                    from idbench.cache.store import EmbeddingCache

                    self.cache = EmbeddingCache(Path(self.cache).expanduser())  # a folder: the cache lives there
                else:
                    raise OptionError(f"study.cache: expected 'default', None (no cache), a folder or an EmbeddingCache, "
                                      f"got {self.cache!r} ({type(self.cache).__name__})")
            if self.preset:
                self._apply_preset()
            if self.encoders is None:  # nothing given and no preset: the built-in encoder
                self.encoders = ["effnet-lite0"]
            if self.ray_address and self.backend != "ray":
                raise OptionError("study.ray_address is set but the backend is 'local': add --backend ray "
                                  "(backend = \"ray\") or drop the address")
        except OptionError as e:
            raise StudyError(str(e)) from None
        return self

    def _make_encoders(self, problems: ProblemLog) -> list:
        """The encoders, built from their specs. An encoder a preset chose whose weights are not here is
        named, counted and left out (the run says it differs from the preset), so the preset's other
        metrics are still computed; an encoder given explicitly that cannot be built is an error."""
        from idbench.presets import get_preset

        from_preset = self.preset is not None and list(self.encoders) == list(get_preset(self.preset).encoders)
        out, missing = [], {}
        for e in self.encoders:
            if not isinstance(e, str):
                out.append(e)
                continue
            try:
                out.append(_make_encoder(e, self.device))
            except StudyError as err:
                if not from_preset:
                    raise
                missing[e] = str(err)
                problems.add(e, "encoder_unavailable", f"{err}; the preset's columns from it are not computed")
        if missing:
            if not out:
                raise StudyError(f"none of preset {self.preset}'s encoders can be created: " + "; ".join(missing.values()))
            self.preset_record.differs.extend(f"encoder {e} not available (see the problems)" for e in missing)
        return out

    def _apply_preset(self) -> None:
        """Fill what was not given from the preset; record what differs from it."""
        from idbench.options import OptionError
        from idbench.presets import get_preset

        try:
            p = get_preset(self.preset)
        except ValueError as e:
            raise OptionError(f"study.preset: {e}") from None
        diffs = []
        if self.encoders is None or (not _built_encoders(self.encoders) and list(self.encoders) == list(p.encoders)):
            self.encoders = list(p.encoders)
        else:
            diffs.append(f"encoders {', '.join(map(str, self.encoders))} (preset: {', '.join(p.encoders)})")
        if self.protocols is None and p.protocols:
            self.protocols = list(p.protocols)
        elif p.protocols and list(self.protocols) != list(p.protocols):
            diffs.append(f"protocols {', '.join(self.protocols)} (preset: {', '.join(p.protocols)})")
        for proto, opts in p.options.items():
            for k, v in opts.items():
                given = (self.options.get(proto) or {}).get(k)
                if given is None:
                    self.options.setdefault(proto, {})[k] = v
                elif given != v:
                    diffs.append(f"{proto}.{k} = {given!r} (preset: {v!r})")
        from idbench.results import PresetRecord, PublishedFigure

        self.preset_record = PresetRecord(name=p.name, source=p.source, scale=p.scale, differs=diffs,
                                          published=[PublishedFigure(**vars(x)) for x in p.published],
                                          metrics=list(p.metrics))

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> "Study":
        """A study from a TOML file; ``overrides`` (e.g. flags given on the command line) win over
        the file, keys left as None do not. Unknown keys, sections and wrong types are errors."""
        import tomllib

        from idbench.options import OptionError

        path = Path(path)
        try:
            cfg = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise StudyError(f"{path}: cannot read the study file ({e})") from None
        known = [o.name for o in STUDY_OPTIONS]
        for k in cfg:
            if k not in known:
                raise StudyError(f"{path}: unknown key {k!r}{did_you_mean(k, known)}; known: {', '.join(known)}")
        base = path.parent
        kw: dict[str, Any] = {}
        try:
            for opt in STUDY_OPTIONS:
                if opt.name not in cfg:
                    continue
                v = cfg[opt.name] if opt.name in ("options", "generate") else opt.check(cfg[opt.name], "study")
                if opt.name == "generate" and isinstance(v, dict) and v.get("prompts"):
                    q = Path(v["prompts"]).expanduser()
                    v = {**v, "prompts": str(q if q.is_absolute() else base / q)}
                if opt.name in _INPUT_OF and v is not None:
                    q = Path(v).expanduser()
                    v = q if q.is_absolute() else base / q
                kw[_FIELD_OF.get(opt.name, opt.name)] = v
        except OptionError as e:
            raise StudyError(f"{path}: {e}") from None
        options = kw.pop("options", None) or {}
        for proto, table in (overrides.pop("options", None) or {}).items():  # flags win, key by key
            if isinstance(options, dict) and isinstance(options.get(proto, {}), dict):
                options.setdefault(proto, {}).update(table)
        kw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**kw, options=options)
        except StudyError as e:
            raise StudyError(f"{path}: {e}") from None

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
            data.paths[key] = path
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
                sim = self.options.get("similarity", {})
                data.generations = manifest.load_generations(path, problems, references=data.references,
                                                             video_frames=sim.get("frames") or 16)
                if context.get("name_prompts"):  # e.g. DreamBench: prompts by the index in the file name
                    data.generations = context["name_prompts"](data.generations, problems)
            elif key == "gallery":
                levels = self.options.get("retrieval", {}).get("levels") or self.options.get("rca", {}).get("levels")
                data.gallery = manifest.load_gallery(path, problems, levels=levels)
            elif key == "samples":
                from idbench.data.nearid import load_samples

                data.samples = load_samples(path, problems)
            elif key == "human":
                from idbench.data.ratings import read_ratings

                data.ratings = read_ratings(path, problems)
        if data.references is not None and data.gallery is not None:
            data.references = _labels_from_gallery(data.references, data.gallery)
        sim = self.options.get("similarity", {})
        if sim.get("unit") == "video" and data.generations is not None:  # a video's frames, as its benchmark samples them
            from idbench.data.video import video_units

            data.generations = video_units(data.generations, sim.get("frames") or 16)
        return data

    # ------------------------------------------------------------------ planning

    def plan_for(self, has: set[str]) -> list[str]:
        """The protocols that run given the names of the inputs present."""
        wanted = list(self.protocols) if self.protocols else [p for p in available_protocols()]
        known = available_protocols()
        for name in wanted:
            if name not in known:
                raise StudyError(f"unknown protocol {name!r}; available: {', '.join(known)}")
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
        from idbench.protocols.common import base_rows

        t0 = time.perf_counter()
        problems = problems if problems is not None else ProblemLog()
        if self.generate:
            self._generate_missing(problems)
        data = self.load(problems)
        run, why = self.plan(data)
        if not run:
            raise StudyError("nothing to run: " + "; ".join(f"{k} {v}" for k, v in why.items()))
        encoders = self._make_encoders(problems)
        cache = EmbeddingCache(default_cache_dir()) if self.cache == "default" else self.cache
        if self.backend == "ray":
            cache = self._prefill_ray(data, encoders, cache, problems)
        elif self.backend != "local":
            raise StudyError(f"backend must be 'local' or 'ray', got {self.backend!r}")
        results = Results(command=self.command, problems=problems)
        if data.generations is not None:
            results.rows = base_rows(data.generations)
            _add_extra_metrics(results, data.extra_metrics)
        data.content = self._audit(data, cache, problems, results)
        ctx = RunContext(encoders=encoders, results=results, problems=problems, cache=cache, progress=self.progress,
                         seed=self.seed, n_resamples=self.n_resamples, batch_size=self.batch_size, device=self.device,
                         options=dict(self.options))
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
        from idbench.results import StudySection

        results.sections["study"] = StudySection(
            identity=self._identity(data, encoders, ctx, ran), preset=self.preset_record if self.preset else None,
            protocols_run=ran, protocols_failed=failed, not_run=why, encoders=[e.name for e in encoders],
            inputs={k: (str(v) if isinstance(v, (str, Path)) else type(v).__name__)
                    for k, v in (("refs", self.refs), ("gen", self.gen), ("gallery", self.gallery),
                                 ("samples", self.samples), ("human", self.human)) if v is not None},
            seconds=round(time.perf_counter() - t0, 2), ray=self._ray_stats if self.backend == "ray" else None,
            generated=getattr(self, "generated", None) if self.generate else None)
        if self.warn:
            problems.warn()
        return StudyResults(results)

    def _generate_missing(self, problems) -> None:
        from idbench.generate import generate_missing

        if not isinstance(self.refs, (str, Path)) or not isinstance(self.gen, (str, Path)):
            raise StudyError("[generate] needs refs and gen given as paths (gen is where the images go)")
        try:
            self.generated = generate_missing(self.generate, self.refs, self.gen, layout=self.layout, device=self.device,
                                              problems=problems, progress=self.progress)
        except ValueError as e:
            raise StudyError(f"[generate]: {e}") from None

    def _identity(self, data: StudyData, encoders, ctx, ran: list[str]) -> dict:
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

    def _audit(self, data: StudyData, cache, problems, results):
        """Copies and near-copies in every direction, once for every protocol (see :mod:`idbench.data.content`)."""
        from idbench.data.content import audit_content
        from idbench.protocols.common import mark_copies

        recs = lambda v: list(v.records) if v is not None else []  # noqa: E731
        audit = audit_content(recs(data.references), recs(data.generations), recs(data.gallery), cache=cache,
                              problems=problems, progress=self.progress)
        if data.generations is not None:
            mark_copies(results, audit, data.generations.records)
        return audit

    def _prefill_ray(self, data: StudyData, encoders, cache, problems):
        """Embed every input image on the Ray cluster into the cache (a temporary one with no cache)."""
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
        self._ray_stats = {}
        for spec, enc in zip(self.encoders, encoders):
            if not isinstance(spec, str):
                raise StudyError("--backend ray needs encoders given as spec strings (they are rebuilt on the workers)")
            if enc.kind in ("score", "judge"):  # scores depend on each image's prompt: scored locally, then cached
                continue
            try:
                self._ray_stats[enc.name] = prefill_cache_ray(spec, recs, cache, encoder_cache_id=enc.cache_id,
                                                              problems=problems, address=self.ray_address,
                                                              device=self.device)
            except ConnectionError as e:
                raise StudyError(str(e)) from None
        return cache


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


def _check_loaded_input(key: str, value) -> None:
    """An input given as an object (Python API) must be what the loader would have made."""
    from idbench.data.records import Gallery, GenerationSet, ReferenceSet
    from idbench.options import OptionError

    want = {"refs": (ReferenceSet, "a ReferenceSet"), "gen": (GenerationSet, "a GenerationSet"),
            "gallery": (Gallery, "a Gallery")}.get(key)
    if want is not None:
        ok = isinstance(value, want[0])
    elif key == "samples":
        from idbench.data.nearid import NearIDSample

        ok, want = isinstance(value, list) and all(isinstance(x, NearIDSample) for x in value), (list, "a list of NearIDSample")
    else:  # human: {image id: {rater: score}}
        ok, want = isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()), (dict, "{image id: {rater: score}}")
    if not ok:
        raise OptionError(f"study.{key}: expected a path (folder, manifest or layout) or {want[1]}, got "
                          f"{type(value).__name__} {str(value)[:60]!r}")


def _built_encoders(value) -> bool:
    """Whether ``value`` is a list of already built encoders (objects with a ``kind``), maybe mixed with specs."""
    return (isinstance(value, (list, tuple)) and any(hasattr(e, "kind") for e in value)
            and all(hasattr(e, "kind") or isinstance(e, str) for e in value))


def _make_encoder(spec: str, device: str | None):
    from idbench.encoders import create_encoder

    try:
        return create_encoder(spec, device=device)
    except (ValueError, OSError, ImportError, RuntimeError) as e:
        raise StudyError(f"cannot create encoder {spec!r}: {e}") from None


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


@dataclass(repr=False)
class StudyResults:
    """What a study produced: ``results`` (the folder's content), with the ways to read it."""

    results: Results

    def write(self, out_dir: str | Path, *, report: bool = True, merge: bool = True, replace: bool = False,
              echo=None) -> Path:
        """Write the results folder (:func:`idbench.write.write_results_folder`: summary.json,
        per_image.csv, problems.csv, the tables, the protocols' own files and, with ``report``,
        report.html), as one unit; with ``merge`` into a folder of the same study."""
        from idbench.write import write_results_folder

        self.results = write_results_folder(self.results, out_dir, report=report, merge=merge, replace=replace,
                                            echo=echo)
        return Path(out_dir)

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
    def problems(self) -> list:
        """Every input problem (:class:`~idbench.data.problems.Problem`: path, kind, reason, action),
        the same items as summary.json's ``problems``."""
        return self.results.problems.items

    @property
    def methods(self) -> dict:
        return self.results.methods

    def _headline(self) -> tuple[list[str], list[str], dict]:
        """The methods, up to four metric columns (the catalogue's order of the study's metrics) and counts."""
        metrics = [m for m in self.results.metrics if not m.startswith("cmc@")][:4]
        counts = self.results.method_counts()
        return sorted(self.results.methods), metrics, counts

    def __repr__(self) -> str:
        """A few lines (never the rows): methods with images, the first metrics' means, problems."""
        methods, metrics, counts = self._headline()
        lines = [f"StudyResults: {len(self.results.rows)} images, {len(methods)} methods, "
                 f"{len(self.results.metrics)} metrics, {len(self.results.problems.items)} problems"]
        for m in methods[:8]:
            figs = []
            for c in metrics:
                e = self.results.methods.get(m, {}).get(c)
                figs.append(f"{c} {e['mean']:.3f}" if e and isinstance(e.get("mean"), (int, float)) else f"{c} -")
            n = counts.get(m, (0, 0))
            lines.append(f"  {m}: {n[1]} images, {n[0]} subjects; " + "; ".join(figs))
        if len(methods) > 8:
            lines.append(f"  ... {len(methods) - 8} more methods")
        lines.append("  (.to_pandas() for every image, .tables() for the tables, .write(folder) for the report)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The method table as HTML for notebooks: mean [95% CI] of the first metrics."""
        import html

        methods, metrics, counts = self._headline()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["method", "images", *metrics])
        body = []
        for m in methods:
            cells = [html.escape(m), str(counts.get(m, (0, 0))[1])]
            for c in metrics:
                e = self.results.methods.get(m, {}).get(c) or {}
                mean, lo, hi = e.get("mean"), e.get("ci_low"), e.get("ci_high")
                cells.append("-" if not isinstance(mean, (int, float)) else f"{mean:.3f}" + (
                    f" [{lo:.3f}, {hi:.3f}]" if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else ""))
            body.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                f"<p>{len(self.results.rows)} images; {len(self.results.problems.items)} problems "
                "(<code>.problems</code>)</p>")
