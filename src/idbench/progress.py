"""Progress that fits where it goes: a tqdm bar on a terminal, plain timestamped lines every few
seconds when stderr is a file or a CI log (no carriage returns), nothing with ``--quiet``.

>>> with progress_bar(3, "demo", enabled=False) as bar:
...     bar.update(3)
"""

from __future__ import annotations

import sys
import time


class _Silent:
    n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, *a, **k) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LineProgress(_Silent):
    """``HH:MM:SS desc: n/total unit (rate unit/s)`` at most every ``every`` seconds, and at the end."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", every: float = 5.0, stream=None):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.stream = stream if stream is not None else sys.stderr
        self.n, self.t0 = 0, time.monotonic()
        self._last = self.t0
        self._printed = False
        self._closed = False

    def _line(self, final: bool = False) -> None:
        el = max(time.monotonic() - self.t0, 1e-9)
        total = f"/{self.total}" if self.total else ""
        done = " done" if final else ""
        self.stream.write(f"{time.strftime('%H:%M:%S')} {self.desc}: {self.n}{total} {self.unit} "
                          f"({self.n / el:.1f} {self.unit}/s, {el:.0f} s){done}\n")
        self.stream.flush()
        self._printed = True

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._line()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._printed or time.monotonic() - self.t0 >= self.every:
                self._line(final=True)


def progress_bar(total: int | None, desc: str, *, enabled: bool = True, unit: str = "it", every: float = 5.0):
    """A progress object with ``update(n)``, ``close()`` and context-manager use."""
    if not enabled:
        return _Silent()
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=False)
    return LineProgress(total, desc, unit, every)
