"""Stage ``recommend``: top-K items for one user from a finished run, each with an explanation path.

Scores are the run's final scores (``final_embeddings.pt``: dot products, or item–item weights), the same ones
``evaluate`` ranks;every item the user is known to have interacted with (train, valid and test) is excluded, since
recommending what someone already read is no recommendation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hetrec.errors import HetrecError

@dataclass(frozen=True)
class RecommendConfig:
    run: Path  # finetune run directory
    user: int  # raw user id, as in the data files
    k: int = 10  # how many items
    graph: Path | None = None  # override the graph artifact recorded in the run's manifest
    explain: bool = True  # add an explanation path per item


def user_node(artifact, raw_user: int) -> int:
    """Node id of a raw user id, or a one-line error giving the id range."""
    ids = artifact.id_maps["user"]
    raw = ids["raw_id"].to_numpy(np.int64)
    hit = np.flatnonzero(raw == raw_user)
    if len(hit) == 0:
        raise HetrecError(f"user {raw_user} is not in the graph (ids range {raw.min()}..{raw.max()}, "
                          f"{len(raw):,} users); pick one from the ratings file")
    return int(ids["node_id"].to_numpy(np.int64)[hit[0]])


def top_k(user_vec: torch.Tensor, item_emb: torch.Tensor, seen: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(item node ids, scores) of the k best unseen items by dot product; ties keep the lower node id first."""
    return top_k_scores(item_emb @ user_vec, seen, k)


def top_k_scores(scores: torch.Tensor, seen: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(item node ids, scores) of the k best unseen items of one user's score vector (-inf = never shown)."""
    scores = scores.double().clone()
    scores[torch.from_numpy(np.array(seen, dtype=np.int64))] = -torch.inf
    k = min(k, int(torch.isfinite(scores).sum()))
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    return order.numpy(), scores[order].numpy()


def _plain(v):
    """numpy scalar -> Python value, NaN -> None (for JSON output)."""
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and v != v else v


def run(cfg: RecommendConfig) -> dict:
    """Recommendations for one user: ``{"user", "run", "items": [{rank, item_id, title, ..., explanation}]}``."""
    from hetrec.explain import explain
    from hetrec.stages.evaluate import load_run

    if cfg.k < 1:
        raise HetrecError(f"-k {cfg.k}: must be at least 1")
    manifest, artifact, scorer, unscorable = load_run(Path(cfg.run), cfg.graph)
    u = user_node(artifact, cfg.user)
    s = artifact.splits
    seen = s.loc[s["user"].to_numpy() == u, "item"].to_numpy(np.int64)
    if isinstance(scorer, tuple):
        scores = scorer[1].float() @ scorer[0][u].float()
    else:
        scores = scorer(torch.tensor([u]))[0]
    if unscorable is not None:
        scores = scores.masked_fill(unscorable, float("-inf"))
    rec, scores = top_k_scores(scores, seen, cfg.k)
    reasons = explain(artifact, u, rec) if cfg.explain else [None] * len(rec)
    meta = artifact.items.set_index("node_id")
    raw_items = artifact.id_maps[artifact.item_type].set_index("node_id")["raw_id"]
    rows = []
    for rank, (i, score, why) in enumerate(zip(rec, scores, reasons), 1):  # K rows
        row = {"rank": rank, "item_id": int(raw_items.loc[i]), "score": float(score)}
        if i in meta.index:
            row.update({c: _plain(v) for c, v in meta.loc[i].items()})
        if why is not None:
            row.update({"explanation": why.text, "path": {"kind": why.kind, "relation": why.relation,
                                                          "value": why.value, "via_item": why.via_item,
                                                          "count": why.count}})
        rows.append(row)
    return {"user": cfg.user, "run": str(cfg.run), "model": manifest.get("config", {}).get("model"),
            "known_items": int(len(np.unique(seen))), "items": rows}
