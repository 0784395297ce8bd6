"""`idbench generate`: run a generator over a benchmark's subjects, prompts and seeds.

Writes ``<out>/<method>/<subject>/<prompt index>_<seed>.png`` and beside each image a JSON sidecar
(prompt, prompt index, seed, generator spec and parameters, the reference images given, time,
idbench version), plus ``<out>/<method>/generation.json`` for the run. ``idbench run --gen <out>``
reads the prompts and input references back from the sidecars.

Generators come from the plug-in registry (entry-point group ``idbench.generators``):

* ``python:<module>:<function>`` -- ``f(references: list[PIL.Image], prompt: str, seed: int, **params)
  -> PIL.Image | list[PIL.Image]``: one's own method;
* ``diffusers:<model id or folder>`` -- diffusers' ``AutoPipelineForText2Image`` (with an IP-Adapter
  when ``ip_adapter=<repo>`` is given and the pipeline supports ``load_ip_adapter``).

Resumable: an image that exists with its sidecar is not generated again. Each image is written
through a temporary file. A prompt that fails is named and counted; the others go on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from idbench.data.problems import ProblemLog
from idbench.options import Option
from idbench.registry import Registry

GENERATORS = Registry("idbench.generators", "generator")

#: a study file's ``[generate]`` table (``idbench run study.toml`` generates what is missing, then evaluates)
GENERATE_OPTIONS = (
    Option("generator", "str", None, "python:<module or file.py>:<function>, or diffusers:<model id or folder>",
           nullable=False),
    Option("method", "name", None, "the method's name: the folder <gen>/<method>/", nullable=False),
    Option("seeds", "list", ["0"], "seeds"),
    Option("prompt_ids", "str", None, "prompt indices, e.g. 0-24 or 0,3,7 (default: all)"),
    Option("subjects", "list", None, "subjects (default: all)"),
    Option("params", "table", None, "key = value passed to the generator"),
    Option("prompts", "path", None, "a prompt file (default: the layout's prompts)"),
    Option("token", "str", "sks", "the identifier token filled into the prompts"),
    Option("n_refs", "int", None, "references given per subject (default: all)", minimum=1),
)


@dataclass
class Job:
    subject: str
    prompt_index: int
    prompt: str
    seed: int
    references: list[Path]

    def stem(self) -> str:
        return f"{self.prompt_index:02d}_{self.seed}"


@dataclass
class Generator:
    """A callable ``(references, prompt, seed) -> list of PIL images`` with its spec and parameters."""

    spec: str
    fn: Callable
    params: dict = field(default_factory=dict)

    def __call__(self, references, prompt: str, seed: int) -> list:
        return self.run(references, prompt, seed)[0]

    def run(self, references, prompt: str, seed: int) -> tuple[list, int | None]:
        """``(images, index of the reference it used or None)``: a generator may return a dict
        ``{"image" | "images": ..., "input_reference": index or file name}``."""
        out = self.fn(references, prompt, seed, **self.params)
        used = None
        if isinstance(out, dict):
            used = out.get("input_reference")
            out = out.get("images", out.get("image"))
        images = list(out) if isinstance(out, (list, tuple)) else [out] if out is not None else []
        return images, used


def create_generator(spec: str, params: dict | None = None, device: str | None = None) -> Generator:
    name, _, arg = spec.partition(":")
    factory = GENERATORS.get(name)
    return factory(arg or None, params=dict(params or {}), device=device, spec=spec)


def parse_params(items: Sequence[str]) -> dict:
    """``["steps=30", "guidance=7.5", "name=x"]`` -> ``{"steps": 30, "guidance": 7.5, "name": "x"}``.

    >>> parse_params(["steps=30", "guidance=7.5", "scheduler=ddim", "flag=true"])
    {'steps': 30, 'guidance': 7.5, 'scheduler': 'ddim', 'flag': True}
    """
    out = {}
    for it in items:
        k, eq, v = it.partition("=")
        if not eq or not k.strip():
            raise ValueError(f"--param {it!r}: expected key=value")
        v = v.strip()
        for conv in (int, float):
            try:
                out[k.strip()] = conv(v)
                break
            except ValueError:
                continue
        else:
            out[k.strip()] = {"true": True, "false": False}.get(v.lower(), v)
    return out


def parse_ids(text: str | None, n: int) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]`` (``None``: all ``n``).

    >>> parse_ids("0-2,5", 25), parse_ids(None, 3)
    ([0, 1, 2, 5], [0, 1, 2])
    """
    if not text:
        return list(range(n))
    out: list[int] = []
    for part in text.split(","):
        a, dash, b = part.strip().partition("-")
        if not a.strip().isdigit() or (dash and not b.strip().isdigit()):
            raise ValueError(f"prompt ids: {part!r} is not N or N-M")
        out += list(range(int(a), int(b) + 1)) if dash else [int(a)]
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise ValueError(f"prompt ids {bad} are outside 0-{n - 1}")
    return sorted(dict.fromkeys(out))


def plan(references, prompts_for: Callable[[str], list[str]], *, subjects: Sequence[str] | None = None,
         prompt_ids: str | None = None, seeds: Sequence[int] = (0,), n_refs: int | None = None) -> list[Job]:
    """Every (subject, prompt, seed) to generate, with the reference images given to the generator."""
    by = references.by_subject()
    chosen = list(subjects) if subjects else sorted(by)
    unknown = [s for s in chosen if s not in by]
    if unknown:
        from idbench.registry import did_you_mean

        raise ValueError("unknown subject(s): " + ", ".join(f"{s!r}{did_you_mean(s, by)}" for s in unknown))
    jobs = []
    for s in chosen:
        plist = prompts_for(s)
        if not plist:
            raise ValueError(f"no prompts for subject {s!r} (give --prompts FILE)")
        refs = [r.path for r in sorted(by[s], key=lambda r: r.id)][: n_refs or None]
        for k in parse_ids(prompt_ids, len(plist)):
            jobs += [Job(s, k, plist[k], int(seed), refs) for seed in seeds]
    return jobs


def run_generation(generator: Generator, jobs: list[Job], out_dir: str | Path, method: str, *,
                   problems: ProblemLog | None = None, progress: bool = True) -> dict:
    """Generate what is missing; returns counts (generated, skipped as done, failed)."""
    import idbench
    from idbench.atomic import atomic_write_bytes
    from idbench.progress import progress_bar

    problems = problems if problems is not None else ProblemLog()
    root = _method_folder(out_dir, method)
    counts = {"jobs": len(jobs), "generated": 0, "done_before": 0, "failed": 0}
    todo = []
    for j in jobs:
        img = root / j.subject / f"{j.stem()}.png"
        if img.is_file() and img.with_suffix(".json").is_file():
            stale = _stale(img.with_suffix(".json"), j, generator)
            if stale is None:
                counts["done_before"] += 1
                continue
            problems.add(img, "stale_generation", f"made with {stale}; generated again", "warning")
            counts.setdefault("regenerated", 0)
            counts["regenerated"] += 1
        todo.append(j)
    bar = progress_bar(len(todo), f"generating [{method}]", enabled=progress, unit="img")
    ref_cache: dict[Path, object] = {}
    t0 = time.perf_counter()
    for j in todo:
        img = root / j.subject / f"{j.stem()}.png"
        try:
            from idbench.data.images import load_image

            refs = [ref_cache.setdefault(p, load_image(p)) for p in j.references]
            images, used = generator.run(refs, j.prompt, j.seed)
            if not images:
                raise ValueError("the generator returned no image")
            import io

            buf = io.BytesIO()
            output_rgb(images[0]).save(buf, format="PNG")
            atomic_write_bytes(img, buf.getvalue())
            side = {"prompt": j.prompt, "prompt_index": j.prompt_index, "seed": j.seed, "subject": j.subject,
                    "method": method, "generator": generator.spec, "params": generator.params,
                    "references": [str(p) for p in j.references],
                    "input_reference": _used_reference(used, j.references),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "idbench_version": idbench.__version__}
            atomic_write_bytes(img.with_suffix(".json"), json.dumps(side, indent=1, default=str).encode("utf-8"))
            counts["generated"] += 1
        except Exception as e:  # one failing prompt never stops the others
            counts["failed"] += 1
            problems.add(img, "generation_failed", f"prompt {j.prompt_index} ({j.prompt!r}), seed {j.seed}: "
                                                   f"{type(e).__name__}: {e}")
        bar.update(1)
    bar.close()
    counts["seconds"] = round(time.perf_counter() - t0, 2)
    root.mkdir(parents=True, exist_ok=True)
    record = {"method": method, "generator": generator.spec, "params": generator.params, "counts": counts,
              "idbench_version": idbench.__version__, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_bytes(root / "generation.json", json.dumps(record, indent=1, default=str).encode("utf-8"))
    return counts


def references_and_prompts(refs_path, prompts_path=None, token: str = "sks", layout=None, problems=None):
    """``(ReferenceSet, prompts_for(subject) -> list[str])``: the layout's prompts (DreamBench,
    DreamBench++), or the lines of ``prompts_path`` with ``{0}`` / ``{1}`` (or ``{}``) filled with the
    identifier token and the subject's class."""
    from idbench.data.layout import read_layout
    from idbench.data.layouts.dreambench import fill_prompt
    from idbench.data.manifest import load_references

    problems = problems if problems is not None else ProblemLog()
    ctx: dict = {"unique_token": token}
    found = read_layout(Path(refs_path), problems, name=layout, role="refs", context=ctx)
    refs = found["references"] if found is not None else load_references(Path(refs_path), problems)
    classes = {r.subject: r.labels.get("class", r.subject) for r in refs}
    if prompts_path is not None:
        lines = [x.strip() for x in read_prompt_file(prompts_path).splitlines() if x.strip()]
        for n, line in enumerate(lines, 1):
            check_template(line, f"{prompts_path}: prompt {n}")
        return refs, lambda s: [fill_prompt(t, token, classes.get(s, s)) for t in lines]
    if "dreambench_prompts" in ctx:
        return refs, ctx["dreambench_prompts"]
    if "dreambenchpp_prompts" in ctx:
        return refs, lambda s: list(ctx["dreambenchpp_prompts"].get(s, []))
    raise ValueError(f"{refs_path}: no prompts in this layout; give a prompt file")


def _stale(sidecar: Path, job: "Job", generator: "Generator") -> str | None:
    """Why an image already there does not belong to this job (another prompt, generator or parameters
    under the same method and file name), or None when it does. An unreadable sidecar is stale too."""
    try:
        side = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "an unreadable sidecar"
    if not isinstance(side, dict):
        return "an unreadable sidecar"
    want = {"prompt": job.prompt, "seed": job.seed, "generator": generator.spec,
            "params": json.loads(json.dumps(generator.params, default=str))}
    for k, v in want.items():
        if side.get(k) != v:
            return f"another {k} ({side.get(k)!r}, now {v!r})"
    return None


def _used_reference(used, references: list[Path]) -> str:
    """The file name of the reference the image was generated from: the one the generator named (an
    index or a name), the only one it was given, else empty (several given, none named: never guessed)."""
    names = [p.name for p in references]
    if isinstance(used, int) and not isinstance(used, bool) and 0 <= used < len(names):
        return names[used]
    if isinstance(used, str) and used:
        if used in names or Path(used).name in names:
            return Path(used).name
        raise ValueError(f"the generator named input_reference {used!r}, which is not among its references "
                         f"({', '.join(names)})")
    return names[0] if len(names) == 1 else ""


def output_rgb(im):
    """A generator's image as the 8-bit RGB saved: 16-bit images rescaled from their range, float images
    read as [0, 1] (or [0, 255] when their values exceed 1), transparency composited on white
    (:func:`idbench.data.images.to_rgb`), where PIL's own ``convert("RGB")`` would clip them to white or
    black and drop the alpha.

    >>> from PIL import Image
    >>> output_rgb(Image.new("F", (1, 1), 0.5)).getpixel((0, 0))
    (128, 128, 128)
    """
    import numpy as np
    from PIL import Image

    from idbench.data.images import to_rgb

    def floats_to_8bit(a):
        a = np.asarray(a, np.float64)
        if not np.isfinite(a).all():
            raise ValueError("the generated image has NaN or infinite pixels")
        return np.clip(a * (255.0 if a.max(initial=0) <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)

    if isinstance(im, np.ndarray):
        a = np.asarray(im)
        if a.dtype.kind == "f":
            a = floats_to_8bit(a)
        elif a.dtype not in (np.uint8, np.uint16):
            a = np.clip(a, 0, 255).astype(np.uint8)
        im = Image.fromarray(a)
    if not hasattr(im, "mode"):
        raise TypeError(f"the generator returned a {type(im).__name__}, not an image")
    if im.mode == "F":
        return Image.fromarray(floats_to_8bit(im), mode="L").convert("RGB")
    return to_rgb(im)


def _method_folder(out_dir, method) -> Path:
    """``out_dir / method``, made and checked writable before the first image is generated; a method name
    that is not one folder name (``../x``, an absolute path) or an output that cannot be written is an
    error at once."""
    from idbench.folder import check_writable
    from idbench.options import is_segment

    if not is_segment(method):
        raise ValueError(f"method {method!r}: a method's name is one folder name inside the output folder (no / or \\, "
                         "not . or .., not an absolute path)")
    return check_writable(Path(out_dir) / method, "the generated images")


def check_template(line: str, where: str) -> None:
    """A prompt template may hold ``{0}`` (the identifier token), ``{1}`` (the class) or ``{}``; any other
    numbered placeholder, or a brace left open around a number, is an error naming the prompt (it would
    reach the generator as written).

    >>> check_template("a photo of {0} {1}", "p")
    >>> check_template("a {2} photo", "prompts.txt: prompt 3")
    Traceback (most recent call last):
    ...
    ValueError: prompts.txt: prompt 3: placeholder {2} is not filled (only {0}: the token, {1}: the class, and {})
    """
    import re

    for m in re.finditer(r"\{(\d+)\}", line):
        if m.group(1) not in ("0", "1"):
            raise ValueError(f"{where}: placeholder {{{m.group(1)}}} is not filled (only {{0}}: the token, {{1}}: the "
                             "class, and {})")
    broken = re.search(r"\{\d+(?![\d}])|(?<![{\d])\d+\}", line)
    if broken:
        raise ValueError(f"{where}: a placeholder brace is not closed or not opened near {broken.group(0)!r} in {line!r}")


def read_prompt_file(path) -> str:
    """A prompt file's text: UTF-8 (with or without a BOM) or UTF-16 with its BOM; anything else is an
    error naming the file and the encodings read."""
    raw = Path(path).read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: the prompt file is not UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r}); save it as "
                         "UTF-8 (or UTF-16 with a byte-order mark)") from None


def parse_seeds(values) -> list[int]:
    """Seeds as integers; one that is not is named with the option.

    >>> parse_seeds(["0", " 7"])
    [0, 7]
    """
    out = []
    for v in values:
        try:
            out.append(int(str(v).strip()))
        except ValueError:
            raise ValueError(f"--seeds / generate.seeds: {v!r} is not a whole number (give e.g. 0,1,2)") from None
    return out


def generate_missing(table: dict, refs_path, gen_path, *, layout=None, device=None, problems=None,
                     progress: bool = True) -> dict:
    """A study's ``[generate]`` table: generate what is missing into ``gen_path``. The method name, the seeds
    and the output folder are checked before anything is loaded or generated."""
    seeds = parse_seeds(table.get("seeds") or ["0"])
    _method_folder(gen_path, table.get("method"))
    refs, prompts_for = references_and_prompts(refs_path, table.get("prompts"), table.get("token") or "sks", layout,
                                               problems)
    jobs = plan(refs, prompts_for, subjects=table.get("subjects"), prompt_ids=table.get("prompt_ids"),
                seeds=seeds, n_refs=table.get("n_refs"))
    gen = create_generator(table["generator"], dict(table.get("params") or {}), device=device)
    return run_generation(gen, jobs, gen_path, table["method"], problems=problems, progress=progress)
