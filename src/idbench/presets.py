"""Presets: a benchmark's own scoring settings, by name or file (``idbench run --preset NAME`` or
``--preset ./mine.toml``, ``preset = "NAME"`` in a study file, ``Study(preset=...)``).

A preset is one TOML file (idbench's own are ``idbench/preset_files/*.toml``: adding a benchmark is
adding a file). It sets the encoders (with the benchmark's preprocessing and pooling), the protocols,
the protocols' options, the columns the paper reports and its published figures, and names its
source: the repository, commit and files whose rules it follows, with a table mapping each upstream
rule to the idbench option that implements it (``[[rules]]``) and any deliberate difference
(``differences``). The file is checked by the same schema as a study file: an unknown key or
section, or a wrong type, is an error naming it (:func:`load_preset_file`).

Anything given explicitly (a flag, a study-file key, an option) wins over the preset, and the study
records which settings differ from it (``sections.study.preset``). ``idbench presets`` lists them,
``idbench presets NAME`` prints one file. Other packages add presets through the entry-point group
``idbench.presets``, naming a :class:`Preset` or the path of a preset file.

Scale: per_image.csv and summary.json hold cosines x 1 always; a preset whose paper shows them x 100
(DreamBench++) has ``scale = 100``, and the console, the report and the paper tables then show every
cosine-like column x 100, saying so in the header (:func:`idbench.views.table.display_scale`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from idbench.options import Option, OptionError
from idbench.registry import Registry, UnknownPluginError, did_you_mean

PRESET_DIR = Path(__file__).with_name("preset_files")


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
    repository: str = ""  # owner/name of the benchmark's code
    commit: str = ""  # the commit whose code the rules were read from
    files: tuple[str, ...] = ()  # "path: function, function" read
    rules: tuple[tuple[str, str], ...] = ()  # (upstream rule, idbench option)
    differences: tuple[str, ...] = ()  # deliberate differences from the upstream code (aim: none)
    path: str = ""  # the file it was read from


#: a preset file's keys, checked as a study file's are
PRESET_KEYS = (
    Option("name", "str", None, "the preset's name (--preset NAME)", nullable=False),
    Option("description", "str", None, "one sentence: what the benchmark measures and how", nullable=False),
    Option("encoders", "list", None, "encoder specs, with the benchmark's preprocessing", nullable=False),
    Option("protocols", "list", None, "protocols to run"),
    Option("options", "table", None, "[options.<protocol>] tables, checked against each protocol's options"),
    Option("scale", "int", 1, "display scale of cosine-like scores (100 for a paper that shows x 100)", minimum=1),
    Option("metrics", "list", None, "catalogue ids the paper reports (the tables show these)"),
    Option("notes", "str", None, "what a user should know (missing weights, unstated settings)"),
    Option("source", "table", None, "repository, commit, files and a one-paragraph text", nullable=False),
    Option("published", "table", None, "[[published]] figures: what, metric, value, source[, kind]"),
    Option("rules", "table", None, "[[rules]] upstream = file:function rule, idbench = the option that implements it"),
    Option("differences", "list", None, "deliberate differences from the benchmark's code"),
)
SOURCE_KEYS = (
    Option("text", "str", None, "what the code does, in a paragraph", nullable=False),
    Option("repository", "str", None, "owner/name of the benchmark's code"),
    Option("commit", "str", None, "the commit read"),
    Option("files", "list", None, "path: function, ... read"),
)
PUBLISHED_KEYS = (
    Option("what", "str", None, "the row", nullable=False),
    Option("metric", "str", None, "the column as the paper names it", nullable=False),
    Option("value", "float", None, "the figure", nullable=False),
    Option("source", "str", None, "table or section", nullable=False),
    Option("kind", "str", "score", "score or agreement", choices=("score", "agreement")),
)
RULE_KEYS = (Option("upstream", "str", None, "file:function and the rule", nullable=False),
             Option("idbench", "str", None, "the idbench option or column", nullable=False))


def load_preset_file(path: str | Path) -> Preset:
    """A preset from its TOML file. Every key is checked (:data:`PRESET_KEYS`; ``[options.*]`` against
    the protocols' declared options, as in a study file); :class:`~idbench.options.OptionError` names
    the file and the key."""
    import tomllib

    from idbench.options import check_table
    from idbench.protocols.registry import check_protocol_options

    path = Path(path)
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise OptionError(f"{path}: cannot read the preset file ({e})") from None
    where = str(path)
    lists = {"published": PUBLISHED_KEYS, "rules": RULE_KEYS}
    top = check_table(cfg, PRESET_KEYS, where, required=True)
    src = check_table(cfg["source"], SOURCE_KEYS, f"{where}: source", required=True)
    options = check_protocol_options(cfg.get("options"), f"{where}: options")
    items = {}
    for key, schema in lists.items():
        rows = cfg.get(key, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise OptionError(f"{where}: {key} must be [[{key}]] tables")
        items[key] = [check_table(r, schema, f"{where}: {key}[{i}]", required=True) for i, r in enumerate(rows)]
    return Preset(
        name=top["name"], description=top["description"], source=src["text"], encoders=tuple(top["encoders"]),
        protocols=tuple(top["protocols"]) if top.get("protocols") else None, options=options,
        scale=top.get("scale", 1), published=tuple(Published(**r) for r in items["published"]),
        notes=top.get("notes") or "", metrics=tuple(top.get("metrics") or ()),
        repository=src.get("repository") or "", commit=src.get("commit") or "", files=tuple(src.get("files") or ()),
        rules=tuple((r["upstream"], r["idbench"]) for r in items["rules"]),
        differences=tuple(top.get("differences") or ()), path=str(path))


#: Presets from other packages are plug-ins (entry-point group ``idbench.presets``, an entry naming a
#: :class:`Preset` or the path of a preset file); idbench's own are the files in :data:`PRESET_DIR`.
PRESETS = Registry("idbench.presets", "preset")
_ORDER = ("dreambooth", "dreambench", "dreambench++", "stellar", "nearid", "instantid", "consisid", "opens2v", "withanyone",
          "fpr")


def _builtin_files() -> dict[str, Path]:
    import tomllib

    out = {}
    for f in sorted(PRESET_DIR.glob("*.toml")):
        try:
            name = tomllib.loads(f.read_text(encoding="utf-8")).get("name")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            name = None
        out[name if isinstance(name, str) and name else f.stem] = f
    return out


def available_presets() -> list[str]:
    """Preset names: idbench's own in the order of the docs, then any other installed ones."""
    names = sorted(set(_builtin_files()) | set(PRESETS.names()))
    return [n for n in _ORDER if n in names] + [n for n in names if n not in _ORDER]


def all_presets(errors: dict[str, str] | None = None) -> dict[str, Preset]:
    """Every preset that loads; one that does not is left out, its reason in ``errors`` (a broken plug-in
    never takes the listing down)."""
    out = {}
    for n in available_presets():
        try:
            out[n] = get_preset(n)
        except (ValueError, OSError) as e:
            if errors is not None:
                errors[n] = str(e)
    return out


def get_preset(name: str) -> Preset:
    """The preset named ``name`` (idbench's own file, a plug-in's) or read from the file ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a preset is a name or a .toml file, got {name!r}")
    if name.endswith(".toml") or Path(name).is_file():
        if not Path(name).is_file():
            raise ValueError(f"preset file {name!r} not found")
        return load_preset_file(name)
    builtin = _builtin_files()
    if name in builtin:
        return load_preset_file(builtin[name])
    try:
        obj = PRESETS.get(name)
    except UnknownPluginError:
        known = available_presets()
        raise ValueError(f"unknown preset {name!r}{did_you_mean(name, known)}; available: {', '.join(known)}") from None
    if isinstance(obj, (str, Path)):
        return load_preset_file(obj)
    if not isinstance(obj, Preset):
        raise ValueError(f"preset {name!r} ({PRESETS.source(name)}) is a {type(obj).__name__}, not a Preset or a "
                         "preset file")
    check_preset(obj)
    return obj


def check_preset(p: Preset) -> None:
    """A plug-in's :class:`Preset` object checked as a file is: its options against the protocols'."""
    from idbench.protocols.registry import check_protocol_options

    check_protocol_options(p.options, f"preset {p.name}: options")


def preset_text(name: str) -> str:
    """The preset's file as written (``idbench presets NAME``), or a plug-in object's fields."""
    p = get_preset(name)
    if p.path:
        return Path(p.path).read_text(encoding="utf-8")
    return repr(p)


def presets_markdown() -> str:
    """``docs/presets.md``'s table part (a test keeps the page equal to it)."""
    out = []
    for p in all_presets().values():
        out.append(f"## `{p.name}`\n\n{p.description}.\n")
        out.append(f"- Source: {p.source}.")
        if p.repository:
            out.append(f"- Code read: `{p.repository}` at `{p.commit[:12] or 'unknown commit'}`"
                       + (": " + "; ".join(f"`{f}`" for f in p.files) if p.files else "") + ".")
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
        if p.rules:
            out.append("\n| upstream rule | idbench |\n|---|---|")
            out += [f"| {u} | {i} |" for u, i in p.rules]
            out.append("\nDeliberate differences:" + ("".join(f"\n- {d}" for d in p.differences) if p.differences
                                                     else " none."))
        if p.published:
            out.append("\n| published | metric | value | source |\n|---|---|---|---|")
            out += [f"| {x.what} | {x.metric} | {x.value:.3f} | {x.source} |" for x in p.published]
            if any(x.kind == "agreement" for x in p.published):
                out.append("\n`idbench agree` on a study run with this preset shows these figures beside its own.")
        out.append("")
    return "\n".join(out)
