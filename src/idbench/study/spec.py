"""What a study is: its inputs, encoders, protocols, preset and options (:class:`Study`), each checked
against :data:`STUDY_OPTIONS` and the protocols' declared options, from Python or a study file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from idbench.data.problems import ProblemLog
from idbench.options import Option
from idbench.protocols.registry import BROKEN, StudyData, available_protocols
from idbench.registry import did_you_mean

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
        from idbench.protocols.registry import check_protocol_options

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

    # ------------------------------------------------------------------ planning and running
    # (each a call into its own module: idbench.study.plan and idbench.study.execute)

    def load(self, problems: ProblemLog) -> StudyData:
        """Read every input (a published layout fills whichever inputs it holds)."""
        from idbench.study.plan import load_inputs

        return load_inputs(self, problems)

    def plan_for(self, has: set[str]) -> list[str]:
        """The protocols that run given the names of the inputs present."""
        from idbench.study.plan import plan_for

        return plan_for(self, has)

    def plan(self, data: StudyData) -> tuple[list[str], dict[str, str]]:
        """``(protocols to run, {protocol: why it does not run})``."""
        from idbench.study.plan import plan

        return plan(self, data)

    def run(self, problems: ProblemLog | None = None):
        """Run the study (:func:`idbench.study.execute.run_study`): a :class:`~idbench.study.StudyResults`."""
        from idbench.study.execute import run_study

        return run_study(self, problems)


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


