"""Figures and thumbnails for the HTML report, as data URIs: drawn once per content (the results
cache keeps each PNG), on fixed stated scales, from files inside the results folder only."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

THUMB = 112


def thumb(results_dir: Path, name: str | None) -> str | None:
    """A stored thumbnail as a data URI: only a file under ``results_dir/thumbs``, reached without a
    symbolic link (:func:`idbench.folder.inside`)."""
    from idbench.folder import inside

    if not isinstance(name, str) or not name.startswith("thumbs/"):
        return None
    p = inside(results_dir, name)
    if p is None or not p.is_file():
        return None
    return "data:image/jpeg;base64," + base64.b64encode(p.read_bytes()).decode()


def fig_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def figure(key: list, draw) -> str:
    """A figure as a data URI, drawn once per content (the results cache keeps its PNG)."""
    from idbench.cache.results import cached_png
    from idbench.cache.store import default_cache_dir

    png = cached_png(["report-figure-v1", *key], draw, root=default_cache_dir())
    return "data:image/png;base64," + base64.b64encode(png).decode()


def heatmap(matrix: np.ndarray, rows: list[str], cols: list[str], title: str, fmt: str = "{:.2f}", *,
            vmin: float = 0.0, vmax: float = 1.0, scale: str = "0 to 1", xlabel: str = "subject",
            ylabel: str = "method", integer: bool = False) -> str:
    """A heatmap on a fixed, stated scale (never autoscaled: 0.958 and 0.963 look alike), as a data
    URI (:func:`heatmap_png` draws it)."""
    return figure(["heatmap-v3", np.asarray(matrix, np.float64), rows, cols, title, fmt, vmin, vmax, scale, xlabel,
                    ylabel, integer],
                   lambda: heatmap_png(matrix, rows, cols, title, fmt, vmin=vmin, vmax=vmax, scale=scale,
                                       xlabel=xlabel, ylabel=ylabel, integer=integer))


def heatmap_png(matrix, rows, cols, title, fmt: str = "{:.2f}", *, vmin: float = 0.0, vmax: float = 1.0,
                scale: str = "0 to 1", xlabel: str = "subject", ylabel: str = "method", integer: bool = False) -> bytes:
    """The PNG of :func:`heatmap` (for a figure written as a file): bounded at 12.5 x 16 inches
    whatever the number of rows and columns, every k-th label past ``MAX_TICKS``, the values written
    in the cells up to 300 cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(min(12.5, max(4, 0.42 * len(cols) + 2.5)), min(16.0, max(2.5, 0.35 * len(rows) + 1.2))))
    cmap = plt.get_cmap("viridis")
    im = ax.imshow(np.ma.masked_invalid(matrix), aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
    xs, ys = _every(len(cols)), _every(len(rows))
    ax.set_xticks(xs, [cols[i] for i in xs], rotation=60, ha="right", fontsize=7)
    ax.set_yticks(ys, [rows[i] for i in ys], fontsize=7)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    cb = fig.colorbar(im, ax=ax, fraction=0.03)
    cb.set_label(scale, fontsize=7)
    if integer:
        cb.locator = MaxNLocator(integer=True)
        cb.update_ticks()
    if matrix.size <= 300:
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                v = matrix[i, j]
                if np.isfinite(v):
                    r, g, b, _ = cmap((min(max(v, vmin), vmax) - vmin) / ((vmax - vmin) or 1))
                    dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                    ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6, color="w" if dark else "k")
    return fig_png(fig)


MAX_TICKS = 60  # labels an axis of a heatmap names at most


def _every(n: int) -> list[int]:
    """The positions an axis of n cells labels: all of them up to ``MAX_TICKS``, else every k-th.

    >>> len(_every(200)), _every(200)[:3], _every(5)
    (50, [0, 4, 8], [0, 1, 2, 3, 4])
    """
    return list(range(0, n, -(-n // MAX_TICKS)))


def forest(panels: list[dict]) -> str:
    return figure(["forest-v2", repr(panels)], lambda: _draw_forest(panels))


def _draw_forest(panels: list[dict]) -> bytes:
    """Method means with their intervals, one panel per headline metric; reference lines (real upper
    bound solid green, impostor / chance dashed grey); methods sharing a rank share a colour; copying
    methods are hollow and marked with a dagger."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(panels)
    height = max(2.2, 0.32 * max(len(p["rows"]) for p in panels) + 1.3)
    fig, axes = plt.subplots(1, n, figsize=(min(13.0, 3.3 * n + 0.8), height), squeeze=False)
    palette = plt.get_cmap("tab10")
    for ax, p in zip(axes[0], panels):
        rows = p["rows"]
        for y, r in enumerate(rows):
            color = palette((r["rank"] - 1) % 10) if r["rank"] else "0.35"
            lo, hi = r["lo"] if r["lo"] is not None else r["mean"], r["hi"] if r["hi"] is not None else r["mean"]
            ax.plot([lo, hi], [y, y], color=color, lw=2)
            ax.plot([r["mean"]], [y], "o", ms=6, mfc="white" if r["flagged"] else color, mec=color, mew=1.5)
        for label, value, kind in p["refs"]:
            ax.axvline(value, color="#2a2" if kind == "real" else "0.5", ls="-" if kind == "real" else "--", lw=1.2)
            ax.text(value, 0.98, f"{label} ", rotation=90, va="top", ha="right", fontsize=6.5,
                    color="#2a2" if kind == "real" else "0.35", transform=ax.get_xaxis_transform())
        ax.set_yticks(range(len(rows)), [("† " if r["flagged"] else "") + r["method"] + (f"  #{r['rank']}" if r["rank"] else "")
                                         for r in rows], fontsize=7.5)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.invert_yaxis()
        ax.set_xlabel(p["label"], fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.92")
    fig.tight_layout()
    return fig_png(fig)


def histogram(edges: list[float], counts: list[int], title: str) -> str:
    return figure(["histogram", list(edges), list(counts), title], lambda: _draw_histogram(edges, counts, title))


def _draw_histogram(edges: list[float], counts: list[int], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.6))
    e = np.asarray(edges)
    ax.bar(e[:-1], counts, width=np.diff(e), align="edge", color="#4a7", edgecolor="k", linewidth=0.3)
    ax.axvline(0, color="r", lw=1)
    ax.set_xlabel("margin  sim(view_i, view_j) - sim(view, distractor)")
    ax.set_title(title, fontsize=9)
    return fig_png(fig)
