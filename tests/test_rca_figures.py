"""RCA's confusion figures at the scale of a real oracle (hundreds of identities): they show the
identities most involved in confusions, in a figure of bounded size; the CSV keeps every identity."""

import base64
import io

import numpy as np
from PIL import Image

from idbench.protocols.rca import Confusion
from idbench.protocols.rca_views import FIGURE_LABELS, confusion_png, most_confused


def test_most_confused_keeps_the_identities_with_the_most_confused_images():
    rng = np.random.default_rng(3)
    n, k = 120, 15
    mat = rng.poisson(0.3, (n, n)) + np.diag(rng.integers(0, 9, n))
    labels = [f"id{i:03d}" for i in range(n)]
    # by the definition: each identity's off-diagonal images, as the true one and as the predicted one
    score = [sum(mat[i, j] for j in range(n) if j != i) + sum(mat[j, i] for j in range(n) if j != i) for i in range(n)]
    keep = sorted(sorted(range(n), key=lambda i: (-score[i], i))[:k])
    got_labels, got, note = most_confused(labels, mat, k=k)
    assert got_labels == [labels[i] for i in keep]
    assert got.tolist() == [[int(mat[i, j]) for j in keep] for i in keep]
    assert note.startswith(f"the {k} of {n} identities")
    small_labels, small, none = most_confused(labels[:5], mat[:5, :5], k=k)
    assert small_labels == labels[:5] and small.tolist() == mat[:5, :5].tolist() and none == ""


def test_a_confusion_figure_of_hundreds_of_identities_stays_readable_and_small(tmp_path, monkeypatch):
    monkeypatch.setenv("IDBENCH_CACHE", str(tmp_path / "cache"))
    n = 400  # before: a 142-inch figure, 14,000 px square (several GB to draw)
    rng = np.random.default_rng(0)
    mat = np.diag(rng.integers(1, 5, n)) + rng.poisson(0.05, (n, n))
    conf = Confusion(labels=[f"subject-{i}" for i in range(n)], matrix=mat.tolist())
    confusion_png(tmp_path / "c.png", conf, "method at subject level")
    with Image.open(tmp_path / "c.png") as im:
        assert max(im.size) <= 1700, im.size


def test_the_report_heatmap_of_the_worst_method_is_bounded_too(tmp_path, monkeypatch):
    from idbench.views.figures import heatmap

    monkeypatch.setenv("IDBENCH_CACHE", str(tmp_path / "cache"))
    labels = [f"s{i}" for i in range(300)]
    uri = heatmap(np.eye(300), labels, labels, "per-subject", fmt="{:.0f}", vmin=0, vmax=1)
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
        assert max(im.size) <= 1600, im.size
    assert FIGURE_LABELS <= 60
