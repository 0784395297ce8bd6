"""DreamBench (google/dreambooth): ``dataset/<subject>/*.jpg`` and ``dataset/prompts_and_classes.txt``.

The prompt file holds a ``subject_name,class`` table, then two 25-prompt lists (objects, and live
subjects: cats and dogs), each prompt a Python format string with ``{0}`` = the unique token and
``{1}`` = the class noun. The classes become the ``class`` label level of the references.
Generations stay in ``<method>/<subject>/``; each is matched to its prompt by the prompt index
read from its path (:func:`prompt_index`), and the prompt text is filled with ``unique_token``
(default ``sks``) and the class. The rule, in order:

1. a number marked as the prompt: ``prompt07``, ``prompt_07``, ``p07`` (file name or folder);
2. a numeric per-prompt folder: ``<subject>/07/0.png``;
3. the file name's numbers that are not marked as something else (``seed``, ``s``, ``sample``,
   ``img``, ``image``, ``idx``, ``step``, ``n``): ``07.png``, ``seed1_07.png`` -> 7; when several
   remain (``07_1.jpg``) the first is used and the folder is named once as ``ambiguous_prompt_index``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from idbench.data.layout import Layout
from idbench.data.manifest import ManifestError
from idbench.data.records import ReferenceSet

PROMPT_FILE = "prompts_and_classes.txt"
LIVE_CLASSES = {"cat", "dog"}


def _dataset_dir(path: Path) -> Path | None:
    for d in (path, path / "dataset"):
        if (d / PROMPT_FILE).is_file():
            return d
    return None


def parse_prompt_file(text: str, duplicates: list | None = None) -> tuple[dict[str, str], list[str], list[str]]:
    """``(classes {subject: class}, object prompts, live-subject prompts)`` as format strings.
    A subject listed twice in the class table keeps its first class (appended to ``duplicates``)."""
    classes: dict[str, str] = {}
    lists: list[list[str]] = []
    current: list[str] | None = None
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if line == "subject_name,class":
            in_table = True
            continue
        if in_table:
            if not line:
                in_table = False
                continue
            subj, _, cls = line.partition(",")
            if subj.strip() in classes:
                if duplicates is not None:
                    duplicates.append((subj.strip(), classes[subj.strip()], cls.strip()))
                continue
            classes[subj.strip()] = cls.strip()
            continue
        if line.startswith("prompt_list"):
            current = []
            continue
        if current is not None:
            if line.startswith("]"):
                lists.append(current)
                current = None
                continue
            m = re.match(r"""^(['"])(.*)\1\.format""", line)
            if m:
                current.append(m.group(2))
    if not classes or len(lists) < 2:
        raise ManifestError(f"{PROMPT_FILE}: expected a subject_name,class table and two prompt lists")
    return classes, lists[0], lists[1]


_MARKED = re.compile(r"(?i)(?:^|[^a-z])(prompt|p)[_-]?(\d+)")
_OTHER = re.compile(r"(?i)(?:seed|sample|image|img|idx|step|(?:^|[^a-z])[sn])[_-]?$")


def fill_prompt(template: str, token: str, cls: str) -> str:
    """DreamBench's ``template.format(token, class)``, replacing only ``{0}`` / ``{1}`` (and ``{}``
    in order): any other brace in a prompt is kept as written, never an error.

    >>> fill_prompt("a {0} {1} with {curly} braces", "sks", "dog"), fill_prompt("a {} {}", "sks", "dog")
    ('a sks dog with {curly} braces', 'a sks dog')
    """
    out = template.replace("{0}", token).replace("{1}", cls)
    if "{}" in out:
        out = out.replace("{}", token, 1).replace("{}", cls, 1)
    return out


def prompt_index(name: str, folder: str = "") -> tuple[int | None, bool]:
    """``(index, ambiguous)`` read from a file name and its folder by the rule of the module
    docstring; ``ambiguous`` when several unmarked numbers were left in the name.

    >>> prompt_index("seed1_07"), prompt_index("prompt07_seed2"), prompt_index("0", "07"), prompt_index("07_1")
    ((7, False), (7, False), (7, False), (7, True))
    >>> prompt_index("dogs_07"), prompt_index("s3_12"), prompt_index("img")
    ((7, False), (12, False), (None, False))
    """
    for text in (name, folder):
        m = _MARKED.search(text)
        if m:
            return int(m.group(2)), False
    if folder.isdigit():
        return int(folder), False
    free = [int(m.group()) for m in re.finditer(r"\d+", name) if not _OTHER.search(name[: m.start()])]
    if free:
        return free[0], len(free) > 1
    m = re.search(r"\d+", folder)
    return (int(m.group()), False) if m else (None, False)


def _detect(path: Path, role: str) -> bool:
    return role == "refs" and path.is_dir() and _dataset_dir(path) is not None


def _read(path: Path, role: str, problems, context: dict) -> dict:
    from idbench.data.manifest import load_references

    d = _dataset_dir(path)
    raw = (d / PROMPT_FILE).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        text = raw.decode("latin-1")
        problems.add(d / PROMPT_FILE, "encoding", f"not UTF-8 (byte {e.start}); read as Latin-1", "warning")
    dups: list = []
    classes, objects, live = parse_prompt_file(text, dups)
    for subj, first, again in dups:
        problems.add(d / PROMPT_FILE, "duplicate", f"subject {subj!r} is listed twice in the class table ({first!r}, "
                                                   f"then {again!r}); kept {first!r}", "warning")
    refs = load_references(d, problems)
    recs = []
    for r in refs:
        if r.subject not in classes:
            problems.add(r.path, "unknown_subject", f"subject {r.subject!r} is not in {PROMPT_FILE}; no class label",
                         "warning")
            recs.append(r)
            continue
        recs.append(replace(r, labels={"class": classes[r.subject]}))
    token = context.get("unique_token", "sks")

    def prompts_for(subject: str) -> list[str]:
        cls = classes.get(subject, subject)
        return [fill_prompt(p, token, cls) for p in (live if cls in LIVE_CLASSES else objects)]

    def name_prompts(gens, problems_):
        out = []
        for g in gens:
            k, ambiguous = prompt_index(g.path.stem, g.path.parent.name if g.path.parent.name != g.subject else "")
            if ambiguous and g.prompt is None:
                problems_.add(g.path.parent, "ambiguous_prompt_index",
                              f"file names such as {g.path.name!r} hold several numbers; the prompt index is the first "
                              "one not marked as a seed or sample (name files prompt07_seed1.png to be explicit)",
                              "warning")
            plist = prompts_for(g.subject)
            if g.prompt is None and k is not None and 0 <= k < len(plist):
                g = replace(g, prompt=plist[k], extra={**g.extra, "prompt_index": str(k)})
            elif g.prompt is None:
                problems_.add(g.path, "no_prompt", f"no prompt index 0-{len(plist) - 1} in the file name; prompt unknown",
                              "warning")
            out.append(g)
        gens.records = out
        return gens

    context["name_prompts"] = name_prompts
    context["dreambench_prompts"] = prompts_for
    return {"references": ReferenceSet(recs)}


LAYOUT = Layout("dreambench", _detect, _read,
                       "a dataset/ folder with <subject>/*.jpg and prompts_and_classes.txt (google/dreambooth)",
                       roles=("refs",), order=10)
