"""Generated videos: the frames a video benchmark scores, decoded once with PyAV and kept as images.

Video benchmarks (ConsisID, OpenS2V) score a generated video by a fixed number of frames sampled
evenly over it: ``numpy.linspace(0, n_frames - 1, k, dtype=int)`` (ConsisID's
``eval/get_facesim_fid.py`` ``sample_video_frames``, k = 16; OpenS2V k = 32). idbench decodes those
frames once (PyAV), stores them as PNG files in its cache under the video's content hash, and gives
each one an image record whose ``extra`` names its video (``video``) and its frame index
(``frame``); a protocol whose unit is the video (``similarity.unit = "video"``) averages per video.

A folder of frame images stands for a video in the same way: :func:`sample_frames` takes the same
evenly spaced frames of the folder's sorted files.

>>> sample_frames(list(range(100)), 4)
[0, 33, 66, 99]
>>> sample_frames(list(range(3)), 5)   # fewer frames than asked: indices repeat, as linspace gives them
[0, 0, 1, 1, 2]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})


class VideoError(ValueError):
    """A video that cannot be decoded (named, with why)."""


def is_video_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def frame_indices(n_total: int, k: int) -> list[int]:
    """``k`` evenly spaced frame indices of ``n_total`` frames (``linspace(0, n_total - 1, k)`` cast to
    int, duplicates kept)."""
    if n_total <= 0:
        return []
    return [int(i) for i in np.linspace(0, n_total - 1, k, dtype=int)]


def sample_frames(items: list, k: int) -> list:
    """The items at :func:`frame_indices` of ``len(items)``."""
    return [items[i] for i in frame_indices(len(items), k)]


def extract_frames(path: str | Path, k: int, cache_root: str | Path) -> list[tuple[int, Path]]:
    """``(frame index, png path)`` for the ``k`` evenly spaced frames of the video at ``path``, decoded
    with PyAV (every frame is decoded once; only the sampled ones are kept) and stored under
    ``cache_root/frames/<content hash>/`` (a second call reads them from there).

    Raises
    ------
    VideoError
        The file cannot be opened or decoded, or holds no video frame.
    """
    from PIL import Image

    from idbench.data.images import file_sha256

    path = Path(path)
    out_dir = Path(cache_root) / "frames" / f"{file_sha256(path)[:24]}-k{k}"
    done = out_dir / "frames.txt"
    if done.is_file():
        listed = []
        for line in done.read_text().splitlines():
            idx, name = line.split(" ", 1)
            listed.append((int(idx), out_dir / name))
        if all(p.is_file() for _, p in listed):
            return listed
    try:
        import av
    except ImportError:
        raise VideoError(f"{path}: reading videos needs PyAV (pip install av)") from None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except VideoError:
        raise
    except Exception as e:  # noqa: BLE001 -- PyAV raises its own error types for every damaged file
        raise VideoError(f"{path}: cannot be decoded as a video ({type(e).__name__}: {e})") from None
    if not frames:
        raise VideoError(f"{path}: holds no video frame")
    out_dir.mkdir(parents=True, exist_ok=True)
    listed = []
    for j, idx in enumerate(frame_indices(len(frames), k)):
        p = out_dir / f"{j:03d}_{idx:06d}.png"
        if not p.is_file():
            tmp = p.with_suffix(".tmp.png")
            Image.fromarray(frames[idx]).save(tmp)
            tmp.replace(p)
        listed.append((idx, p))
    tmp = done.with_suffix(".tmp")
    tmp.write_text("".join(f"{idx} {p.name}\n" for idx, p in listed))
    tmp.replace(done)
    return listed


def video_units(generations, frames: int):
    """The generations as videos: a record decoded from a video file already names it (``extra["video"]``);
    any other record belongs to the video of its folder (``gen/<method>/<subject>/<video>/<frame>.png``:
    the id without its last part), whose ``frames`` evenly spaced frames (sorted by id) are kept. Returns
    a new :class:`~idbench.data.records.GenerationSet` whose records all name their video."""
    from idbench.data.records import GenerationSet, ImageRecord

    decoded = [r for r in generations if (r.extra or {}).get("video")]
    groups: dict[str, list] = {}
    for r in generations:
        if not (r.extra or {}).get("video"):
            groups.setdefault(r.id.rsplit("/", 1)[0] if "/" in r.id else r.id, []).append(r)
    out = list(decoded)
    for key, recs in groups.items():
        recs = sorted(recs, key=lambda r: r.id)
        for j, i in enumerate(frame_indices(len(recs), frames)):
            r = recs[i]
            out.append(ImageRecord(**{**r.__dict__, "id": f"{r.id}#{j:03d}",
                                      "extra": {**(r.extra or {}), "video": key, "frame": str(i),
                                                "video_path": str(r.path.parent)}}))
    return GenerationSet(out)
