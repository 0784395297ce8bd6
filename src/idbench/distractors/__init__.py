"""Near-identity distractors for real photos: instance B placed into instance A's exact background.

Masks come from a provider chosen by name (``grabcut`` default, offline; ``file:<dir>`` for masks
the user gives, named like the image with a ``.png`` suffix); a segmentation model can be added as
another provider with :func:`register_mask_provider`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

MaskProvider = Callable[[np.ndarray, Path], np.ndarray]
_PROVIDERS: dict[str, Callable[[str | None], MaskProvider]] = {}


def register_mask_provider(name: str):
    def deco(factory):
        _PROVIDERS[name] = factory
        return factory

    return deco


def mask_provider(spec: str) -> MaskProvider:
    name, _, arg = spec.partition(":")
    if name not in _PROVIDERS:
        raise ValueError(f"unknown mask provider {spec!r}; available: {', '.join(sorted(_PROVIDERS))}")
    return _PROVIDERS[name](arg or None)


@register_mask_provider("grabcut")
def _grabcut(arg: str | None) -> MaskProvider:
    margin = float(arg) if arg else 0.1

    def provide(rgb: np.ndarray, path: Path) -> np.ndarray:
        """GrabCut initialised with the central box (object-centred photos); uint8 0/255."""
        h, w = rgb.shape[:2]
        rect = (int(w * margin), int(h * margin), int(w * (1 - 2 * margin)), int(h * (1 - 2 * margin)))
        mask = np.zeros((h, w), np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, rect, bgd, fgd, 5, cv2.GC_INIT_WITH_RECT)
        fg = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
        return fg

    return provide


@register_mask_provider("file")
def _file(arg: str | None) -> MaskProvider:
    if not arg:
        raise ValueError("file: mask provider needs a folder: file:<dir>")
    root = Path(arg)

    def provide(rgb: np.ndarray, path: Path) -> np.ndarray:
        p = root / (path.stem + ".png")
        m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise FileNotFoundError(f"no mask {p} for {path}")
        if m.shape != rgb.shape[:2]:
            raise ValueError(f"mask {p} is {m.shape[::-1]} but the image is {rgb.shape[1::-1]}")
        return np.where(m > 127, 255, 0).astype(np.uint8)

    return provide


@dataclass
class Distractor:
    image: np.ndarray  # RGB uint8
    changed: np.ndarray  # uint8 0/255: every pixel that may differ from A's image
    provenance: dict


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        raise ValueError("empty mask: no foreground found")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def make_distractor(a_rgb: np.ndarray, a_mask: np.ndarray, b_rgb: np.ndarray, b_mask: np.ndarray, *,
                    dilate: int = 7, feather: int = 5, inpaint_radius: int = 5) -> Distractor:
    """Remove A (inpaint its dilated mask), then composite B, scaled to fit A's box, centred on it."""
    k = np.ones((dilate, dilate), np.uint8)
    hole = cv2.dilate(a_mask, k)
    bg = cv2.inpaint(a_rgb, hole, inpaint_radius, cv2.INPAINT_TELEA)
    ax0, ay0, ax1, ay1 = _bbox(a_mask)
    bx0, by0, bx1, by1 = _bbox(b_mask)
    crop, cmask = b_rgb[by0:by1, bx0:bx1], b_mask[by0:by1, bx0:bx1]
    s = min((ax1 - ax0) / crop.shape[1], (ay1 - ay0) / crop.shape[0])
    nw, nh = max(1, int(round(crop.shape[1] * s))), max(1, int(round(crop.shape[0] * s)))
    crop = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    cmask = cv2.resize(cmask, (nw, nh), interpolation=cv2.INTER_LINEAR)
    cx, cy = (ax0 + ax1) // 2, (ay0 + ay1) // 2
    x0, y0 = max(0, cx - nw // 2), max(0, cy - nh // 2)
    x1, y1 = min(a_rgb.shape[1], x0 + nw), min(a_rgb.shape[0], y0 + nh)
    placed = np.zeros(a_mask.shape, np.float32)
    layer = np.zeros_like(a_rgb, dtype=np.float32)
    placed[y0:y1, x0:x1] = cmask[: y1 - y0, : x1 - x0] / 255.0
    layer[y0:y1, x0:x1] = crop[: y1 - y0, : x1 - x0]
    if feather > 0:
        placed = cv2.GaussianBlur(placed, (0, 0), feather / 2)
    alpha = placed[..., None]
    out = np.rint(bg.astype(np.float32) * (1 - alpha) + layer * alpha).astype(np.uint8)
    changed = ((hole > 0) | (placed > 0)).astype(np.uint8) * 255
    out[changed == 0] = a_rgb[changed == 0]
    return Distractor(out, changed, {"a_box": [ax0, ay0, ax1, ay1], "b_box": [bx0, by0, bx1, by1], "scale": s,
                                     "placed_box": [x0, y0, x1, y1], "dilate": dilate, "feather": feather,
                                     "inpaint": "cv2.INPAINT_TELEA"})
