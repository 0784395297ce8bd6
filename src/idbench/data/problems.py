"""A log of inputs that were skipped, each named with its reason, and counted in every summary."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path


class IdbenchWarning(UserWarning):
    """A problem with the inputs of a study (copies, missing faces, unknown labels, ...), emitted
    once per kind by :meth:`ProblemLog.warn`."""


@dataclass(frozen=True)
class Problem:
    """One skipped or suspicious input.

    ``kind`` is a short machine-readable category (``corrupt``, ``not_image``, ``too_large``,
    ``duplicate``, ``unknown_subject``, ``missing_column``, ``missing_file``, ``empty``,
    ``no_face``, ...); ``reason`` is the human-readable message.
    """

    path: str
    kind: str
    reason: str
    action: str = "skipped"  # what idbench did: skipped, removed, flagged, warning

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class ProblemLog:
    """Collects :class:`Problem` entries from any thread; never raises.

    >>> log = ProblemLog()
    >>> log.add("a.jpg", "corrupt", "cannot decode: truncated")
    Problem(path='a.jpg', kind='corrupt', reason='cannot decode: truncated', action='skipped')
    >>> log.counts()
    {'corrupt': 1}
    """

    def __init__(self, echo=None, echo_per_kind: int = 3) -> None:
        self._items: list[Problem] = []
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._echo = echo  # callable(str) to report problems as they happen, e.g. click.echo to stderr
        self._echo_per_kind = echo_per_kind  # lines echoed per kind; the rest are only counted
        self._echoed: Counter = Counter()

    def add(self, path: str | Path, kind: str, reason: str, action: str = "skipped") -> Problem:
        """Log a problem; the same (path, kind) met again by a later step is logged once.

        ``action`` says what was done with the input: ``skipped`` (default), ``removed``,
        ``flagged`` (kept and marked) or ``warning`` (kept as it is)."""
        p = Problem(_safe_text(path), kind, reason, action)
        with self._lock:
            if (p.path, kind) in self._seen:
                return p
            self._seen.add((p.path, kind))
            self._items.append(p)
        if self._echo is not None:
            with self._lock:
                self._echoed[kind] += 1
                n = self._echoed[kind]
            if n <= self._echo_per_kind:
                self._echo(f"{p.action} {p}")
            elif n == self._echo_per_kind + 1:
                self._echo(f"... more {kind!r} problems: counted below, each named in problems.csv")
        return p

    def by_kind(self) -> dict[str, list[Problem]]:
        """``{kind: its problems}``, kinds in the order first met."""
        out: dict[str, list[Problem]] = {}
        for p in self.items:
            out.setdefault(p.kind, []).append(p)
        return out

    def warn(self, n_examples: int = 2) -> None:
        """Emit one :class:`IdbenchWarning` per kind of problem (count, action, first examples), so a
        notebook or script shows them."""
        import warnings

        for kind, ps in self.by_kind().items():
            actions = ", ".join(sorted({p.action for p in ps}))
            ex = "; ".join(str(p) for p in ps[:n_examples])
            more = f" (and {len(ps) - n_examples} more)" if len(ps) > n_examples else ""
            warnings.warn(IdbenchWarning(f"{len(ps)} {kind} ({actions}): {ex}{more}"), stacklevel=3)

    def write_csv(self, path: str | Path) -> None:
        """Every problem as a row of ``path`` (path, kind, action, reason), written atomically."""
        import csv
        import io

        from idbench.atomic import atomic_write_bytes

        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(["path", "kind", "action", "reason"])
        for p in self.items:
            w.writerow([p.path, p.kind, p.action, p.reason])
        atomic_write_bytes(Path(path), buf.getvalue().encode("utf-8"))

    def extend(self, other: "ProblemLog") -> None:
        for p in other.items:
            self.add(p.path, p.kind, p.reason, p.action)

    @property
    def items(self) -> list[Problem]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def counts(self, action: str | None = None) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.items if action is None or p.action == action))

    def by_action(self) -> dict[str, int]:
        return dict(Counter(p.action for p in self.items))

    def to_dict(self) -> dict:
        items = self.items
        return {"count": len(items), "by_kind": self.counts(), "by_action": self.by_action(),
                "items": [asdict(p) for p in items]}


def _safe_text(path) -> str:
    """A path as text that can always be written (undecodable bytes of a file name become \\xNN)."""
    s = str(path)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
