"""Importing onnxruntime without writing outside idbench's folders.

onnxruntime's import writes a telemetry device id under ``$XDG_CACHE_HOME`` (default
``~/.cache/Microsoft/DeveloperTools``). idbench confines every write to ``-o`` and its cache folder,
so the first import points ``XDG_CACHE_HOME`` at idbench's cache folder for the duration of the
import only, and restores it at once (other libraries' caches, e.g. the Hugging Face hub's, are
untouched).
"""

from __future__ import annotations

import os
import sys
import threading

_LOCK = threading.Lock()


def import_onnxruntime():
    """The ``onnxruntime`` module, imported with its start-up writes inside idbench's cache folder."""
    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"]
    from idbench.cache.store import default_cache_dir

    with _LOCK:
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = str(default_cache_dir() / "onnxruntime")
        try:
            import onnxruntime
        finally:
            if old is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = old
    return onnxruntime


def providers(device: str | None = None) -> list[str]:
    """CUDA first when onnxruntime has it and the device allows it, then CPU."""
    ort = import_onnxruntime()
    have = ort.get_available_providers()
    want = ["CPUExecutionProvider"]
    if (device is None or str(device).startswith("cuda")) and "CUDAExecutionProvider" in have:
        want.insert(0, "CUDAExecutionProvider")
    return want
