"""RCA confusion matrices as files: ``rca_confusion_<level>_<method>.csv`` and ``.png`` (names made
safe: a method called ``sd/v1.5`` never writes outside the folder)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from idbench.safe_names import safe_filename


def write_confusions(rca_section, out_dir: str | Path, *, figures: bool = True) -> list[Path]:
    """The confusion matrices of an RCA section as CSV files, and as PNG figures when ``figures``
    (only with a report)."""
    out = Path(out_dir)
    written = []
    for level, v in rca_section.levels.items():
        for m, r in v.methods.items():
            stem = safe_filename(f"rca_confusion_{level}_{m}")
            with open(out / f"{stem}.csv", "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["true \\ predicted", *r.confusion.labels])
                for lab, row in zip(r.confusion.labels, r.confusion.matrix):
                    w.writerow([lab, *row])
            written.append(out / f"{stem}.csv")
            if figures:
                confusion_png(out / f"{stem}.png", r.confusion, f"{m}: confusion at level {level}")
                written.append(out / f"{stem}.png")
    return written


def confusion_png(path: Path, confusion, title: str) -> None:
    """The confusion matrix as a PNG figure (drawn once per content; the results cache keeps it)."""
    from idbench.atomic import atomic_write_bytes
    from idbench.cache.results import cached_png
    from idbench.cache.store import default_cache_dir

    key = ["confusion-v1", list(map(str, confusion.labels)), np.asarray(confusion.matrix, np.int64), title]
    atomic_write_bytes(path, cached_png(key, lambda: _draw_confusion(confusion, title), root=default_cache_dir()))


def _draw_confusion(confusion, title: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, mat = confusion.labels, np.array(confusion.matrix)
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(labels) + 2), max(3.5, 0.35 * len(labels) + 1.5)))
    im = ax.imshow(mat, cmap="viridis")
    ax.set_xticks(range(len(labels)), labels, rotation=70, ha="right", fontsize=6)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("conditioning identity")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
