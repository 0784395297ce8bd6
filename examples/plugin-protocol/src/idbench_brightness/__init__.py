"""An idbench protocol from another package: ``brightness``, the mean luminance of each generation.

Everything idbench needs is here, and idbench is not edited to show it:

* ``PROTOCOL`` (named by the ``idbench.protocols`` entry point in ``pyproject.toml``): what the
  protocol needs, how it runs, its catalogue entry and its views;
* ``run``: writes one value per generated image into its row, and names every image it cannot read;
* ``SECTION``: its section of ``summary.json``, a typed dataclass;
* ``tables``, ``console`` and ``report``: what a person sees in ``tables.md`` / ``tables.tex``, the
  console and ``report.html``.

The metric: brightness(g) = mean over the pixels of g of Y = (0.299 R + 0.587 G + 0.114 B) / 255,
the ITU-R BT.601 luma, in [0, 1]. It is a sanity check of exposure, not an identity metric.

>>> import numpy as np
>>> from PIL import Image
>>> brightness(Image.fromarray(np.full((4, 4, 3), 255, np.uint8)))
1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from idbench.metrics.catalogue import MetricSpec
from idbench.protocols.registry import Protocol, Views
from idbench.section import Section

__all__ = ["PROTOCOL", "SECTION", "BrightnessSection", "brightness"]

SPEC = MetricSpec("brightness", "brightness", "mean over the pixels of the BT.601 luma Y = 0.299 R + 0.587 G + "
                  "0.114 B, divided by 255", True, "[0, 1]", "0 for a black image, 1 for a white one",
                  "idbench example plug-in", "idbench_brightness.brightness", "brightness")


def brightness(image) -> float:
    """The mean BT.601 luma of an RGB ``PIL.Image``, in [0, 1]."""
    rgb = np.asarray(image.convert("RGB"), np.float64)
    return float((rgb @ np.array([0.299, 0.587, 0.114])).mean() / 255.0)


@dataclass(kw_only=True)
class Extremes:
    darkest: str  # image id
    brightest: str


@dataclass(kw_only=True)
class BrightnessSection(Section):
    """``summary.json["sections"]["brightness"]``: how many images were measured, how many could not
    be read, and the darkest and brightest image per method. idbench writes it with its ``version``
    and reads it back as this type (every field checked)."""

    NAME = "brightness"
    VERSION = 1
    n_images: int = 0
    n_unreadable: int = 0
    extremes: dict[str, Extremes] = field(default_factory=dict)  # method -> its darkest and brightest image


SECTION = BrightnessSection


def run(data, ctx) -> None:
    from idbench.data.images import ImageError, load_image

    res = ctx.results
    col = "brightness"
    res.add_metric(col, SPEC.definition, protocol="brightness")
    section = BrightnessSection()
    by_method: dict[str, list[tuple[float, str]]] = {}
    for g in data.generations:
        try:
            value = brightness(load_image(g.path))
        except ImageError as e:
            ctx.problems.add(e.path, e.kind, e.reason)
            section.n_unreadable += 1
            continue
        res.row_of(g)[col] = value
        section.n_images += 1
        by_method.setdefault(g.method or "", []).append((value, g.id))
    section.extremes = {m: Extremes(darkest=min(v)[1], brightest=max(v)[1]) for m, v in by_method.items()}
    res.sections["brightness"] = section


def tables(res) -> list[dict]:
    """One table: brightness per method with its interval (idbench's own table kit)."""
    from idbench.views.table import metric_table

    if "brightness" not in res.metrics:
        return []
    sec = BrightnessSection.of(res) or BrightnessSection()
    notes = ["brightness: mean BT.601 luma of the image, 0 black to 1 white; a check of exposure, not of identity"]
    if sec.n_unreadable:
        notes.append(f"{sec.n_unreadable} image(s) could not be read (named in problems.csv)")
    return [metric_table(res, ["brightness"], title="Brightness", key="brightness", notes=notes)]


def console(res) -> list[str]:
    from idbench.views.format import fmt_ci

    lines = ["Brightness (mean luma, 0 black to 1 white):"]
    for m, per in res.methods.items():
        if "brightness" in per:
            lines.append(f"  {m}: {fmt_ci(per['brightness'])}")
    return lines if len(lines) > 1 else []


def report(res, results_dir) -> dict:
    """An HTML fragment under the section's table: the darkest and brightest image of each method
    (every received name escaped)."""
    from markupsafe import Markup, escape

    sec = BrightnessSection.of(res) or BrightnessSection()
    items = "".join(f"<li>{escape(m)}: darkest {escape(e.darkest)}, brightest {escape(e.brightest)}</li>"
                    for m, e in sec.extremes.items())
    return {"html": Markup(f"<ul class=\"brightness-extremes\">{items}</ul>")} if items else {}


PROTOCOL = Protocol("brightness", ("generations",), run, "Brightness: the mean luminance of each generated image",
                    order=90, title="Brightness", catalogue=(SPEC,), sections=(BrightnessSection,),
                    views=Views(tables=tables, console=console, report=report))
