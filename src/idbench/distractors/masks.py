"""Foreground masks, created from a spec through one registry (as encoders are):

* ``grabcut[:margin]`` -- offline default: OpenCV GrabCut initialised with the central box
  (object-centred photos), then the largest connected component with its holes filled. It is
  honest about its failures only through the gates (:mod:`idbench.distractors.gates`), which
  judge every mask it returns;
* ``file:<dir>`` -- masks the user gives, ``<dir>/<image stem>.png`` (foreground > 127);
* ``hf:<model id or dir>`` -- a transformers SAM model (``SamModel`` + ``SamProcessor``) prompted
  with the central box; the best of its masks by predicted IoU. Runs on the GPU when present.

A provider is ``provide(rgb uint8 (H, W, 3), path) -> uint8 (H, W) 0/255``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from idbench.registry import Registry

MaskProvider = Callable[[np.ndarray, Path], np.ndarray]
#: factories ``make(arg=None) -> MaskProvider``, from the entry-point group ``idbench.masks``
MASKS = Registry("idbench.masks", "mask provider")


def available_mask_providers() -> list[str]:
    return MASKS.names()


def mask_provider(spec: str) -> MaskProvider:
    name, _, arg = spec.partition(":")
    return MASKS.get(name)(arg or None)


def central_box(h: int, w: int, margin: float) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the central box leaving ``margin`` of each side."""
    return int(w * margin), int(h * margin), max(1, int(w * (1 - 2 * margin))), max(1, int(h * (1 - 2 * margin)))


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected foreground component, holes filled; uint8 0/255."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, np.uint8)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    comp = (lab == k).astype(np.uint8) * 255
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(comp)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return filled


def grabcut(arg: str | None) -> MaskProvider:
    margin = float(arg) if arg else 0.1

    def provide(rgb: np.ndarray, path: Path) -> np.ndarray:
        h, w = rgb.shape[:2]
        if min(h, w) < 16:
            raise ValueError(f"{w}x{h} is too small for GrabCut (needs at least 16 px per side)")
        mask = np.zeros((h, w), np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)
        cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), mask, central_box(h, w, margin), bgd, fgd, 5,
                    cv2.GC_INIT_WITH_RECT)
        fg = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
        return largest_component(fg)

    return provide


def from_files(arg: str | None) -> MaskProvider:
    if not arg:
        raise ValueError("file: mask provider needs a folder: file:<dir>")
    root = Path(arg)
    if not root.is_dir():
        raise ValueError(f"file: mask folder {root} does not exist")

    def provide(rgb: np.ndarray, path: Path) -> np.ndarray:
        p = root / (Path(path).stem + ".png")
        m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise FileNotFoundError(f"no mask {p} for {path}")
        if m.shape != rgb.shape[:2]:
            raise ValueError(f"mask {p} is {m.shape[::-1]} but the image is {rgb.shape[1::-1]}")
        return np.where(m > 127, 255, 0).astype(np.uint8)

    return provide


def sam(arg: str | None) -> MaskProvider:
    if not arg:
        raise ValueError("hf: mask provider needs a SAM model id or folder: hf:<model>")
    return SamMasks(arg)


class SamMasks:
    """SAM through transformers, prompted with the central box; the mask with the best predicted IoU."""

    def __init__(self, model_id: str, margin: float = 0.1, device: str | None = None):
        import torch
        from transformers import SamModel, SamProcessor

        from idbench.encoders import hub_kwargs, pick_device

        kw = hub_kwargs(model_id)
        self.device = pick_device(device)
        self.model = SamModel.from_pretrained(model_id, **kw).to(self.device).eval()
        self.processor = SamProcessor.from_pretrained(model_id, **kw)
        self.margin = margin
        self._torch = torch

    def __call__(self, rgb: np.ndarray, path: Path) -> np.ndarray:
        h, w = rgb.shape[:2]
        x, y, bw, bh = central_box(h, w, self.margin)
        inputs = self.processor(images=np.array(rgb), input_boxes=[[[x, y, x + bw, y + bh]]], return_tensors="pt")
        inputs = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
        with self._torch.no_grad():
            out = self.model(**inputs, multimask_output=True)
        masks = self.processor.image_processor.post_process_masks(
            out.pred_masks.cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu())[0]
        best = int(out.iou_scores[0, 0].argmax())
        return (masks[0, best].numpy() > 0).astype(np.uint8) * 255
