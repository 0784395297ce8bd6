"""The NearID pipelines behind ``idbench nearid train`` and ``idbench nearid parts``, as library
functions: the CLI only reads its flags, calls these and prints what they return."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class NearIDInputError(ValueError):
    """Samples that cannot support the pipeline (too few identities, missing columns, nothing embedded)."""


def train_identity_head(samples, encoder, encoder_spec: str, out_dir: str | Path, *, epochs: int = 200, seed: int = 0,
                        cache=None, problems=None, progress: bool = True) -> dict:
    """Train an identity head on frozen, cached backbone embeddings of ``samples`` (two-tier loss),
    on identities split into disjoint train / validation / test sets (early stop on validation SSR);
    save it to ``out_dir`` (``head.safetensors`` + ``config.json``, usable as ``nearid:OUT``) and
    return the report: identity counts, epochs run, and SSR, PA and retrieval mAP on the test
    identities for the frozen backbone and for the head."""
    from idbench.nearid.head import HeadConfig, embed_with, evaluate_groups, save_head, train_head
    from idbench.protocols.nearid import embed_samples, retrieval_map, score_groups, split_identities

    groups = embed_samples(samples, encoder, cache=cache, problems=problems, progress=progress)
    tr, va, te = split_identities(groups, seed)
    if len(te) < 2 or len(va) < 1:
        raise NearIDInputError(f"too few identities ({len(groups)}) for disjoint train/val/test splits")
    cfg = HeadConfig(backbone=encoder_spec, in_dim=groups[0].views.shape[1], epochs=epochs, seed=seed)
    head, history = train_head(tr, va, cfg, progress=progress)
    emb = embed_with(head)
    fz, hd = score_groups(te), evaluate_groups(te, emb)
    report = {"identities": {"train": len(tr), "val": len(va), "test": len(te)}, "epochs_run": len(history),
              "test": {"frozen": {"ssr": fz.ssr, "pa": fz.pa, "retrieval_map": retrieval_map(te)},
                       "head": {"ssr": hd.ssr, "pa": hd.pa, "retrieval_map": retrieval_map(te, emb)}}}
    save_head(head, cfg, out_dir, {"training": report})
    return report


PART_COLUMNS = ("view1", "view2", "view1_edited", "view2_edited")


def part_level_test(rows: list[dict], base: Path, encoder, *, cache=None, problems=None, progress: bool = True) -> dict:
    """NearID's part-level test on rows ``sample_id, view1, view2, view1_edited, view2_edited`` (paths
    relative to ``base``): SSR and PA over m1 = s(1,2) - s(1,1p) and m2 = s(1,2) - s(2,2p); with
    ``part_mask1, object_mask1, part_mask2, object_mask2``, M-O (Fisher-z mean Pearson r between the
    similarity and the oracle 1 - part area / object area)."""
    from idbench.data.images import load_image
    from idbench.data.records import ImageRecord
    from idbench.embed import embed_records
    from idbench.metrics.nearid import m_o, part_level_margins, part_oracle, ssr_pa

    cols = PART_COLUMNS
    if not rows or any(c not in rows[0] for c in ("sample_id", *cols)):
        raise NearIDInputError(f"needs columns sample_id, {', '.join(cols)}")
    path = lambda p: Path(p) if Path(p).is_absolute() else base / p  # noqa: E731
    recs = {(r["sample_id"], c): ImageRecord(f"{r['sample_id']}/{c}", path(r[c]), r["sample_id"]) for r in rows for c in cols}
    emb = embed_records(encoder, list(recs.values()), cache=cache, problems=problems, progress=progress)
    ok = [r for r in rows if all(recs[(r["sample_id"], c)].id in emb for c in cols)]
    if not ok:
        raise NearIDInputError("no sample could be embedded")
    v = {c: np.stack([emb[recs[(r["sample_id"], c)].id].vectors[0] for r in ok]) for c in cols}
    cos = lambda a, b: np.einsum("nd,nd->n", a, b)  # noqa: E731
    margins = part_level_margins(cos(v["view1"], v["view2"]), cos(v["view1"], v["view1_edited"]),
                                 cos(v["view2"], v["view2_edited"]))
    res = ssr_pa(list(margins))
    out = {"ssr": res.ssr, "pa": res.pa, "n_samples": res.n_samples}
    if "part_mask1" in rows[0]:
        area = lambda p: float((np.asarray(load_image(path(p)).convert("L")) > 127).sum())  # noqa: E731
        sims, oracles = [], []
        for k, (a, b) in enumerate((("part_mask1", "object_mask1"), ("part_mask2", "object_mask2"))):
            sims.append(cos(v[cols[k]], v[cols[k + 2]]))
            oracles.append(part_oracle([area(r[a]) for r in ok], [area(r[b]) for r in ok]))
        out["m_o"] = m_o(sims, oracles)
    return out
