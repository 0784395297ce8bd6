"""Weight files, loaded without running code from them.

Every model file idbench reads from a user's path (or downloads) goes through :func:`load_state_dict`:

* ``.safetensors`` files through safetensors (never executable);
* anything else through ``torch.load(weights_only=True)``, torch's restricted unpickler, which admits
  tensors, containers and plain values and refuses every other object. There is no fallback: a file
  the restricted load refuses is refused, with one line that names it. (A checkpoint that pickles
  whole Python objects can be turned into a plain state dict once, by its owner, with
  ``torch.save(model.state_dict(), "weights.pt")``.)

Damaged files get the same one-line treatment: empty, an HTML page saved in its place (a failed
download), cut short, or not a torch file at all. :func:`check_keys` names a file that holds another
model's weights.

>>> import tempfile, torch, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
>>> torch.save({"layer.weight": torch.ones(2)}, p)
>>> sorted(load_state_dict(p, what="demo weights"))
['layer.weight']
>>> _ = p.write_bytes(b"<!DOCTYPE html><html>Not Found</html>")
>>> load_state_dict(p, what="demo weights")
Traceback (most recent call last):
...
idbench.weights.WeightsError: ...w.pt: an HTML page, not demo weights (a download that failed saves the page it got)
"""

from __future__ import annotations

from pathlib import Path


class WeightsError(ValueError):
    """A weights file that cannot be used: named, with what was expected."""


def _sniff(head: bytes) -> str | None:
    """What a file that is not a weights file looks like, from its first bytes."""
    s = head.lstrip()[:64].lower()
    if s.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        return "an HTML page"
    if s.startswith((b"{", b"[")):
        return "a JSON / text file"
    if s.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer (the weights themselves were never fetched: run `git lfs pull`)"
    return None


def load_state_dict(path: str | Path, *, what: str = "model weights", key: str | None = None) -> dict:
    """The tensors of a weights file as a flat ``name -> tensor`` dict, read without executing code.

    ``key``: the entry of a training checkpoint that holds the state dict (``"state_dict"``); a
    checkpoint without it is read as the state dict itself. A leading ``module.`` (DataParallel) is
    removed from every name.

    Raises
    ------
    WeightsError
        Naming the file and what it holds instead: missing, empty, an HTML page, not a torch or
        safetensors file, cut short, or objects that a safe load refuses (pickled code).
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: no such file ({what} expected)")
    size = p.stat().st_size
    if size == 0:
        raise WeightsError(f"{p}: an empty file, not {what} (a download that was interrupted leaves one)")
    with open(p, "rb") as f:
        head = f.read(512)
    kind = _sniff(head)
    if kind:
        raise WeightsError(f"{p}: {kind}, not {what}" + (" (a download that failed saves the page it got)"
                                                         if kind == "an HTML page" else ""))
    if p.suffix == ".safetensors":
        from safetensors import SafetensorsError
        from safetensors.torch import load_file

        try:
            obj = load_file(str(p))
        except (SafetensorsError, OSError, ValueError) as e:
            raise WeightsError(f"{p}: not a readable safetensors file of {what} ({e})") from None
    else:
        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 -- every failure of the restricted load is a refusal, named
            msg = str(e)
            if "Unsupported global" in msg or "Unsupported class" in msg:  # an object torch's safe loader refuses
                raise WeightsError(f"{p}: holds Python objects besides tensors, which idbench does not load (loading "
                                   f"them could run code from the file); expected {what} as a plain state dict. Its "
                                   "owner can save one with torch.save(model.state_dict(), path)") from None
            detail = next((x.split("WeightsUnpickler error:")[-1].strip() for x in msg.splitlines()
                           if "WeightsUnpickler error" in x or "Unsupported operand" in x), None) \
                or (msg.strip().splitlines() or ["damaged or cut short"])[0][:160]
            raise WeightsError(f"{p}: not a readable torch file of {what}: damaged, cut short or another format "
                               f"({type(e).__name__}: {detail or 'unreadable'})") from None
    if isinstance(obj, dict) and key and isinstance(obj.get(key), dict):
        obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise WeightsError(f"{p}: holds {type(obj).__name__ if obj is not None else 'nothing'}"
                           f"{' (empty)' if isinstance(obj, dict) else ''}, not {what} (a name -> tensor dict)")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        bad = next(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
        raise WeightsError(f"{p}: entry {bad!r} is a {type(obj[bad]).__name__}, not a tensor: not {what}")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def check_keys(state: dict, path: str | Path, *, what: str, required: tuple[str, ...]) -> None:
    """Raise :class:`WeightsError` naming the file when ``state`` lacks a name ``required`` lists
    (another model's weights)."""
    missing = [k for k in required if k not in state]
    if missing:
        some = ", ".join(sorted(state)[:3])
        raise WeightsError(f"{path}: not {what}: it has no {missing[0]!r}"
                           f"{f' (and {len(missing) - 1} more expected names)' if len(missing) > 1 else ''}; "
                           f"its tensors are named like {some}, ... (another model's weights?)")


def load_into(model, state: dict, path: str | Path, *, what: str, strict: bool = True) -> None:
    """``model.load_state_dict(state)``, with a mismatch (another model's weights, another size)
    reported as a :class:`WeightsError` naming the file."""
    try:
        model.load_state_dict(state, strict=strict)
    except (RuntimeError, KeyError, ValueError) as e:
        first = str(e).strip().splitlines()
        detail = " ".join(x.strip() for x in first[1:3]) or (first[0] if first else "")
        raise WeightsError(f"{path}: does not fit {what} (another model's weights, or another size): "
                           f"{detail[:300]}") from None
