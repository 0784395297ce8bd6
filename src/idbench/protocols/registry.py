"""Protocols, created by name through the plug-in registry (entry-point group ``idbench.protocols``).

A protocol declares the inputs it needs (``references``, ``generations``, ``gallery``,
``samples``, ``ratings``), its options (:class:`idbench.options.Option`, checked wherever they
are given: CLI, study file, Python) and a ``run(data, ctx)`` that adds per-image columns and its
section to ``ctx.results``. :class:`idbench.study.Study` runs every protocol its inputs allow, in
``order``; every CLI command that evaluates is a front end of one Study. Adding a protocol is
adding one module that defines ``PROTOCOL = Protocol(...)`` and one entry point naming it.

>>> available_protocols()[:3]
['similarity', 'retrieval', 'rca']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from idbench.registry import PROTOCOLS


@dataclass
class StudyData:
    """The loaded inputs of a study (any may be None)."""

    references: Any = None  # ReferenceSet
    generations: Any = None  # GenerationSet
    gallery: Any = None  # Gallery
    samples: Any = None  # list[NearIDSample]
    ratings: Any = None  # {image_id: {rater: score}}
    extra_metrics: dict = field(default_factory=dict)  # {metric: {image_id: value, "_info": {...}}} shipped by a layout
    paths: dict = field(default_factory=dict)  # {"samples": Path, ...}: where each input was read from
    content: Any = None  # idbench.data.content.ContentAudit: copies and near-copies, decided once per study

    def has(self, name: str) -> bool:
        v = getattr(self, name)
        return v is not None and (len(v) > 0 if hasattr(v, "__len__") else True)


@dataclass
class RunContext:
    """What a protocol runs with: encoders, cache, the problem log, the results it fills, options."""

    encoders: list
    results: Any
    problems: Any
    cache: Any = None
    progress: bool = True
    seed: int = 0
    n_resamples: int = 2000
    batch_size: int = 32
    device: str | None = None
    options: dict[str, dict] = field(default_factory=dict)

    def opt(self, protocol: str, key: str):
        """The option's value as given, else its declared default (an undeclared key is a bug)."""
        given = self.options.get(protocol, {})
        if key in given and given[key] is not None:
            return given[key]
        for o in get_protocol(protocol).options:
            if o.name == key:
                return o.default
        raise KeyError(f"protocol {protocol!r} declares no option {key!r}")

    @property
    def image_encoder(self):
        """The first image encoder (retrieval, RCA, NearID, FID use one backbone)."""
        for e in self.encoders:
            if e.kind == "image":
                return e
        return None


@dataclass(frozen=True)
class Views:
    """What a person sees of a protocol, each a function of the summarised results object
    (:class:`idbench.results.Results`), built with :mod:`idbench.views`. ``report/`` and ``cli/`` loop
    over the protocols that ran and ask each for these; none is required:

    * ``tables(res) -> [table]``: its paper tables (``tables.md``, ``tables.tex``), its report
      section and, unless ``console`` is given, its console lines. Default: one table of the
      metrics it added (:func:`idbench.views.table.metric_table`).
    * ``console(res) -> [line]``: its console lines instead of its tables.
    * ``report(res, results_dir) -> dict``: more for its report section: ``{"html": markup}`` (an
      HTML fragment whose every received string the protocol has escaped), or the context of the
      built-in template block named after it.
    * ``files(res, out_dir, figures) -> [path]``: its own files in the results folder, written with it
      and listed in its manifest (``figures``: also the figures a report shows); [] when it did not run.
    * ``claims``: the metric groups (``MetricInfo.protocol``) its tables show; default its own name.
    * ``headings``: ``((table key, heading), ...)``: report sections its tables go under (a table
      whose key is not listed goes under the protocol's own heading).
    """

    tables: Callable[[Any], list[dict]] | None = None
    console: Callable[[Any], list[str]] | None = None
    report: Callable[[Any, Any], dict] | None = None
    files: Callable[[Any, Any, bool], list] | None = None
    claims: tuple[str, ...] = ()
    headings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Protocol:
    name: str
    needs: tuple[str, ...]
    run: Callable[[StudyData, RunContext], None]
    description: str
    options: tuple = ()  # idbench.options.Option declarations
    order: int = 100  # a study runs its protocols in this order
    opt_in: bool = False  # runs only when asked for (FID / KID)
    after_summary: bool = False  # runs on the summarised results (agreement with humans)
    needs_image_encoder: bool = False
    title: str = ""  # its heading in the report and the console (default: its description)
    views: Views = Views()
    #: catalogue entries (:class:`idbench.metrics.catalogue.MetricSpec`) of the metrics it adds
    catalogue: tuple = ()
    #: the sections it writes: :class:`idbench.section.Section` types, each with its ``NAME``
    sections: tuple = ()

    @property
    def heading(self) -> str:
        return self.title or self.description


#: plug-in protocols that could not be loaded: ``{name: why}`` (left out of every list, named once)
BROKEN: dict[str, str] = {}


def available_protocols() -> list[str]:
    """Every registered protocol that loads, in the order a study runs them. A plug-in that cannot
    be loaded (it raises at import, or names no :class:`Protocol`) is left out and named once on
    stderr, so one broken package never takes down a study's views."""
    order = {}
    for n in PROTOCOLS.names():
        try:
            p = get_protocol(n)
            if not isinstance(p, Protocol):
                raise TypeError(f"its entry point gives a {type(p).__name__}, not an idbench Protocol")
            order[n] = p.order
        except Exception as e:  # noqa: BLE001 - a third party's import error of any kind
            if n not in BROKEN:
                import sys

                from idbench.registry import UnknownPluginError

                BROKEN[n] = str(e) if isinstance(e, UnknownPluginError) else f"protocol {n!r}: {type(e).__name__}: {e}"
                print(f"idbench: {BROKEN[n]}; left out", file=sys.stderr)
    return sorted(order, key=lambda n: (order[n], n))


def get_protocol(name: str) -> Protocol:
    """The protocol ``name``; its catalogue entries join the metric catalogue as it is loaded."""
    from idbench.metrics.catalogue import register_spec

    p = PROTOCOLS.get(name)
    for spec in p.catalogue:
        register_spec(spec)
    return p


def check_protocol_options(options: Any, where: str = "options") -> dict[str, dict[str, Any]]:
    """``{protocol: {option: value}}`` checked against each protocol's declared options."""
    from idbench.options import OptionError, check_table
    from idbench.registry import did_you_mean

    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise OptionError(f"{where}: expected a table of [options.<protocol>] tables, got {options!r} "
                          f"({type(options).__name__})")
    known = available_protocols()
    out = {}
    for name, table in options.items():
        if name not in known:
            raise OptionError(f"{where}: unknown protocol section {name!r}{did_you_mean(str(name), known)}; "
                              f"known: {', '.join(known)}")
        out[name] = check_table(table, get_protocol(name).options, f"{where}.{name}")
    return out
