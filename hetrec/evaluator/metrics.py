"""Top-K ranking metrics from a hit matrix, with RecBole's definitions so figures compare directly.

Input everywhere: ``hits`` BoolTensor[n_users, K] (``hits[u, r-1]`` is True when the item at rank r of user u's
list is one of u's targets) and ``n_pos`` LongTensor[n_users] (u's number of targets, >= 1, counting targets
that could not be ranked, e.g. masked ones). Each per-metric function returns per-user values at cut-off k;
:func:`compute_metrics` averages them over users. Arithmetic is float64 so tiny hand-computed cases match exactly.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor


def _check(hits: Tensor, k: int) -> Tensor:
    if hits.dim() != 2:
        raise ValueError(f"hits must be [n_users, K], got shape {tuple(hits.shape)}")
    if not 1 <= k <= hits.shape[1]:
        raise ValueError(f"cut-off k={k} must lie in [1, K={hits.shape[1]}]")
    return hits[:, :k].to(torch.float64)


def _discounts(k: int, device: torch.device) -> Tensor:
    """1 / log2(r + 1) for ranks r = 1..k."""
    return 1.0 / torch.log2(torch.arange(2, k + 2, device=device, dtype=torch.float64))


def hit_at_k(hits: Tensor, k: int) -> Tensor:
    """Hit@k_u = 1 if any target is in the top k, else 0."""
    return _check(hits, k).amax(dim=1)


def mrr_at_k(hits: Tensor, k: int) -> Tensor:
    """MRR@k_u = 1 / r_u, the reciprocal rank of the first target in the top k; 0 if none is."""
    h = _check(hits, k)
    ranks = torch.arange(1, k + 1, device=h.device, dtype=torch.float64)
    return (h / ranks).amax(dim=1)


def ndcg_at_k(hits: Tensor, n_pos: Tensor, k: int) -> Tensor:
    """NDCG@k_u = DCG / IDCG with binary relevance (RecBole ``NDCG``).

    DCG = sum_{r=1..k} hit_r / log2(r + 1);  IDCG = sum_{r=1..min(n_pos_u, k)} 1 / log2(r + 1).
    """
    h = _check(hits, k)
    disc = _discounts(k, h.device)
    ideal = torch.cumsum(disc, 0)[n_pos.to(h.device).clamp(1, k) - 1]
    return (h * disc).sum(dim=1) / ideal


def recall_at_k(hits: Tensor, n_pos: Tensor, k: int) -> Tensor:
    """Recall@k_u = (# targets in the top k) / n_pos_u (RecBole divides by all positives, not min(n_pos, k))."""
    return _check(hits, k).sum(dim=1) / n_pos.to(hits.device, torch.float64)


def catalog_coverage(topk_items: Tensor, num_items: int) -> float:
    """Coverage = |distinct items appearing in any top-k list| / num_items; negative ids (padding) are ignored."""
    items = topk_items.reshape(-1)
    items = items[items >= 0]
    seen = torch.zeros(num_items, dtype=torch.bool, device=items.device)
    seen[items] = True
    return float(seen.sum()) / num_items


def compute_metrics(hits: Tensor, n_pos: Tensor, ks: Iterable[int] = (10, 20, 50)) -> dict[str, float]:
    """Mean over users of hit@k, ndcg@k, mrr@k, recall@k for each k in ``ks`` (k <= hits.shape[1]).

    Returns ``{"hit@10": ..., "ndcg@10": ..., "mrr@10": ..., "recall@10": ..., ...}``; an empty user set gives NaN.
    """
    if hits.shape[0] != n_pos.shape[0]:
        raise ValueError(f"hits has {hits.shape[0]} users but n_pos has {n_pos.shape[0]}")
    if n_pos.numel() and int(n_pos.min()) < 1:
        raise ValueError("every evaluated user needs at least one target (n_pos >= 1)")
    out: dict[str, float] = {}
    for k in ks:
        per_user = {"hit": hit_at_k(hits, k), "ndcg": ndcg_at_k(hits, n_pos, k),
                    "mrr": mrr_at_k(hits, k), "recall": recall_at_k(hits, n_pos, k)}
        for name, values in per_user.items():
            out[f"{name}@{k}"] = float(values.mean()) if values.numel() else float("nan")
    return out
