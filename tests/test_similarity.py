import math

import numpy as np
import pytest

from idbench.encoders.base import l2_normalize
from idbench.metrics.similarity import identity_preservation, ips_and_sis, mean_cosine_to_references


def _rows(rng, n, d=16):
    return l2_normalize(rng.standard_normal((n, d)))


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_mean_cosine_matches_loop():
    rng = np.random.default_rng(0)
    g, r = _rows(rng, 7), _rows(rng, 4)
    got = mean_cosine_to_references(g, r)
    expected = [sum(_cos(gi, rj) for rj in r) / len(r) for gi in g]
    assert np.allclose(got, expected, atol=1e-6)


def test_mean_cosine_validates():
    with pytest.raises(ValueError, match="dimension mismatch"):
        mean_cosine_to_references(np.ones((1, 3)), np.ones((1, 4)))
    with pytest.raises(ValueError, match="empty"):
        mean_cosine_to_references(np.ones((1, 3)), np.ones((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        mean_cosine_to_references(np.full((1, 3), np.nan), np.ones((1, 3)))


def test_ips_sis_match_loops():
    rng = np.random.default_rng(1)
    gen = _rows(rng, 2)  # two faces in the generated image
    subject = [_rows(rng, 1), _rows(rng, 3), _rows(rng, 2)]
    pair_ips = [max(_cos(a, b) for a in gen for b in ref) for ref in subject]
    ips, sis = ips_and_sis(gen, subject)
    assert math.isclose(ips, np.mean(pair_ips), rel_tol=1e-5)
    assert math.isclose(sis, min(pair_ips), rel_tol=1e-5)
    assert math.isclose(identity_preservation(gen, subject[1]), pair_ips[1], rel_tol=1e-5)


def test_no_face_gives_nan_not_zero():
    rng = np.random.default_rng(2)
    empty = np.zeros((0, 16), np.float32)
    assert math.isnan(identity_preservation(empty, _rows(rng, 1)))
    ips, sis = ips_and_sis(_rows(rng, 1), [empty, _rows(rng, 1)])
    assert not math.isnan(ips) and ips == sis  # the face-less reference is left out
    assert all(math.isnan(x) for x in ips_and_sis(empty, [_rows(rng, 1)]))
