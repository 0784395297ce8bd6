"""Build NearID distractors for a labelled pool: data in, attempts out (the CLI writes them).

For each subject A and a partner B sharing A's parent label, every view of A gets one attempt:
B (from the first of B's photos whose mask passes the gates) is placed into the view's exact
background. An attempt is accepted only when the view's mask, B's mask and the composite pass
every gate (:mod:`idbench.distractors.gates`); otherwise it is rejected with the gate's name and
reason, and the view's distractor slot stays empty (NearID scores such a sample as incomplete).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from idbench.data.images import ImageError, load_image
from idbench.data.records import ImageRecord
from idbench.distractors.composite import Distractor, make_distractor
from idbench.distractors.gates import GateConfig, GateResult, check_composite, check_mask, check_remains


@dataclass
class Attempt:
    sample_id: str  # subject A
    slot: int  # index of the view in the sample
    view: ImageRecord
    partner: str  # subject B
    source: ImageRecord | None  # B's photo used
    accepted: bool
    gate: str = ""
    reason: str = ""
    distractor: Distractor | None = None
    view_mask: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


class _Masks:
    """Masks and images per record, computed once; failures kept as gate results."""

    def __init__(self, provider: Callable, cfg: GateConfig):
        self.provider, self.cfg = provider, cfg
        self._cache: dict[str, tuple] = {}

    def get(self, rec: ImageRecord) -> tuple[np.ndarray | None, np.ndarray | None, GateResult]:
        if rec.id not in self._cache:
            try:
                rgb = np.asarray(load_image(rec.path))
            except ImageError as e:
                self._cache[rec.id] = (None, None, GateResult(False, e.kind, e.reason))
                return self._cache[rec.id]
            try:
                mask = self.provider(rgb, rec.path)
            except (ValueError, OSError, cv2.error) as e:
                last = (str(e).strip().splitlines() or [""])[-1]
                self._cache[rec.id] = (rgb, None, GateResult(False, "mask_failed", f"no mask ({type(e).__name__}: {last})"))
                return self._cache[rec.id]
            self._cache[rec.id] = (rgb, mask, check_mask(rgb, mask, self.cfg))
        return self._cache[rec.id]


def pair_subjects(by_subject: dict[str, list[ImageRecord]], level: str) -> list[tuple[str, str]]:
    """(A, B): each subject with the next subject (sorted) sharing its label at ``level``."""
    by_label: dict[str, list[str]] = {}
    for s, recs in sorted(by_subject.items()):
        by_label.setdefault(recs[0].label(level), []).append(s)
    return [(a, subs[(i + 1) % len(subs)]) for subs in by_label.values() if len(subs) > 1 for i, a in enumerate(subs)]


def build_inpainted(by_subject: dict[str, list[ImageRecord]], labels: dict[str, str], provider: Callable, inpainter, *,
                    n_views: int = 3, cfg: GateConfig = GateConfig(), progress=None) -> list[Attempt]:
    """Distractors by generative inpainting: each view's subject redrawn as another instance of its
    parent label (``labels``: subject -> parent label), gated like composites."""
    masks = _Masks(provider, cfg)
    attempts: list[Attempt] = []
    for a, views in sorted(by_subject.items()):
        partner = f"inpaint:{labels.get(a, a)}"
        for slot, view in enumerate(views[:n_views]):
            v_rgb, v_mask, g = masks.get(view)
            if not g.ok:
                attempts.append(Attempt(a, slot, view, partner, None, False, g.gate, f"view: {g.reason}", view_mask=v_mask))
                continue
            d = inpainter(v_rgb, v_mask, labels.get(a, a))
            g = check_composite(v_rgb, d, v_mask, cfg)
            if g.ok:
                try:
                    g = check_remains(d, provider(d.image, view.path), cfg)
                except (ValueError, OSError, cv2.error):
                    pass
            attempts.append(Attempt(a, slot, view, partner, view, g.ok, g.gate, g.reason, d, v_mask))
        if progress is not None:
            progress()
    return attempts


def build_distractors(by_subject: dict[str, list[ImageRecord]], pairs: Sequence[tuple[str, str]], provider: Callable, *,
                      n_views: int = 3, cfg: GateConfig = GateConfig(), progress=None) -> list[Attempt]:
    masks = _Masks(provider, cfg)
    attempts: list[Attempt] = []
    for a, b in pairs:
        source, src_rgb, src_mask, src_fail = None, None, None, None
        for rec in by_subject[b]:
            rgb, m, g = masks.get(rec)
            if g.ok:
                source, src_rgb, src_mask = rec, rgb, m
                break
            src_fail = src_fail or (rec, g)
        for slot, view in enumerate(by_subject[a][:n_views]):
            v_rgb, v_mask, g = masks.get(view)
            if not g.ok:
                attempts.append(Attempt(a, slot, view, b, None, False, g.gate, f"view: {g.reason}", view_mask=v_mask))
                continue
            if source is None:
                why = f"{src_fail[0].path.name}: {src_fail[1].reason}" if src_fail else "no photo"
                attempts.append(Attempt(a, slot, view, b, None, False, "no_source",
                                        f"no photo of {b!r} has a usable mask ({why})", view_mask=v_mask))
                continue
            d = make_distractor(v_rgb, v_mask, src_rgb, src_mask)
            g = check_composite(v_rgb, d, v_mask, cfg)
            if g.ok:
                try:
                    g = check_remains(d, provider(d.image, view.path), cfg)
                except (ValueError, OSError, cv2.error):
                    pass  # the remains check needs a second mask; the other gates stand
            attempts.append(Attempt(a, slot, view, b, source, g.ok, g.gate, g.reason, d, v_mask))
        if progress is not None:
            progress()
    return attempts


def gate_counts(attempts: Sequence[Attempt]) -> dict:
    out = {"attempts": len(attempts), "accepted": sum(a.accepted for a in attempts), "rejected": {}}
    for a in attempts:
        if not a.accepted:
            out["rejected"][a.gate] = out["rejected"].get(a.gate, 0) + 1
    out["accepted_share"] = out["accepted"] / out["attempts"] if attempts else None
    return out
