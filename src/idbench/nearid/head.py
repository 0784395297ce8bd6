"""A NearID identity head on frozen backbone embeddings: model, training, saving, loading.

Training data are *groups*: for each identity, the embeddings of several views (positives) and,
per view, the embedding of its near-identity distractor. Each step draws a batch of identities;
for each, one view is the anchor, ``n_pos`` other views are its positives, and the distractors of
the identity's views are its near negatives. Loss: :func:`idbench.metrics.nearid.two_tier_loss`.
Early stopping on validation SSR (identities disjoint from training).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from idbench.metrics.nearid import IdentityGroup, sample_margins, ssr_pa, two_tier_loss


@dataclass
class HeadConfig:
    backbone: str
    in_dim: int
    hidden: int = 512
    out_dim: int = 256
    temperature: float = 0.07
    alpha: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 200
    batch: int = 16
    patience: int = 30
    seed: int = 0


class IdentityHead(nn.Module):
    """Residual MLP: x -> normalise(W2 relu(W1 x)) + projection of x."""

    def __init__(self, cfg: HeadConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(cfg.in_dim, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.out_dim))
        self.skip = nn.Linear(cfg.in_dim, cfg.out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.mlp(x) + self.skip(x), dim=-1)


def evaluate_groups(groups: list[IdentityGroup], embed: Callable[[np.ndarray], np.ndarray] | None = None, n_views: int = 3):
    """SSR/PA of a set of groups, each scored on its first ``n_views`` views (published n = 3)."""
    margins, sources = [], []
    for g in groups:
        v, d = g.views[:n_views], g.distractors[:n_views]
        if embed is not None:
            missing = np.isnan(d).any(axis=1)
            v, d = embed(v), embed(np.nan_to_num(d)).astype(np.float64)
            d[missing] = np.nan
        margins.append(sample_margins(v, d))
        sources.append(g.source)
    return ssr_pa(margins, sources)


def train_head(train: list[IdentityGroup], val: list[IdentityGroup], cfg: HeadConfig, progress: bool = True):
    """Train with early stopping on validation SSR; returns (head, history)."""
    from idbench.progress import progress_bar

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    head = IdentityHead(cfg)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    usable = [g for g in train if len(g.views) >= 2 and not np.isnan(g.distractors).all()]
    if len(usable) < 2:
        raise ValueError("training needs at least 2 identities with 2+ views and a distractor")
    best, best_state, since, history = -1.0, None, 0, []
    embed = _embedder(head)
    bar = progress_bar(cfg.epochs, "training NearID head", enabled=progress, unit="epoch")
    for epoch in range(cfg.epochs):
        head.train()
        order = rng.permutation(len(usable))
        losses = []
        for s in range(0, len(order), cfg.batch):
            idx = order[s : s + cfg.batch]
            if len(idx) < 2:
                continue
            a, p, h = [], [], []
            for i in idx:
                g = usable[i]
                perm = rng.permutation(len(g.views))
                a.append(g.views[perm[0]])
                p.append(g.views[perm[1]])
                d = g.distractors[~np.isnan(g.distractors).any(axis=1)]
                h.append(d[rng.integers(0, len(d))])
            A = head(torch.from_numpy(np.stack(a)).float())
            Pp = head(torch.from_numpy(np.stack(p)).float())[:, None, :]
            H = head(torch.from_numpy(np.stack(h)).float())[:, None, :]
            loss = two_tier_loss(A, Pp, H, cfg.temperature, cfg.alpha)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        head.eval()
        val_ssr = evaluate_groups(val, embed).ssr if val else float("nan")
        history.append({"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"), "val_ssr": val_ssr})
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", val_ssr=f"{val_ssr:.3f}")
        bar.update(1)
        if val_ssr > best:
            best, since = val_ssr, 0
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        else:
            since += 1
            if since >= cfg.patience:
                break
    bar.close()
    if best_state is not None:
        head.load_state_dict(best_state)
    head.eval()
    return head, history


def _embedder(head: IdentityHead) -> Callable[[np.ndarray], np.ndarray]:
    def f(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return head(torch.from_numpy(np.asarray(x, np.float32))).numpy()

    return f


def save_head(head: IdentityHead, cfg: HeadConfig, out_dir: str | Path, extra: dict | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(out / "head.safetensors"))
    (out / "config.json").write_text(json.dumps({**asdict(cfg), **(extra or {})}, indent=2))
    return out


def load_head(path: str | Path) -> tuple[IdentityHead, HeadConfig]:
    p = Path(path)
    cfg_dict = json.loads((p / "config.json").read_text())
    cfg = HeadConfig(**{k: v for k, v in cfg_dict.items() if k in HeadConfig.__dataclass_fields__})
    head = IdentityHead(cfg)
    head.load_state_dict(load_file(str(p / "head.safetensors")))
    return head.eval(), cfg


embed_with = _embedder
