"""``python:<module>:<function>``: one's own method as a generator.

The function is called as ``f(references: list[PIL.Image], prompt: str, seed: int, **params)`` and
returns a PIL image (or a list of them; the first is kept), or a dict ``{"image": ..., "input_reference":
<index into references, or the file name>}`` naming the reference it actually used (recorded in the
sidecar; with one reference given, that one). ``<module>`` may be a dotted module on the path or a
``.py`` file.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path


def make(arg: str | None = None, *, params: dict | None = None, device: str | None = None, spec: str = ""):
    from idbench.generate import Generator

    if not arg or ":" not in arg:
        raise ValueError("python generator: expected python:<module or file.py>:<function>")
    module, _, func = arg.rpartition(":")
    try:
        if module.endswith(".py"):
            path = Path(module)
            if not path.is_file():
                raise ValueError(f"python generator: {path} does not exist")
            s = importlib.util.spec_from_file_location(path.stem, path)
            mod = importlib.util.module_from_spec(s)
            s.loader.exec_module(mod)
        else:
            mod = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"python generator: cannot import {module!r} ({e})") from None
    except SyntaxError as e:
        raise ValueError(f"python generator: {e.filename or module}, line {e.lineno}: syntax error ({e.msg})") from None
    except Exception as e:  # noqa: BLE001 -- the user's module failed while being imported
        raise ValueError(f"python generator: importing {module!r} raised {type(e).__name__}: {e}") from None
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise ValueError(f"python generator: {module!r} has no function {func!r}")
    return Generator(spec or f"python:{arg}", fn, dict(params or {}))
