"""The import layers stay as built: a module imports only from its own layer or the layers below it.

Every ``import idbench...`` counts, at module level or inside a function (a lazy import is still a
dependency). Layers, lowest first:

0. leaves: the package root, ``atomic`` (whole-file writes), ``embedding`` (ImageEmbedding),
   ``registry``, ``safe_names``, ``net``, ``weights``, ``progress``, ``section`` (typed sections),
   ``baselines`` (the real and impostor levels, written by similarity and the judge);
1. ``stats``, ``options``;
2. ``metrics``: pure functions (no data, cache, encoder or model loading);
3. the data core (``data.images``, ``data.records``, ``data.problems``, ``data.video``) and ``cache``;
4. ``encoders``, ``embed`` (the one cached map over images), ``nearid.head``, ``judge`` (the VLM judge);
5. the rest of ``data`` (manifests, layouts, content audit, ratings), ``results``, ``folder``;
6. ``views`` (the kit every protocol's views are built with);
7. ``protocols``;
8. ``presets``, ``generate``, ``generators``, ``scale``, ``world``, ``distractors``, ``nearid`` pipelines;
9. ``report``;
10. ``study``, ``write`` (a results folder written as one unit);
11. ``cli``.

Besides the layers: ``report`` and ``cli`` reach protocols through the registry
(``protocols.registry``) only, never a protocol's own module.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: module prefix -> layer (the longest matching prefix decides)
LAYERS = {
    "idbench": 0, "idbench.atomic": 0, "idbench.embedding": 0, "idbench.registry": 0, "idbench.safe_names": 0,
    "idbench.net": 0, "idbench.weights": 0, "idbench.progress": 0, "idbench.section": 0, "idbench.baselines": 0,
    "idbench.stats": 1, "idbench.options": 1,
    "idbench.metrics": 2,
    "idbench.data.images": 3, "idbench.data.records": 3, "idbench.data.problems": 3, "idbench.data.video": 3,
    "idbench.cache": 3,
    "idbench.encoders": 4, "idbench.embed": 4, "idbench.nearid.head": 4, "idbench.judge": 4,
    "idbench.data": 5, "idbench.results": 5, "idbench.folder": 5,
    "idbench.views": 6,
    "idbench.protocols": 7,
    "idbench.presets": 8, "idbench.generate": 8, "idbench.generators": 8, "idbench.scale": 8, "idbench.world": 8,
    "idbench.distractors": 8, "idbench.nearid": 8,
    "idbench.report": 9,
    "idbench.write": 10, "idbench.study": 10,
    "idbench.cli": 11,
}


def layer(module: str) -> int:
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in LAYERS:
            return LAYERS[".".join(parts[:k])]
    raise AssertionError(f"{module}: in no layer (add it to LAYERS)")


def imports() -> list[tuple[str, str, int]]:
    """``(importer, imported, line)`` for every import of an idbench module inside idbench."""
    out = []
    for path in sorted((SRC / "idbench").rglob("*.py")):
        mod = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("idbench"):
                for a in node.names:  # `from idbench.protocols import nearid_views` imports a module
                    sub = f"{node.module}.{a.name}"
                    out.append((mod, sub if (SRC / Path(*sub.split("."))).with_suffix(".py").exists()
                                or (SRC / Path(*sub.split("."))).is_dir() else node.module, node.lineno))
            elif isinstance(node, ast.Import):
                out += [(mod, a.name, node.lineno) for a in node.names if a.name.startswith("idbench")]
    return out


def test_every_module_is_in_a_layer():
    for mod, target, _ in imports():
        layer(mod), layer(target)


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{mod}:{line} imports {target} (layer {layer(mod)} -> {layer(target)})"
              for mod, target, line in imports() if layer(target) > layer(mod)]
    assert upward == []


def test_report_and_cli_reach_protocols_through_the_registry_only():
    direct = [f"{mod}:{line} imports {target}" for mod, target, line in imports()
              if mod.startswith(("idbench.report", "idbench.cli")) and target.startswith("idbench.protocols")
              and target != "idbench.protocols.registry"]
    assert direct == []


def test_metrics_stay_pure():
    """Metric functions take arrays and return numbers: no files, caches, encoders or models."""
    impure = [f"{mod}:{line} imports {target}" for mod, target, line in imports()
              if mod.startswith("idbench.metrics") and not target.startswith(("idbench.metrics", "idbench.stats"))]
    assert impure == []


def test_the_check_sees_a_violation():
    """The rule is live: an upward import (a metric reaching the study) would be reported."""
    assert layer("idbench.study") > layer("idbench.metrics.rca")
    assert layer("idbench.protocols.retrieval_views") > layer("idbench.views.table")


def test_metrics_do_no_file_io():
    """No metric module opens, writes or saves a file, or reads the environment: I/O belongs to the
    data, cache and encoder layers."""
    calls = ("open", "savez", "save", "load", "write_text", "write_bytes", "read_text", "read_bytes", "mkdir",
             "unlink", "getenv", "environ")
    io_modules = ("os", "shutil", "pathlib", "sqlite3", "tempfile", "pickle", "requests", "urllib")
    found = []
    for path in sorted((SRC / "idbench" / "metrics").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}:{node.lineno} imports {m}" for m in mods if m.split(".")[0] in io_modules]
            name = (node.func.attr if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else
                    node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else
                    node.attr if isinstance(node, ast.Attribute) and node.attr == "environ" else None)
            if name in calls:
                found.append(f"{path.name}:{node.lineno} {name}")
    assert found == []
