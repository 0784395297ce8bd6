"""Procedural rendering of invented subjects: category shape, subclass colours, instance marks.

A subject is drawn once, upright and centred, into an RGBA layer; a *view* warps that layer
(scale, rotation, flip, position), applies lighting, and composites it onto a background. Because
the background is drawn independently of the subject, swapping the subject for another instance
in the same view leaves every pixel outside the two subjects' masks unchanged -- the NearID
matched-context distractor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

CATEGORIES = ("bird", "car", "mug")


@dataclass(frozen=True)
class Identity:
    """Everything that decides how a subject looks.

    category -> body shape; subclass -> colours and proportions; instance -> marks.
    """

    category: str
    primary: tuple[int, int, int]
    secondary: tuple[int, int, int]
    aspect: float  # body width / height factor
    size: float  # body size factor
    spots: tuple[tuple[float, float, float], ...]  # (x, y, r) in body-relative units [-1, 1]
    patch: tuple[float, float, float, float]  # x, y, w, h of a distinctive patch
    patch_color: tuple[int, int, int]
    stripes: int


@dataclass(frozen=True)
class View:
    """Where and how a subject is shown: the scene and the pose."""

    background: int  # seed of the procedural background
    scale: float
    angle: float  # degrees
    flip: bool
    dx: float  # offset as a fraction of the image size
    dy: float
    light: float  # brightness factor on the subject


def random_subclass_traits(rng: np.random.Generator, category: str) -> dict:
    hue = rng.uniform(0, 180)
    primary = _hsv(hue, rng.uniform(120, 230), rng.uniform(140, 240))
    secondary = _hsv((hue + rng.uniform(50, 130)) % 180, rng.uniform(100, 230), rng.uniform(60, 200))
    return {"category": category, "primary": primary, "secondary": secondary,
            "aspect": float(rng.uniform(0.75, 1.3)), "size": float(rng.uniform(0.85, 1.1))}


def random_marks(rng: np.random.Generator) -> dict:
    n = int(rng.integers(3, 6))
    spots = tuple((float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.5, 0.5)), float(rng.uniform(0.08, 0.16)))
                  for _ in range(n))
    patch = (float(rng.uniform(-0.5, 0.3)), float(rng.uniform(-0.4, 0.2)), float(rng.uniform(0.25, 0.4)),
             float(rng.uniform(0.2, 0.35)))
    return {"spots": spots, "patch": patch, "patch_color": _hsv(rng.uniform(0, 180), 230, 230),
            "stripes": int(rng.integers(0, 4))}


def random_view(rng: np.random.Generator) -> View:
    return View(background=int(rng.integers(0, 2**31 - 1)), scale=float(rng.uniform(0.75, 1.0)),
                angle=float(rng.uniform(-20, 20)), flip=bool(rng.integers(0, 2)),
                dx=float(rng.uniform(-0.1, 0.1)), dy=float(rng.uniform(-0.08, 0.08)),
                light=float(rng.uniform(0.8, 1.15)))


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    px = np.uint8([[[int(h) % 180, int(np.clip(s, 0, 255)), int(np.clip(v, 0, 255))]]])
    r, g, b = cv2.cvtColor(px, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


# ----------------------------------------------------------------------------- subject layer


@lru_cache(maxsize=256)
def render_subject(ident: Identity, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Upright, centred subject: (size, size, 3) uint8 RGB and (size, size) uint8 mask (0/255).

    Cached per identity (views of one subject share the layer); callers must not modify it."""
    S = size * 2  # draw at 2x and downsample for anti-aliasing
    rgb = np.zeros((S, S, 3), np.uint8)
    body = np.zeros((S, S), np.uint8)
    c = S // 2
    bw = int(S * 0.26 * ident.size * ident.aspect)
    bh = int(S * 0.18 * ident.size / ident.aspect ** 0.5)
    P, Q = ident.primary, ident.secondary
    lt = cv2.LINE_AA
    extra = np.zeros((S, S), np.uint8)  # parts that are not the marked body (head, wheels, handle)
    if ident.category == "bird":
        cv2.ellipse(body, (c, c), (bw, bh), 0, 0, 360, 255, -1, lt)
        hx, hy, hr = c + int(bw * 0.95), c - int(bh * 0.9), int(bh * 0.6)
        cv2.circle(extra, (hx, hy), hr, 255, -1, lt)
        tail = np.array([[c - bw + 10, c], [c - int(bw * 1.6), c - int(bh * 0.8)], [c - int(bw * 1.5), c + int(bh * 0.3)]])
        cv2.fillPoly(extra, [tail], 255, lt)
        rgb[extra > 0] = Q
        beak = np.array([[hx + hr - 4, hy - 6], [hx + hr + int(hr * 0.9), hy + 2], [hx + hr - 4, hy + 10]])
        cv2.fillPoly(rgb, [beak], (240, 180, 40), lt)
        cv2.fillPoly(extra, [beak], 255, lt)
        cv2.circle(rgb, (hx + hr // 3, hy - hr // 4), max(2, hr // 5), (10, 10, 10), -1, lt)
    elif ident.category == "car":
        cv2.rectangle(body, (c - bw, c - bh // 2), (c + bw, c + bh), 255, -1, lt)
        cab = np.array([[c - bw // 2, c - bh // 2], [c - bw // 3, c - int(bh * 1.4)], [c + bw // 3, c - int(bh * 1.4)], [c + bw // 2 + 10, c - bh // 2]])
        cv2.fillPoly(extra, [cab], 255, lt)
        rgb[extra > 0] = Q
        for wx in (c - int(bw * 0.6), c + int(bw * 0.6)):
            cv2.circle(rgb, (wx, c + bh), int(bh * 0.55), (25, 25, 25), -1, lt)
            cv2.circle(extra, (wx, c + bh), int(bh * 0.55), 255, -1, lt)
            cv2.circle(rgb, (wx, c + bh), int(bh * 0.25), (170, 170, 170), -1, lt)
    else:  # mug
        cv2.rectangle(body, (c - int(bw * 0.8), c - int(bh * 1.5)), (c + int(bw * 0.8), c + int(bh * 1.3)), 255, -1, lt)
        cv2.ellipse(extra, (c + int(bw * 0.8), c), (int(bw * 0.45), int(bh * 0.8)), 0, -90, 90, 255, max(8, bw // 6), lt)
        rgb[extra > 0] = Q
        cv2.ellipse(rgb, (c, c - int(bh * 1.5)), (int(bw * 0.8), int(bh * 0.25)), 0, 0, 360, tuple(int(x * 0.6) for x in P), -1, lt)
    rgb[body > 0] = P
    # instance marks, clipped to the body
    marks = np.zeros((S, S, 3), np.uint8)
    mmask = np.zeros((S, S), np.uint8)
    for k in range(ident.stripes):
        x = c - bw + int((k + 1) * 2 * bw / (ident.stripes + 1))
        cv2.line(marks, (x, c - 2 * bh), (x, c + 2 * bh), Q, max(6, bw // 10), lt)
        cv2.line(mmask, (x, c - 2 * bh), (x, c + 2 * bh), 255, max(6, bw // 10), lt)
    px, py, pw, ph = ident.patch
    p0 = (c + int(px * bw), c + int(py * bh * 1.3))
    cv2.rectangle(marks, p0, (p0[0] + int(pw * bw), p0[1] + int(ph * bh * 1.3)), ident.patch_color, -1, lt)
    cv2.rectangle(mmask, p0, (p0[0] + int(pw * bw), p0[1] + int(ph * bh * 1.3)), 255, -1, lt)
    for (sx, sy, sr) in ident.spots:
        cen = (c + int(sx * bw), c + int(sy * bh * 1.3))
        cv2.circle(marks, cen, max(3, int(sr * bw)), (20, 20, 20), -1, lt)
        cv2.circle(mmask, cen, max(3, int(sr * bw)), 255, -1, lt)
    on = (mmask > 0) & (body > 0)
    rgb[on] = marks[on]
    mask = np.maximum(body, extra)
    rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
    return rgb, mask


# ----------------------------------------------------------------------------- scene


def render_background(seed: int, size: int = 224) -> np.ndarray:
    """A procedural scene: a two-colour gradient with a horizon and random shapes."""
    rng = np.random.default_rng(seed)
    a = np.array(_hsv(rng.uniform(0, 180), rng.uniform(30, 160), rng.uniform(120, 250)), np.float32)
    b = np.array(_hsv(rng.uniform(0, 180), rng.uniform(30, 160), rng.uniform(40, 200)), np.float32)
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(a * (1 - t) + b * t, (size, size, 3)).copy()
    horizon = int(rng.uniform(0.45, 0.75) * size)
    ground = np.array(_hsv(rng.uniform(0, 180), rng.uniform(40, 180), rng.uniform(60, 180)), np.float32)
    img[horizon:] = img[horizon:] * 0.4 + ground * 0.6
    img = img.astype(np.uint8)
    for _ in range(int(rng.integers(3, 8))):
        col = _hsv(rng.uniform(0, 180), rng.uniform(20, 200), rng.uniform(60, 250))
        x, y = int(rng.uniform(0, size)), int(rng.uniform(0, size))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.uniform(5, 30)), col, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(img, (x, y), (x + int(rng.uniform(10, 50)), y + int(rng.uniform(10, 50))), col, -1, cv2.LINE_AA)
    noise = rng.integers(-6, 7, size=img.shape, dtype=np.int16)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def place(layer: np.ndarray, mask: np.ndarray, view: View) -> tuple[np.ndarray, np.ndarray]:
    """Warp a subject layer and its mask into the view's pose."""
    size = layer.shape[0]
    if view.flip:
        layer, mask = layer[:, ::-1], mask[:, ::-1]
    M = cv2.getRotationMatrix2D((size / 2, size / 2), view.angle, view.scale)
    M[0, 2] += view.dx * size
    M[1, 2] += view.dy * size
    warped = cv2.warpAffine(np.ascontiguousarray(layer), M, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    wmask = cv2.warpAffine(np.ascontiguousarray(mask), M, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    lit = np.clip(warped.astype(np.float32) * view.light, 0, 255)
    return lit, wmask


def composite(background: np.ndarray, layer: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Alpha-composite; pixels where ``mask == 0`` are exactly the background's."""
    a = (mask.astype(np.float32) * (1.0 / 255.0))[..., None]
    bg = background.astype(np.float32)
    # where a == 0 this is bg + 0 exactly (integer-valued float32), so the background is untouched
    return np.rint(bg + (layer - bg) * a).astype(np.uint8)


def render_view(ident: Identity, view: View, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """The subject in the view's scene and pose: (RGB image, subject mask)."""
    layer, mask = render_subject(ident, size)
    lit, wmask = place(layer, mask, view)
    return composite(render_background(view.background, size), lit, wmask), wmask
