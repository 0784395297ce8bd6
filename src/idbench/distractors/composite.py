"""The composite: instance B placed into instance A's exact background.

A is removed by OpenCV inpainting over its dilated mask, B is cut out by its mask, scaled to fit
A's box (never above ``max_upscale``, see :mod:`idbench.distractors.gates`) and composited with a
feathered edge. Every pixel outside the changed region is A's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Distractor:
    image: np.ndarray  # RGB uint8
    changed: np.ndarray  # uint8 0/255: every pixel that may differ from A's image
    provenance: dict
    placed: np.ndarray | None = None  # float32 0..1: B's pasted alpha, before feathering
    removed: np.ndarray | None = None  # uint8 0/255: A's dilated mask (the inpainted hole)


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
    hard = placed.copy()
    if feather > 0:
        placed = cv2.GaussianBlur(placed, (0, 0), feather / 2)
    alpha = placed[..., None]
    out = np.rint(bg.astype(np.float32) * (1 - alpha) + layer * alpha).astype(np.uint8)
    changed = ((hole > 0) | (placed > 0)).astype(np.uint8) * 255
    out[changed == 0] = a_rgb[changed == 0]
    return Distractor(out, changed, {"a_box": [ax0, ay0, ax1, ay1], "b_box": [bx0, by0, bx1, by1], "scale": float(s),
                                     "placed_box": [x0, y0, x1, y1], "dilate": dilate, "feather": feather,
                                     "inpaint": "cv2.INPAINT_TELEA"}, hard, hole)
