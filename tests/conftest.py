"""Shared fixtures: real images from ../shared, and a small deterministic test encoder."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IDBENCH_SHARED", REPO.parent / "shared"))
DREAMBOOTH = SHARED / "datasets" / "dreambooth-objects"
ARTIFACTS = REPO / "test-artifacts"


def pytest_configure(config):
    ARTIFACTS.mkdir(exist_ok=True)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never write to the user's real cache from tests."""
    monkeypatch.setenv("IDBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def dreambooth_rows() -> list[dict]:
    if not DREAMBOOTH.is_dir():
        pytest.skip(f"shared dataset not found at {DREAMBOOTH}")
    with open(DREAMBOOTH / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def write_study_inputs(tmp_path: Path, rows: list[dict]) -> Path:
    """A study of the DreamBooth photos under ``tmp_path``: per subject, 2 references
    (refs/<subject>/), 1 held-out photo as method ``heldout`` (gen/heldout/<subject>/), the rest as
    the gallery (gallery.csv: path, subject, class); 8 NearID samples whose distractors are the next
    subject's photos (samples.csv). Returns ``tmp_path``."""
    import shutil

    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["subject"], []).append(r)
    gal = [["path", "subject", "class"]]
    samples = [["sample_id", "source", "views", "distractors"]]
    subjects = sorted(by)
    for k, (s, rs) in enumerate(sorted(by.items())):
        for i, r in enumerate(rs):
            if i < 2:
                d = tmp_path / "refs" / s
                d.mkdir(parents=True, exist_ok=True)
                shutil.copy(DREAMBOOTH / r["path"], d / f"{i}.jpg")
            elif i == 2:
                d = tmp_path / "gen" / "heldout" / s
                d.mkdir(parents=True, exist_ok=True)
                shutil.copy(DREAMBOOTH / r["path"], d / "0.jpg")
            else:
                gal.append([str(DREAMBOOTH / r["path"]), s, r["class"]])
        other = by[subjects[(k + 1) % len(subjects)]]
        if k < 8:
            samples.append([s, "other-subject", ";".join(str(DREAMBOOTH / r["path"]) for r in rs[:3]),
                            ";".join(str(DREAMBOOTH / r["path"]) for r in other[:3])])
    with open(tmp_path / "gallery.csv", "w", newline="") as f:
        csv.writer(f).writerows(gal)
    with open(tmp_path / "samples.csv", "w", newline="") as f:
        csv.writer(f).writerows(samples)
    return tmp_path


@pytest.fixture
def study_inputs(tmp_path, dreambooth_rows) -> Path:
    """:func:`write_study_inputs` in this test's folder."""
    return write_study_inputs(tmp_path, dreambooth_rows)


from idbench.encoders import register  # noqa: E402
from idbench.encoders.base import Encoder, ImageEmbedding, l2_normalize  # noqa: E402


class ColorHistEncoder(Encoder):
    """A tiny real encoder for pipeline tests: a 4x4x4 RGB colour histogram + 4x4 mean-colour grid.

    Counts how many images it embedded, so tests can check what the cache saved.
    """

    kind = "image"

    def __init__(self, arg=None, device=None, fail_on_call: int | None = None):
        self.name = "test-color"
        self.dim = 64 + 48
        self.calls = 0
        self.n_embedded = 0
        self.fail_on_call = fail_on_call

    def preprocess(self, image):
        arr = np.asarray(image.resize((32, 32)), dtype=np.float32) / 255.0
        return arr

    def embed_batch(self, items):
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise KeyboardInterrupt("simulated interruption")
        out = []
        for arr in items:
            q = np.minimum((arr * 4).astype(int), 3)
            hist = np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64).astype(np.float32)
            grid = arr.reshape(4, 8, 4, 8, 3).mean(axis=(1, 3)).ravel()
            out.append(ImageEmbedding(l2_normalize(np.concatenate([hist / hist.sum(), grid])[None])))
        self.n_embedded += len(items)
        return out


@register("test-color")
def _make_test_color(arg=None, device=None, **kw):
    return ColorHistEncoder(arg, device, **kw)


@pytest.fixture
def color_encoder():
    return ColorHistEncoder()
