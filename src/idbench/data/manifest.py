"""Loading references, generations and galleries from manifests (CSV / JSONL) or folders.

One schema for all three (see ``docs/data.md``):

============  ===========================================================================
column        meaning
============  ===========================================================================
``path``      image file, relative to the manifest's folder (or absolute). Required.
``subject``   the identity shown / conditioned on. Required.
``method``    generations only: the method that made the image (required for generations).
``prompt``    generations: the text prompt (optional; else a same-stem .txt/.json sidecar).
``id``        optional stable id; default: the path relative to the manifest folder, sans suffix.
other         label levels coarser than ``subject`` (e.g. ``class``) when the column has one
              value per subject; anything else is kept in ``ImageRecord.extra``.
============  ===========================================================================

Folder conventions: references ``refs/<subject>/*.jpg``; generations
``gen/<method>/<subject>/<name>.png`` (or ``gen/<subject>/<name>.png`` for a single method named
after the folder); galleries ``gallery/<label1>/.../<subject>/*.jpg`` (one folder level per label).

Problems in single rows (missing files, unknown subjects, duplicates, non-images, empty folders)
are logged to a :class:`~idbench.data.problems.ProblemLog` and skipped; a manifest that cannot be
read at all raises :class:`ManifestError`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from idbench.data.images import IMAGE_SUFFIXES, is_image_path, unreadable_reason
from idbench.data.problems import ProblemLog
from idbench.data.records import Gallery, GenerationSet, ImageRecord, ReferenceSet

#: Columns that are never label levels. ``gallery_group`` is the hard-negative group ``idbench
#: gallery build`` chose (kept for reference: a gallery reads back with the levels it was built from).
RESERVED = {"path", "subject", "method", "prompt", "id", "gallery_group"}
SIDECAR_SUFFIXES = {".txt", ".json"}


class ManifestError(ValueError):
    """A manifest or folder that cannot be used at all (named, with the reason)."""


# ----------------------------------------------------------------------------- raw rows


def read_rows(path: str | Path, problems: ProblemLog | None = None) -> list[dict[str, str]]:
    """Rows of a CSV or JSONL manifest as dicts of strings (JSON values are stringified).

    Text is UTF-8 (a byte-order mark is fine). Bytes that are not UTF-8 are kept as they are
    (``surrogateescape``), so a path with such bytes still names its file; the manifest is named
    as a ``manifest_encoding`` warning, since labels with those bytes show escaped."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv", ".tsv"):
        raise ManifestError(f"{path}: unsupported manifest type {suffix!r} (use .csv, .tsv or .jsonl)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        text = raw.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
        if problems is not None:
            problems.add(path, "manifest_encoding", f"not valid UTF-8 ({e.reason} at byte {e.start}); undecodable bytes "
                                                   "kept as they are (file names still resolve)", "warning")
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{i}: invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ManifestError(f"{path}:{i}: each line must be a JSON object")
            rows.append({str(k): "" if v is None else str(v) for k, v in obj.items()})
        return rows
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
    if reader.fieldnames is None:
        raise ManifestError(f"{path}: empty manifest (no header row)")
    names = [str(c).strip() for c in reader.fieldnames]
    twice = sorted({c for c in names if names.count(c) > 1 and c})
    if twice:
        raise ManifestError(f"{path}: the header names column(s) {', '.join(map(repr, twice))} more than once; each "
                            "column must have one name")
    try:
        return [{k.strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items() if k is not None}
                for row in reader]
    except csv.Error as e:
        raise ManifestError(f"{path}: not a readable CSV ({e})") from None


def _require_columns(path: Path, rows: list[dict[str, str]], required: Iterable[str]) -> None:
    if not rows:
        raise ManifestError(f"{path}: manifest has no rows")
    have = set(rows[0])
    missing = [c for c in required if c not in have]
    if missing:
        raise ManifestError(
            f"{path}: missing required column(s) {', '.join(missing)}; found columns: {', '.join(sorted(have))}"
        )


def infer_levels(rows: list[dict[str, str]], problems: ProblemLog | None = None, source: str = "manifest") -> list[str]:
    """Label columns coarser than ``subject``: non-reserved columns with one value per subject,
    ordered coarse to fine (fewer distinct values first), then ``"subject"``.

    Labels are compared as written. With ``problems``, two things are logged as warnings: a column
    left out because some subject has several values, and labels that differ only in form (``1``
    and ``1.0``, ``Dog`` and ``dog``), which idbench keeps apart."""
    from idbench.metrics.labels import form_conflicts, normal_form

    if not rows:
        return ["subject"]
    candidates = [c for c in rows[0] if c not in RESERVED]
    levels = []
    subjects = {r.get("subject", "") for r in rows}
    if problems is not None:
        for group in form_conflicts(subjects)[:5]:
            problems.add(source, "label_form", f"subjects {' and '.join(map(repr, group))} differ only in form; "
                                               "they are different subjects as written", "warning")
    for c in candidates:
        per_subject: dict[str, set[str]] = {}
        for r in rows:
            per_subject.setdefault(r.get("subject", ""), set()).add(r.get(c, ""))
        values = {v for vs in per_subject.values() for v in vs}
        one_per_subject = all(len(v) == 1 for v in per_subject.values()) and "" not in values
        if one_per_subject and (len(values) < len(per_subject) or len(per_subject) == 1):
            levels.append((len(values), c))
            if problems is not None:
                for group in form_conflicts(values)[:5]:
                    problems.add(source, "label_form", f"column {c!r}: labels {' and '.join(map(repr, group))} differ "
                                                       "only in form; they are different labels as written (fix the "
                                                       "manifest if they mean the same)", "warning")
        elif problems is not None and "" not in values:
            # a would-be level broken only by the form of its labels ('1' and '1.0' for one subject)
            multi = next(((s, sorted(v)) for s, v in per_subject.items() if len(v) > 1), None)
            if multi and all(len({normal_form(v) for v in vs}) == 1 for vs in per_subject.values()):
                problems.add(source, "label_level_dropped",
                             f"column {c!r} is not used as a label level: subject {multi[0]!r} has values "
                             f"{' and '.join(map(repr, multi[1][:4]))}, which differ only in form; a level needs one "
                             "value per subject (labels are compared as written)", "warning")
    return [c for _, c in sorted(levels, key=lambda t: t[0])] + ["subject"]


def warn_label_forms(rows: list[dict[str, str]], levels: list[str], problems: ProblemLog, source: str) -> None:
    """Warn (``label_form``) about labels of the given levels that differ only in form (``1`` and
    ``1.0``, ``Dog`` and ``dog``): idbench keeps them apart, as written."""
    from idbench.metrics.labels import form_conflicts

    for lv in levels:
        values = {r.get(lv, "") for r in rows} - {""}
        for group in form_conflicts(values)[:5]:
            what = "subjects" if lv == "subject" else f"column {lv!r}: labels"
            problems.add(source, "label_form", f"{what} {' and '.join(map(repr, group))} differ only in form; they are "
                                               "different labels as written (fix the manifest if they mean the same)",
                         "warning")


def _record_from_row(
    row: dict[str, str], base: Path, levels: list[str], *, with_method: bool
) -> ImageRecord:
    p = Path(row["path"])
    full = p if p.is_absolute() else base / p
    rid = row.get("id") or str(p.with_suffix("")).replace("\\", "/")
    if with_method and not row.get("id") and row.get("method"):
        rid = f"{row['method']}/{rid}"  # one file may be listed under several methods (a shared baseline)
    labels = {lv: row[lv] for lv in levels if lv != "subject" and lv in row}
    extra = {k: v for k, v in row.items() if k not in RESERVED and k not in labels}
    return ImageRecord(
        id=rid,
        path=full,
        subject=row["subject"],
        method=row.get("method") or None if with_method else None,
        prompt=row.get("prompt") or None,
        labels=labels,
        extra=extra,
    )


def _records_from_manifest(
    path: Path, problems: ProblemLog, *, required: tuple[str, ...], levels: list[str] | None, with_method: bool
) -> tuple[list[ImageRecord], list[str]]:
    rows = read_rows(path, problems)
    _require_columns(path, rows, required)
    if levels is None:
        levels = infer_levels(rows, problems, str(path))
    else:
        levels = [lv for lv in levels if lv != "subject"] + ["subject"]
        missing = [lv for lv in levels if lv != "subject" and lv not in rows[0]]
        if missing:
            raise ManifestError(f"{path}: label level(s) {', '.join(missing)} not among the columns")
        warn_label_forms(rows, levels, problems, str(path))
    base = path.parent
    records, seen = [], set()
    for i, row in enumerate(rows, 2 if path.suffix.lower() != ".jsonl" else 1):
        if not row.get("path") or not row.get("subject"):
            problems.add(f"{path}:{i}", "bad_row", "row has an empty 'path' or 'subject'")
            continue
        rec = _record_from_row(row, base, levels, with_method=with_method)
        if with_method and not rec.method:
            problems.add(f"{path}:{i}", "bad_row", "row has an empty 'method'")
            continue
        if rec.id in seen:
            problems.add(rec.path, "duplicate", f"duplicate id {rec.id!r} in {path.name}; kept the first")
            continue
        why = unreadable_reason(rec.path)
        if why is not None:
            problems.add(rec.path, "missing_file", f"listed in {path.name} but {why}")
            continue
        seen.add(rec.id)
        records.append(rec)
    return records, levels


# ----------------------------------------------------------------------------- folders


def _images_under(folder: Path, problems: ProblemLog) -> list[tuple[str, Path]]:
    """``(relative id, path)`` of every image below ``folder`` at any depth (per-seed or per-prompt
    sub-folders are common sampler layouts), sorted; hidden entries are skipped, other non-image
    files are named. Ids are the relative path without suffix, so ``seed1/0.png`` and
    ``seed2/0.png`` are two images, while ``0.png`` beside ``0.jpg`` is a duplicate."""
    out: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or p.is_dir():
            continue
        if not is_image_path(p):
            from idbench.data.video import is_video_path

            if p.suffix.lower() not in SIDECAR_SUFFIXES and not is_video_path(p):
                problems.add(p, "not_image", f"not an image file (suffix {p.suffix or 'none'!r}; expected one of "
                                             f"{', '.join(sorted(IMAGE_SUFFIXES))})")
            continue
        key = rel.with_suffix("").as_posix()
        if key in out:
            problems.add(p, "duplicate", f"same name as {out[key].name}; kept the first")
            continue
        out[key] = p
    return list(out.items())


def _subject_dirs(root: Path, problems: ProblemLog, what: str = "folder") -> list[tuple[Path, list[tuple[str, Path]]]]:
    """Sub-folders of ``root`` (one per subject) with their images; images lying directly in
    ``root`` and empty sub-folders are named."""
    out = []
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_file() and is_image_path(p):
            problems.add(p, "stray_image", f"image directly in {what} {root}, not in a subject folder; skipped")
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = _images_under(d, problems)
        if not images:
            if not _has_videos(d):
                problems.add(d, "empty", "folder has no images")
            continue
        out.append((d, images))
    return out


def _has_images(d: Path) -> bool:
    from idbench.data.video import is_video_path

    return any(p.is_file() and (is_image_path(p) or is_video_path(p)) for p in d.rglob("*"))


def _has_videos(d: Path) -> bool:
    from idbench.data.video import is_video_path

    return any(p.is_file() and is_video_path(p) for p in d.rglob("*"))


def _generation_layout(root: Path, subject_names: set[str] | None) -> str:
    """``"methods"`` for gen/<method>/<subject>/..., ``"single"`` for gen/<subject>/...

    With known reference subjects, the level whose folder names are subjects decides. Otherwise a
    tree with image folders two levels down is the multi-method layout (stray images directly in a
    method folder do not change that; they are named and skipped)."""
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    second = [g for d in subdirs for g in d.iterdir() if g.is_dir() and not g.name.startswith(".")]
    if subject_names:
        first_hits = sum(d.name in subject_names for d in subdirs)
        second_hits = sum(g.name in subject_names for g in second)
        if first_hits or second_hits:
            return "single" if first_hits > second_hits else "methods"
    if any(_has_images(g) for g in second):
        return "methods"
    return "single"


def read_prompt_sidecar(image: Path, problems: ProblemLog | None = None) -> str | None:
    """Prompt from ``<stem>.txt`` or ``<stem>.json`` (key ``prompt``) beside the image."""
    txt = image.with_suffix(".txt")
    if txt.is_file():
        try:
            return txt.read_text(encoding="utf-8-sig", errors="replace").strip() or None
        except OSError:
            return None
    js = image.with_suffix(".json")
    if js.is_file():
        try:
            obj = json.loads(js.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
            if problems is not None:
                why = e.msg if isinstance(e, json.JSONDecodeError) else ("not UTF-8" if isinstance(e, UnicodeDecodeError) else str(e))
                problems.add(js, "bad_sidecar", f"unreadable prompt sidecar ({why}); prompt ignored", "warning")
            return None
        if isinstance(obj, dict) and obj.get("prompt"):
            return str(obj["prompt"])
    return None


def read_sidecar_extra(image: Path) -> dict[str, str]:
    """From a ``<stem>.json`` sidecar (``idbench generate`` writes one): ``input_reference``,
    ``prompt_index`` and ``seed``, as strings (absent keys left out)."""
    js = image.with_suffix(".json")
    if not js.is_file():
        return {}
    try:
        obj = json.loads(js.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return {}
    if not isinstance(obj, dict):
        return {}
    return {k: str(obj[k]) for k in ("input_reference", "prompt_index", "seed") if obj.get(k) not in (None, "")}


def image_files(path: str | Path) -> list[Path]:
    """Image files named by ``path``: every image under a folder (recursively), or the ``path``
    column of a manifest (relative to the manifest's folder)."""
    path = Path(path)
    if _is_manifest(path):
        rows = read_rows(path)
        return [(p if p.is_absolute() else path.parent / p) for p in (Path(r["path"]) for r in rows if r.get("path"))]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p) and not p.name.startswith("."))
    if path.is_file():
        return [path]
    raise ManifestError(f"{path}: not found")


def _is_manifest(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".csv", ".tsv", ".jsonl", ".ndjson")


# ----------------------------------------------------------------------------- public loaders


def load_references(path: str | Path, problems: ProblemLog | None = None) -> ReferenceSet:
    """References from ``refs/<subject>/*`` or a manifest with ``path,subject[,label columns]``."""
    problems = problems if problems is not None else ProblemLog()
    path = Path(path)
    if _is_manifest(path):
        records, _ = _records_from_manifest(path, problems, required=("path", "subject"), levels=None, with_method=False)
    elif path.is_dir():
        records = [
            ImageRecord(id=f"{d.name}/{rel}", path=p, subject=d.name)
            for d, images in _subject_dirs(path, problems, "the references folder")
            for rel, p in images
        ]
    else:
        raise ManifestError(f"{path}: references not found (give a folder refs/<subject>/*.jpg or a manifest)")
    if not records:
        raise ManifestError(f"{path}: no usable reference images")
    return ReferenceSet(records)


def _video_records(video: Path, rid: str, base: ImageRecord, problems: ProblemLog, frames: int) -> list[ImageRecord]:
    """One record per sampled frame of a generated video (:mod:`idbench.data.video`); a video that
    cannot be decoded is named and skipped."""
    from idbench.cache.store import default_cache_dir
    from idbench.data.video import VideoError, extract_frames

    try:
        got = extract_frames(video, frames, default_cache_dir())
    except (VideoError, OSError) as e:
        problems.add(video, "unreadable_video", str(e))
        return []
    return [ImageRecord(**{**base.__dict__, "id": f"{rid}#{j:03d}", "path": png,
                           "extra": {**base.extra, "video": rid, "frame": str(idx), "video_path": str(video)}})
            for j, (idx, png) in enumerate(got)]


def load_generations(
    path: str | Path, problems: ProblemLog | None = None, *, references: ReferenceSet | None = None,
    video_frames: int = 16,
) -> GenerationSet:
    """Generations from ``gen/<method>/<subject>/<name>.png`` or a manifest with
    ``path,method,subject[,prompt]``. A generated video (``.mp4``, ``.mov``, ...) stands for
    ``video_frames`` evenly spaced frames (:mod:`idbench.data.video`), each a record naming its video.

    When ``references`` is given, a generation whose subject has no references is logged as an
    ``unknown_subject`` problem naming the file and the subject, and skipped.
    """
    problems = problems if problems is not None else ProblemLog()
    path = Path(path)
    if _is_manifest(path):
        from idbench.data.video import is_video_path

        records, _ = _records_from_manifest(
            path, problems, required=("path", "method", "subject"), levels=[], with_method=True
        )
        records = [
            r if r.prompt or is_video_path(r.path) else
            ImageRecord(**{**r.__dict__, "prompt": read_prompt_sidecar(r.path, problems)})
            for r in records
        ]
        records = [x for r in records for x in (_video_records(r.path, r.id, r, problems, video_frames)
                                                 if is_video_path(r.path) else [r])]
    elif path.is_dir():
        records = []
        layout = _generation_layout(path, set(references.subjects) if references is not None else None)
        if layout == "single":
            method_dirs = [(path.name, path)]
        else:
            method_dirs = [(d.name, d) for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith(".")]
            for p in sorted(path.iterdir()):
                if p.is_file() and is_image_path(p) and not p.name.startswith("."):
                    problems.add(p, "stray_image", f"image directly in the generations folder {path}, not in "
                                                   "<method>/<subject>/; skipped")
        for method, mdir in method_dirs:
            subject_dirs = _subject_dirs(mdir, problems, "method folder" if layout == "methods" else "folder")
            if not subject_dirs and layout == "methods":
                problems.add(mdir, "empty_method", f"method {method!r} has no images in <subject>/ folders; left out")
            for d, images in subject_dirs:
                for rel, p in images:
                    records.append(
                        ImageRecord(
                            id=f"{method}/{d.name}/{rel}",
                            path=p,
                            subject=d.name,
                            method=method,
                            prompt=read_prompt_sidecar(p, problems),
                            extra=read_sidecar_extra(p),
                        )
                    )
            from idbench.data.video import is_video_path

            for d in sorted(x for x in mdir.iterdir() if x.is_dir() and not x.name.startswith(".")):
                for v in sorted(q for q in d.rglob("*") if q.is_file() and is_video_path(q) and not q.name.startswith(".")):
                    rid = f"{method}/{d.name}/{v.relative_to(d).with_suffix('').as_posix()}"
                    base = ImageRecord(id=rid, path=v, subject=d.name, method=method,
                                       prompt=read_prompt_sidecar(v, problems), extra=read_sidecar_extra(v))
                    records.extend(_video_records(v, rid, base, problems, video_frames))
    else:
        raise ManifestError(f"{path}: generations not found (give a folder gen/<method>/<subject>/*.png or a manifest)")
    if references is not None:
        from idbench.metrics.labels import closest_labels, describe_missing

        known = set(references.subjects)
        kept = []
        for r in records:
            if r.subject not in known:
                sugg = closest_labels(r.subject, known)
                hint = (f"did you mean {' or '.join(map(repr, sugg))}? labels are compared as written" if sugg else
                        f"reference subjects: {', '.join(sorted(known)[:10])}{', ...' if len(known) > 10 else ''}")
                problems.add(r.path, "unknown_subject", f"generation of subject {r.subject!r} has no references ({hint})")
                continue
            kept.append(r)
        if not kept and records:
            raise ManifestError(f"{path}: no generated image has a subject among the references: "
                                + describe_missing({r.subject for r in records}, known, "the references"))
        records = kept
    if not records:
        raise ManifestError(f"{path}: no usable generated images")
    warn_similar_names(sorted({r.method or "" for r in records}), "method", problems, str(path))
    return GenerationSet(records)


def warn_similar_names(names: list[str], what: str, problems: ProblemLog, source: str) -> None:
    """Warn (``similar_names``) about names that differ only by case, spacing or one letter
    (``Faithful``, ``faithfull`` beside ``faithful``): they are kept apart, as written."""
    from idbench.metrics.labels import near_identical

    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if near_identical(a, b):
                problems.add(f"{what}s {a} / {b}", "similar_names", f"{what}s {a!r} and {b!r} in {source} differ only by case or one letter; they "
                                                      f"are scored as two {what}s (rename one if they are the same)",
                             "warning")


def load_gallery(
    path: str | Path, problems: ProblemLog | None = None, *, levels: list[str] | None = None
) -> Gallery:
    """A labelled gallery from a manifest (``path,subject`` + label columns) or a folder tree
    ``<label1>/.../<subject>/*.jpg``.

    ``levels`` (coarse to fine, ending in ``subject``) defaults to the label columns that have one
    value per subject.
    """
    problems = problems if problems is not None else ProblemLog()
    path = Path(path)
    if _is_manifest(path):
        records, levels = _records_from_manifest(path, problems, required=("path", "subject"), levels=levels, with_method=False)
    elif path.is_dir():
        images = sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p) and not p.name.startswith("."))
        depths = {len(p.relative_to(path).parts) for p in images}
        if len(depths) > 1:
            raise ManifestError(f"{path}: images at different folder depths {sorted(depths)}; use a manifest")
        depth = depths.pop() if depths else 0
        names = (list(levels)[:-1] if levels else [f"level{i}" for i in range(depth - 2)])
        if len(names) != depth - 2:
            raise ManifestError(f"{path}: {depth - 1} folder levels but levels={levels}")
        records = []
        for p in images:
            parts = p.relative_to(path).parts
            labels = dict(zip(names, parts[:-2]))
            records.append(ImageRecord(id=str(Path(*parts).with_suffix("")), path=p, subject=parts[-2], labels=labels))
        levels = names + ["subject"]
    else:
        raise ManifestError(f"{path}: gallery not found (give a manifest or a folder)")
    if not records:
        raise ManifestError(f"{path}: no usable gallery images")
    return Gallery(records, levels=tuple(levels))
