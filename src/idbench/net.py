"""Network access with bounded time.

A captive or firewalled network may accept a connection and never answer; without a time limit a
model lookup then waits for ever. idbench therefore

* bounds every hub request (``HF_HUB_ETAG_TIMEOUT`` / ``HF_HUB_DOWNLOAD_TIMEOUT``, unless the user
  set them) and every download of its own (:func:`download`, ``IDBENCH_NET_TIMEOUT`` seconds, 10 by
  default, per read);
* probes the hub once per process (:func:`hub_offline`, one HEAD request with a 3 s limit): when it
  does not answer, the process goes offline (``HF_HUB_OFFLINE=1``) saying so once, and models come
  from the local hub cache or a local folder only, so a missing one is named at once instead of after
  a minute of retries;
* writes a download through a temporary file in the destination's folder, renamed into place when
  complete and removed otherwise: no ``.partial`` file stays behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

PROBE_TIMEOUT = 3.0
_TRUE = ("1", "true", "yes", "on")
_REACHABLE: dict[str, bool] = {}
_TOLD: set[str] = set()


class DownloadError(OSError):
    """A download that could not be made in time (or at all): names what, from where, and the
    local file that would replace it."""


def timeout() -> float:
    """Seconds a single network read may take (``IDBENCH_NET_TIMEOUT``, default 10)."""
    try:
        return max(0.1, float(os.environ.get("IDBENCH_NET_TIMEOUT", "10")))
    except ValueError:
        return 10.0


def bound_hub_timeouts() -> None:
    """Give huggingface_hub's requests a time limit (unless the user set one), also when the library
    is already imported."""
    t = str(int(max(1, timeout())))
    for var in ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"):
        if var not in os.environ:
            os.environ[var] = t
            mod = sys.modules.get("huggingface_hub.constants")
            if mod is not None and hasattr(mod, var):
                setattr(mod, var, int(t))


def reachable(url: str, limit: float = PROBE_TIMEOUT) -> bool:
    """Whether ``url``'s host answers an HTTP request within ``limit`` seconds (any HTTP status counts
    as an answer). Asked once per host and process."""
    parts = urlsplit(url)
    host = f"{parts.scheme}://{parts.netloc}"
    if host not in _REACHABLE:
        try:
            req = urllib.request.Request(host + "/", method="HEAD")
            with urllib.request.urlopen(req, timeout=limit):  # noqa: S310 -- http(s) only, our own constant hosts
                pass
            ok = True
        except urllib.error.HTTPError:
            ok = True  # it answered
        except (OSError, ValueError):  # refused, unresolved, timed out, not http
            ok = False
        _REACHABLE[host] = ok
    return _REACHABLE[host]


def hub_endpoint() -> str:
    mod = sys.modules.get("huggingface_hub.constants")
    return getattr(mod, "ENDPOINT", None) or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def hub_offline() -> bool:
    """Whether models must come from the local hub cache: ``HF_HUB_OFFLINE`` is set, or the hub did not
    answer the probe, in which case this process goes offline (once, with a message on stderr)."""
    bound_hub_timeouts()
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE:
        return True
    endpoint = hub_endpoint()
    if reachable(endpoint):
        return False
    go_offline(f"the model hub ({endpoint}) did not answer within {PROBE_TIMEOUT:g} s")
    return True


def go_offline(why: str) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    mod = sys.modules.get("huggingface_hub.constants")
    if mod is not None and hasattr(mod, "HF_HUB_OFFLINE"):
        mod.HF_HUB_OFFLINE = True
    if why not in _TOLD:
        _TOLD.add(why)
        print(f"idbench: {why}: working offline (models from the local hub cache or a local folder only)",
              file=sys.stderr)


def download(url: str, dest: str | Path, *, what: str, local_hint: str) -> Path:
    """``dest`` (kept if it is already there), else ``url`` fetched into it with a time limit on every
    read and the whole transfer bounded by progress. ``local_hint`` says how to give the file instead
    (``aesthetic:/path/to/x.pth``); it ends the error message when the download fails."""
    dest = Path(dest)
    if dest.is_file() and dest.stat().st_size > 0:
        return dest
    t = timeout()
    fail = f"{what} is not at {dest} and cannot be downloaded from {url}"
    if not reachable(url, min(t, PROBE_TIMEOUT)):
        raise DownloadError(f"{fail} (no answer within {min(t, PROBE_TIMEOUT):g} s); {local_hint}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=t) as r:  # noqa: S310
            last = time.monotonic()
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                now = time.monotonic()
                if now - last > 10 * t:  # a trickle that never finishes
                    raise TimeoutError(f"less than 1 MiB in {10 * t:g} s")
                last = now
        if os.path.getsize(tmp) == 0:
            raise DownloadError("the server sent an empty file")
        os.replace(tmp, dest)
        return dest
    except (OSError, ValueError) as e:
        raise DownloadError(f"{fail} ({type(e).__name__}: {e}); {local_hint}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def bounded_sockets():
    """Inside: every socket a library opens without its own time limit (torch.hub's downloads,
    urllib without ``timeout=``) gives up after :func:`timeout` seconds without data."""
    import socket

    was = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout())
    try:
        yield
    finally:
        socket.setdefaulttimeout(was)
