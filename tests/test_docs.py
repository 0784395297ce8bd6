"""The README and docs name only flags that exist, and no path outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from idbench.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    """The (sub)command named by the leading words of ``idbench <words...>``."""
    ctx = click.Context(cli)
    cmd: click.Command = cli
    used = []
    for w in words:
        if not isinstance(cmd, click.Group):
            break
        sub = cmd.get_command(ctx, w)
        if sub is None:
            break
        cmd, used = sub, [*used, w]
    return cmd, used


def _invocations(text: str):
    for line in text.splitlines():
        for m in re.finditer(r"idbench ((?:[a-z][\w-]*)(?: [a-z][\w-]*)?)([^`#;&|]*)", line):
            yield m.group(0)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documented_commands_use_existing_flags(doc):
    text = doc.read_text(encoding="utf-8")
    checked = 0
    for inv in _invocations(text):
        words = inv.split()[1:]
        cmd, used = _command(words)
        if not used:
            continue  # "idbench evaluates ..." in prose
        flags = {"--help", "-h"} | {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", " ".join(words[len(used):])):
            assert flag in flags, f"{doc.name}: `{inv.strip()}` uses {flag}, which `idbench {' '.join(used)}` lacks"
        checked += 1
    if doc.name == "README.md":
        assert checked >= 15


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_point_only_inside_the_repository(doc):
    assert "../shared" not in doc.read_text(encoding="utf-8"), doc.name
