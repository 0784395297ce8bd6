import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from idbench.cache.probes import cached_attribute_probes
from idbench.metrics.attributes import attribute_preservation, train_attribute_probes
from idbench.metrics.relation import relation_fidelity, relation_prompts, rfs_for_images
from idbench.metrics.text import clip_t, fill_prompt, prompt_gate


def test_fill_prompt():
    assert fill_prompt("a photo of sks dog", "dog") == "a photo of dog"
    assert fill_prompt("a {} in the snow", "teapot") == "a teapot in the snow"
    assert fill_prompt("sksy tasks", "x") == "sksy tasks"  # only whole tokens


def test_clip_t_and_gate_by_hand():
    t = np.array([[1.0, 0.0], [0.6, 0.8]]); i = np.array([[0.8, 0.6], [0.6, 0.8]])
    assert np.allclose(clip_t(t, i), [0.8, 1.0])
    n = [0.1, 0.2, 0.3]
    thr = np.mean(n) + 2 * np.std(n)
    assert prompt_gate(thr + 1e-9, n) and not prompt_gate(thr, n)


def test_relation_fidelity_known_answer():
    prompts = relation_prompts("a photo of {s} {r} {o}", "a cat", "under", "a table", ["on", "under", "behind"])
    assert prompts == ["a photo of a cat under a table", "a photo of a cat on a table", "a photo of a cat behind a table"]
    vocab = {p: np.eye(3)[k] for k, p in enumerate(prompts)}
    embed = lambda ps: np.stack([vocab[p] for p in ps])  # noqa: E731
    img_true = np.array([1.0, 0.0, 0.0])
    assert relation_fidelity(img_true, embed(prompts)) > 0.99
    img_wrong = np.array([0.0, 1.0, 0.0])
    assert relation_fidelity(img_wrong, embed(prompts)) < 0.01
    flat = np.ones(3) / np.sqrt(3)
    assert np.isclose(relation_fidelity(flat, embed(prompts)), 1 / 3)
    got = rfs_for_images(np.stack([img_true, img_wrong]), [("a cat", "under", "a table")] * 2, embed,
                         contrasts=["on", "under", "behind"])
    assert got[0] > 0.99 and got[1] < 0.01


def test_aps_balanced_accuracy_by_hand(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 6))
    Y = np.stack([(X[:, 0] > 0), (X[:, 1] > 0.5)], axis=1).astype(int)
    probes = cached_attribute_probes(X, Y, ["Male", "Young"], cache_dir=tmp_path)
    again = cached_attribute_probes(X, Y, ["Male", "Young"], cache_dir=tmp_path)  # from the cache
    assert len(list(tmp_path.glob("aps-probes-*.npz"))) == 1 and set(again) == {"Male", "Young"}
    Xg0 = rng.standard_normal((10, 6))
    for name in ("Male", "Young"):  # the cached probes predict exactly as the fitted ones
        assert (again[name].predict_proba(Xg0) == probes[name].predict_proba(Xg0)).all()
    Xg = rng.standard_normal((30, 6))
    Yref = np.stack([(Xg[:, 0] > 0), np.zeros(30, bool)], axis=1).astype(int)
    Yref[:5, 1] = 1
    res = attribute_preservation(probes, Xg, Yref, ["Male", "Young"])
    pred = probes["Young"].predict(Xg)
    tpr = (pred[Yref[:, 1] == 1] == 1).mean(); tnr = (pred[Yref[:, 1] == 0] == 0).mean()
    assert np.isclose(res["per_attribute"]["Young"], (tpr + tnr) / 2)
    assert np.isclose(res["per_attribute"]["Young"], roc_auc_score(Yref[:, 1], pred))
    assert np.isclose(res["aps"], np.mean(list(res["per_attribute"].values())))
    with pytest.raises(ValueError):
        train_attribute_probes(X, Y[:, :1], ["Male", "Young"])
