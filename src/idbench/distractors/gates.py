"""Quality gates: a distractor is accepted only if it passes every one; each rejection is named.

Mask gates (on every view's and every source's mask):

* ``no_subject`` -- the mask is empty, or its pixels are indistinguishable from their
  surroundings (mean CIELAB distance between the mask and a ring around it below
  ``min_contrast``): a photo with no subject, e.g. a flat grey image;
* ``mask_area`` -- the mask covers less than ``min_area`` or more than ``max_area`` of the image;
* ``mask_fragments`` -- the largest connected part holds less than ``min_main_part`` of the mask.

Composite gates (on the distractor):

* ``upscale`` -- B's source crop would be scaled up more than ``max_upscale`` (a tiny crop blown up);
* ``too_similar`` -- inside the placed box the distractor differs from the view by less than
  ``min_change`` (mean absolute difference, 0-255): it is the view;
* ``remains`` -- A's remains are visible outside B's pasted mask: the mask provider, run again on
  the distractor, finds foreground outside B's (dilated) pasted mask amounting to more than
  ``max_remains`` of B's area (a part of A the view's mask missed, or a ghost the inpainting
  left); or more than ``max_uncovered`` of A's mask lies outside B's pasted mask (a large
  inpainted area).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class GateConfig:
    min_area: float = 0.02
    max_area: float = 0.85
    min_main_part: float = 0.9
    min_contrast: float = 6.0
    max_upscale: float = 2.0
    min_change: float = 8.0
    max_uncovered: float = 0.5
    max_remains: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateResult:
    ok: bool
    gate: str = ""
    reason: str = ""


PASS = GateResult(True)


def mask_contrast(rgb: np.ndarray, mask: np.ndarray, ring: int | None = None) -> float:
    """Mean CIELAB distance between the mask's mean colour and that of a ring around it."""
    fg = mask > 0
    if not fg.any():
        return 0.0
    ring = ring or max(3, int(0.05 * max(mask.shape)))
    around = cv2.dilate(fg.astype(np.uint8), np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)) > 0
    band = around & ~fg
    if not band.any():  # the mask fills the image
        band = ~fg
    if not band.any():
        return 0.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return float(np.linalg.norm(lab[fg].mean(0) - lab[band].mean(0)))


def check_mask(rgb: np.ndarray, mask: np.ndarray, cfg: GateConfig = GateConfig()) -> GateResult:
    fg = mask > 0
    area = float(fg.mean())
    if area == 0:
        return GateResult(False, "no_subject", "the mask is empty: no subject found")
    contrast = mask_contrast(rgb, mask)
    if contrast < cfg.min_contrast:
        return GateResult(False, "no_subject", f"the foreground is indistinguishable from its surroundings (colour "
                                               f"distance {contrast:.1f} < {cfg.min_contrast}): no subject found")
    if area < cfg.min_area or area > cfg.max_area:
        return GateResult(False, "mask_area", f"the mask covers {area:.1%} of the image (allowed {cfg.min_area:.0%}-"
                                              f"{cfg.max_area:.0%})")
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    main = stats[1:, cv2.CC_STAT_AREA].max() / fg.sum()
    if main < cfg.min_main_part:
        return GateResult(False, "mask_fragments", f"the mask falls apart into {n - 1} parts (largest {main:.0%} < "
                                                   f"{cfg.min_main_part:.0%})")
    return PASS


def check_upscale(scale: float, cfg: GateConfig = GateConfig()) -> GateResult:
    if scale > cfg.max_upscale:
        return GateResult(False, "upscale", f"B's crop would be scaled up {scale:.2f}x (> {cfg.max_upscale:g}x)")
    return PASS


def check_composite(view: np.ndarray, distractor, a_mask: np.ndarray, cfg: GateConfig = GateConfig()) -> GateResult:
    """Gates on a finished :class:`~idbench.distractors.composite.Distractor`."""
    up = check_upscale(distractor.provenance["scale"], cfg)
    if not up.ok:
        return up
    x0, y0, x1, y1 = distractor.provenance["placed_box"]
    if x1 <= x0 or y1 <= y0:
        return GateResult(False, "too_similar", "nothing was placed")
    diff = float(np.abs(distractor.image[y0:y1, x0:x1].astype(np.int16) - view[y0:y1, x0:x1].astype(np.int16)).mean())
    if diff < cfg.min_change:
        return GateResult(False, "too_similar", f"inside the placed box it differs from the view by {diff:.1f} "
                                                f"(< {cfg.min_change:g} of 255): it shows the view, not another instance")
    a = a_mask > 0
    if a.any() and distractor.placed is not None:
        uncovered = float((a & (distractor.placed < 0.5)).sum() / a.sum())
        if uncovered > cfg.max_uncovered:
            return GateResult(False, "remains", f"{uncovered:.0%} of A lies outside B's pasted mask (> "
                                                f"{cfg.max_uncovered:.0%}): A's inpainted remains would show")
    return PASS


def check_remains(distractor, mask_of_distractor: np.ndarray, cfg: GateConfig = GateConfig()) -> GateResult:
    """Foreground found in the distractor outside B's pasted mask (dilated by 5% of the image side)."""
    if distractor.placed is None:
        return PASS
    placed = distractor.placed > 0.5
    if not placed.any():
        return GateResult(False, "too_similar", "nothing was placed")
    k = max(3, int(0.05 * max(placed.shape)))
    near = cv2.dilate(placed.astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)) > 0
    outside = (mask_of_distractor > 0) & ~near
    ratio = float(outside.sum() / placed.sum())
    if ratio > cfg.max_remains:
        return GateResult(False, "remains", f"foreground outside B's pasted mask amounts to {ratio:.0%} of B "
                                            f"(> {cfg.max_remains:.0%}): A's remains are visible beside B")
    return PASS
