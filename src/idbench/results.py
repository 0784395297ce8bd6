"""The results folder: per-image rows in, summary with cluster-bootstrap intervals out.

Metric code never touches this module; the CLI layer fills a :class:`Results` with per-image rows
(one per generated image) and protocol sections, calls :meth:`Results.summarise`, then
:meth:`Results.write`. The format is documented in ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import idbench
from idbench.data.problems import ProblemLog
from idbench.section import Section, SectionError, section_to_dict, typed_sections

ROW_KEYS = ("method", "subject", "image_id", "path", "prompt")
#: the files a study writes into its results folder (a folder in their place is an error before any work)
OUTPUT_FILES = ("summary.json", "per_image.csv", "per_image.parquet", "problems.csv", "tables.md", "tables.tex",
                "report.html", "nearid_samples.csv", "idbench-manifest.json")


class ResultsError(ValueError):
    """A results folder that cannot be read (named, with the reason)."""


@dataclass
class MetricInfo:
    description: str
    higher_is_better: bool = True
    encoder: str | None = None
    protocol: str = "similarity"
    aggregate: str = "mean"  # "mean", or "iqr1.5": the mean after 1.5 x IQR outlier removal (MultiID-Bench)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass(kw_only=True)
class PublishedFigure:
    """A figure a preset's paper publishes: a reference row (``kind="score"``) or an agreement with
    human ratings (``kind="agreement"``)."""

    what: str
    metric: str
    value: float
    source: str
    kind: str = "score"


@dataclass(kw_only=True)
class PresetRecord:
    """The preset a study ran with, and every setting of the study that differs from it."""

    name: str
    source: str = ""
    scale: int = 1  # the paper's tables show scores x scale (100 for percentages)
    differs: list[str] = field(default_factory=list)
    published: list[PublishedFigure] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # the paper's columns (metric ids)


@dataclass(kw_only=True)
class StudySection(Section):
    """``sections.study``: what produced the folder (``identity``, see :func:`idbench.folder.same_study`),
    the preset, which protocols ran, failed or were not run (and why), encoders, inputs, seconds."""

    NAME = "study"
    identity: dict[str, Any] = field(default_factory=dict)
    preset: PresetRecord | None = None
    protocols_run: list[str] = field(default_factory=list)
    protocols_failed: dict[str, str] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)
    encoders: list[str] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None
    ray: dict[str, Any] | None = None  # the Ray backend's counts
    generated: Any = None  # what [generate] made before the study ran


@dataclass
class Results:
    """Everything one evaluation produced."""

    command: str = ""
    metrics: dict[str, MetricInfo] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: ``{name: section}``, each a :class:`idbench.section.Section` of the protocol that wrote it (a
    #: plain mapping only for a plug-in section whose type is not installed here)
    sections: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: ProblemLog = field(default_factory=ProblemLog)
    methods: dict[str, dict[str, dict]] = field(default_factory=dict)
    subjects: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    bootstrap: dict[str, Any] = field(default_factory=dict)
    #: each metric's method ranking, computed once by :meth:`summarise` with the study's resamples and
    #: seed and stored in summary.json (:mod:`idbench.stats.ranking`): every view reads these
    rankings: dict[str, Any] = field(default_factory=dict)
    #: functions ``f(results)`` run at the end of :meth:`summarise`: protocols use them to put the
    #: per-method intervals into their sections (not written to disk)
    after_summary: list = field(default_factory=list, repr=False)

    # ------------------------------------------------------------------ building

    def add_metric(self, name: str, description: str, *, higher_is_better: bool = True, encoder: str | None = None,
                   protocol: str = "similarity") -> None:
        self.metrics[name] = MetricInfo(description, higher_is_better, encoder, protocol)

    def row_index(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["method"], r["image_id"]): r for r in self.rows}

    def row_of(self, record) -> dict[str, Any]:
        """The per-image row of a generated image (an :class:`idbench.data.records.ImageRecord`),
        added when no protocol has written one yet: what a protocol writes its per-image values into."""
        state = (id(self.rows), len(self.rows))
        memo = self.__dict__.get("_row_index")
        if memo is None or memo[0] != state:
            memo = self.__dict__["_row_index"] = (state, self.row_index())
        index = memo[1]
        key = (record.method or "", record.id)
        if key not in index:
            self.rows.append({"method": record.method or "", "subject": record.subject, "image_id": record.id,
                              "path": str(record.path), "prompt": record.prompt or ""})
            index[key] = self.rows[-1]
            self.__dict__["_row_index"] = ((id(self.rows), len(self.rows)), index)
        return index[key]

    @property
    def study(self) -> StudySection:
        """``sections.study`` (an empty one when the results were not made by a study)."""
        return StudySection.of(self) or StudySection()

    def method_counts(self) -> dict[str, tuple[int, int]]:
        """``{method: (subjects, images)}`` over the per-image rows."""
        subj: dict[str, set] = {}
        n: dict[str, int] = {}
        for r in self.rows:
            n[r["method"]] = n.get(r["method"], 0) + 1
            subj.setdefault(r["method"], set()).add(r["subject"])
        return {m: (len(subj[m]), n[m]) for m in n}

    def merge(self, newer: "Results") -> "Results":
        """Fold ``newer`` (a later run into the same folder) into this one: its metrics, per-image
        values (rows matched by method and image id), sections (a protocol's section is replaced
        whole), truth and problems win; everything else is kept. Call :meth:`summarise` after."""
        for name, info in newer.metrics.items():
            self.metrics[name] = info
        index = self.row_index()
        for r in newer.rows:
            key = (r["method"], r["image_id"])
            if key in index:
                index[key].update(r)
            else:
                self.rows.append(dict(r))
                index[key] = self.rows[-1]
        import dataclasses

        from idbench.folder import merge_identity

        old, new = StudySection.of(self), StudySection.of(newer)
        ident = merge_identity(old.identity if old else {}, new.identity if new else {})
        self.sections.update(newer.sections)
        if new is not None:
            self.sections["study"] = dataclasses.replace(new, identity=ident)
        self.truth.update(newer.truth)
        # the newer run's problems win: the same input and kind, met again, now reads as this run says
        renewed = {(p.path, p.kind) for p in newer.problems.items}
        kept = ProblemLog()
        for p in self.problems.items:
            if (p.path, p.kind) not in renewed:
                kept.add(p.path, p.kind, p.reason, p.action)
        kept.extend(newer.problems)
        self.problems = kept
        self.after_summary += [h for h in newer.after_summary if h not in self.after_summary]
        if newer.command and newer.command not in self.command.split("; "):
            self.command = newer.command if not self.command else f"{self.command}; {newer.command}"
        return self

    # ------------------------------------------------------------------ summary

    def summarise(self, *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> None:
        """Per method and metric: the mean over images with a cluster-bootstrap CI over subjects;
        per method, subject and metric: the subject mean."""
        from idbench.metrics.catalogue import metric_spec
        from idbench.stats.bootstrap import mean_with_interval

        self.bootstrap = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed, "unit": "subject",
                          "interval": "percentile; for rates (0/1 scores) the hull of it and the Wilson interval of "
                                      "the pooled count, so that an interval never claims more than the number of images"}
        by_method: dict[str, list[dict]] = {}
        for r in self.rows:
            by_method.setdefault(r["method"], []).append(r)
        self.methods, self.subjects = {}, {}
        for method, rows in sorted(by_method.items()):
            subjects = np.array([r["subject"] for r in rows])
            self.methods[method] = {}
            self.subjects[method] = {}
            for metric in self.metrics:
                vals = np.array([_num(r.get(metric)) for r in rows], dtype=np.float64)
                ok = ~np.isnan(vals)
                if not ok.any():
                    continue
                spec = metric_spec(metric)
                if self.metrics[metric].aggregate == "iqr1.5":
                    from idbench.stats.bootstrap import trimmed_mean_with_interval

                    entry = trimmed_mean_with_interval(vals[ok], subjects[ok], n_resamples=n_resamples,
                                                       confidence=confidence, seed=seed)
                else:
                    entry = mean_with_interval(vals[ok], subjects[ok], n_resamples=n_resamples, confidence=confidence,
                                               seed=seed, rate=spec is not None and spec.rate)
                entry.update(n_images=int(ok.sum()), n_missing=int((~ok).sum()))
                self.methods[method][metric] = entry
                for s in sorted(set(subjects[ok])):
                    m = ok & (subjects == s)
                    self.subjects[method].setdefault(s, {})[metric] = float(vals[m].mean())
        for hook in dict.fromkeys(self.after_summary):
            hook(self)
        from idbench.stats.ranking import metric_rankings

        metric_rankings(self, list(self.metrics))

    # ------------------------------------------------------------------ I/O

    def summary_dict(self) -> dict:
        return {
            "idbench_version": idbench.__version__,
            "command": self.command,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "bootstrap": self.bootstrap,
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
            "methods": self.methods,
            "subjects": self.subjects,
            "truth": self.truth,
            "problems": self.problems.to_dict(),
            "sections": {k: section_to_dict(v) for k, v in self.sections.items()},
            "rankings": self.rankings,
        }

    def stale_rows(self, newer: "Results") -> list[str]:
        """Rows of this (older) folder that ``newer`` would leave stale: for a method ``newer`` scores
        with a protocol, images this folder holds values of that protocol for but ``newer`` does not
        have (a method is re-scored whole, never half old, half new)."""
        new_keys = {(r["method"], r["image_id"]) for r in newer.rows}
        new_methods = {r["method"] for r in newer.rows}
        cols = set(newer.metrics)
        out = []
        for m in sorted(new_methods):
            old = [r for r in self.rows if r["method"] == m and (m, r["image_id"]) not in new_keys
                   and any(_num(r.get(c)) == _num(r.get(c)) for c in cols)]
            if old:
                out.append(f"method {m!r} has {len(old)} image(s) there that this run does not score (e.g. "
                           f"{old[0]['image_id']!r})")
        return out

    def write(self, out_dir: str | Path) -> Path:
        """Write ``per_image.csv`` (+ ``.parquet``), ``problems.csv`` and ``summary.json`` into
        ``out_dir``, each through a unique temporary file renamed into place. (No lock and no
        manifest: :meth:`idbench.study.StudyResults.write` writes a whole results folder.)"""
        self.write_files(out_dir)
        return Path(out_dir)

    def write_files(self, out_dir: str | Path) -> list[Path]:
        """:meth:`write`, returning the paths written."""
        from idbench.atomic import atomic_write_bytes
        from idbench.folder import fault_point

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        summary = json.dumps(_jsonable(self.summary_dict()), indent=2, allow_nan=False)
        cols = list(ROW_KEYS) + [c for c in _columns(self.rows) if c not in ROW_KEYS]
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in self.rows:
            w.writerow({k: _fmt(r.get(k)) for k in cols})
        atomic_write_bytes(out / "per_image.csv", buf.getvalue().encode("utf-8"))
        fault_point("per_image.csv")
        written = [out / "per_image.csv"]
        if _write_parquet(out / "per_image.parquet", self.rows, cols, set(self.metrics)):
            written.append(out / "per_image.parquet")
        self.problems.write_csv(out / "problems.csv")
        atomic_write_bytes(out / "summary.json", summary.encode("utf-8"))
        fault_point("summary.json")
        return written + [out / "problems.csv", out / "summary.json"]

    @classmethod
    def read(cls, out_dir: str | Path, *, check: bool = True) -> "Results":
        """Read a results folder. With ``check`` (default) a folder whose manifest says a write was
        interrupted, or whose files do not match their checksums, is refused (:class:`ResultsError`
        naming why); rows of ``per_image.csv`` that are cut short are refused too."""
        from idbench.folder import ResultsFolder

        out = Path(out_dir)
        summary_path = out / "summary.json"
        for name in ("summary.json", "per_image.csv", "idbench-manifest.json"):
            if (out / name).is_symlink():
                raise ResultsError(f"{out / name} is a symbolic link; idbench reads a results folder's own files only "
                                   "(copy the file in, not a link)")
        if not summary_path.is_file():
            raise FileNotFoundError(f"{out}: not a results folder (no summary.json)")
        why = ResultsFolder(out).problem() if check else None
        if why:
            raise ResultsError(f"{out}: inconsistent results folder: {why}; re-run the evaluation into it with "
                               "--replace")
        try:
            s = json.loads(summary_path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise ResultsError(f"{summary_path}: not UTF-8 text ({e.reason}); re-run the evaluation") from None
        except json.JSONDecodeError as e:
            raise ResultsError(f"{summary_path}: not valid JSON ({e.msg} at line {e.lineno}); the file is truncated or "
                               "damaged: re-run the evaluation") from None
        if not _looks_like_summary(s):
            raise ResultsError(f"{summary_path}: not an idbench summary (expected a JSON object whose 'methods' map "
                               "method -> metric -> {mean, ci_low, ci_high, ...} and whose 'metrics' describe each metric)")
        try:
            sections = typed_sections(s.get("sections", {}))
        except SectionError as e:
            raise ResultsError(f"{summary_path}: {e}; re-run the evaluation") from None
        res = cls(command=s.get("command", ""), sections=sections, truth=s.get("truth", {}),
                  methods=s.get("methods", {}), subjects=s.get("subjects", {}), bootstrap=s.get("bootstrap", {}),
                  rankings=s.get("rankings") if isinstance(s.get("rankings"), dict) else {})
        try:
            for name, info in s.get("metrics", {}).items():
                res.metrics[name] = MetricInfo(**info)
            for p in s.get("problems", {}).get("items", []):
                res.problems.add(p["path"], p["kind"], p["reason"], p.get("action", "skipped"))
        except (TypeError, KeyError, AttributeError) as e:
            raise ResultsError(f"{summary_path}: malformed idbench summary ({type(e).__name__}: {e})") from None
        rows_path = out / "per_image.csv"
        if rows_path.is_file():
            csv.field_size_limit(1 << 30)
            with open(rows_path, newline="", encoding="utf-8", errors="replace") as f:
                reader = csv.DictReader(f)
                for i, r in enumerate(reader, 2):
                    if None in r or any(v is None for v in r.values()) or not r.get("method", "x") and not r.get("image_id"):
                        raise ResultsError(f"{rows_path}: line {i} does not have the header's {len(reader.fieldnames or [])} "
                                           "fields (the file is cut short or damaged); re-run the evaluation")
                    res.rows.append({k: (_num(v) if k in res.metrics else v) for k, v in r.items()})
        return res


def _write_parquet(path: Path, rows: list[dict], cols: list[str], metrics: set[str]) -> bool:
    """The per-image table as Parquet too, when pyarrow is installed (metric columns as float64)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    data = {}
    for c in cols:
        if c in metrics:
            data[c] = pa.array([_num(r.get(c)) for r in rows], type=pa.float64(), from_pandas=True)  # NaN -> null
        else:
            data[c] = pa.array(["" if r.get(c) is None else _text(str(r.get(c))) for r in rows], type=pa.string())
    from idbench.atomic import atomic_write_bytes

    buf = pa.BufferOutputStream()
    pq.write_table(pa.table(data), buf)
    atomic_write_bytes(path, buf.getvalue().to_pybytes())
    return True


def _looks_like_summary(s: Any) -> bool:
    if not isinstance(s, dict):
        return False
    methods, metrics = s.get("methods", {}), s.get("metrics", {})
    if not isinstance(methods, dict) or not isinstance(metrics, dict):
        return False
    if not all(isinstance(v, dict) for v in metrics.values()):
        return False
    for per in methods.values():
        if not isinstance(per, dict) or not all(isinstance(e, dict) and "mean" in e for e in per.values()):
            return False
    return all(isinstance(s.get(k, {}), dict) for k in ("sections", "subjects", "truth", "problems"))


def _columns(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def _num(v: Any) -> float:
    if v is None or v == "":
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(v: Any) -> Any:
    if isinstance(v, float):  # the shortest text that reads back as the same float: a reader sees the run's values
        return "" if math.isnan(v) or math.isinf(v) else repr(float(v))
    if isinstance(v, str):
        return _text(v)
    return "" if v is None else v


def _text(s: str) -> str:
    """Text that can be written as UTF-8: undecodable bytes of file names (surrogates) become \\xNN."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _jsonable(x: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, so the JSON is strict."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Path):
        return _text(str(x))
    if isinstance(x, str):
        return _text(x)
    return x
