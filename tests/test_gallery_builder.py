import csv

import numpy as np
from click.testing import CliRunner

from idbench.cli.main import cli
from idbench.data.gallery_builder import build_gallery
from idbench.data.records import ImageRecord
from tests.conftest import DREAMBOOTH


def _pool(n_sub=6, per=8):
    recs = [ImageRecord(f"s{s}/{i}", DREAMBOOTH / f"x{s}_{i}.jpg", f"s{s}", labels={"class": f"c{s // 3}"})
            for s in range(n_sub) for i in range(per)]
    rng = np.random.default_rng(0)
    emb = {r.id: rng.standard_normal(4) + int(r.subject[1:]) * 3 for r in recs}
    return recs, emb


def test_random_choice_seeded_disjoint_and_grouped():
    recs, _ = _pool()
    excl = {str(recs[0].path), str(recs[1].path)}
    a = build_gallery(recs, images_per_subject=3, subjects_per_group=2, exclude_paths=excl, parent_level="class", seed=1)
    b = build_gallery(recs, images_per_subject=3, subjects_per_group=2, exclude_paths=excl, parent_level="class", seed=1)
    assert [r.id for r, _ in a] == [r.id for r, _ in b]
    assert not {str(r.path) for r, _ in a} & excl
    groups = {}
    for r, g in a:
        groups.setdefault(g, set()).add(r.subject)
        assert r.label("class") == g
    assert all(len(v) == 2 for v in groups.values()) and len(a) == 4 * 3


def test_kmeans_picks_nearest_to_each_centroid():
    from sklearn.cluster import KMeans

    recs, emb = _pool(n_sub=2)
    chosen = build_gallery(recs, images_per_subject=3, choice="kmeans", embeddings=emb, parent_level="class", seed=0)
    for s in ("s0", "s1"):
        mine = [r for r in recs if r.subject == s]
        X = np.stack([emb[r.id] for r in mine])
        km = KMeans(n_clusters=3, n_init=4, random_state=0).fit(X)
        expected = {mine[int(np.argmin(((X - c) ** 2).sum(1)))].id for c in km.cluster_centers_}
        assert {r.id for r, _ in chosen if r.subject == s} == expected


def test_nearest_groups_cover_subjects():
    recs, emb = _pool(n_sub=6)
    chosen = build_gallery(recs, images_per_subject=2, subjects_per_group=3, group_by="nearest", embeddings=emb)
    groups = {}
    for r, g in chosen:
        groups.setdefault(g, set()).add(r.subject)
    assert sum(len(v) for v in groups.values()) == 6 and max(len(v) for v in groups.values()) <= 3


def test_cli_on_real_dataset(tmp_path):
    out = tmp_path / "g.csv"
    r = CliRunner().invoke(cli, ["gallery", "build", "--pool", str(DREAMBOOTH / "manifest.csv"), "-o", str(out),
                                 "-m", "3", "-n", "2", "--seed", "0", "-q"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out)))
    assert rows and set(rows[0]) == {"path", "class", "subject", "gallery_group"}
    per = {}
    for row in rows:
        per.setdefault(row["gallery_group"], set()).add(row["subject"])
    assert all(len(v) <= 2 for v in per.values())
