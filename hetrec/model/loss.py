"""Ranking losses and the L2 penalty used by every recommender (BPR, Rendle et al. UAI 2009).

Why functions, not modules: the trainer owns the loop and combines ``bpr_loss`` with a model's
``reg_loss``; nothing here has parameters.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["bpr_loss", "l2"]


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Mean BPR loss ``mean(-log sigmoid(pos - neg)) = mean(softplus(neg - pos))``.

    softplus is the numerically stable form: no ``log(0)`` for large score gaps.

    Args:
        pos: [B] scores of the observed (user, item) pairs.
        neg: [B] scores of the sampled negatives, aligned with ``pos``.
    """
    if pos.shape != neg.shape:
        raise ValueError(f"pos and neg scores differ in shape: {tuple(pos.shape)} vs {tuple(neg.shape)}")
    return F.softplus(neg - pos).mean()


def l2(*tensors: Tensor) -> Tensor:
    """Half the summed squared L2 norm of ``tensors``: ``0.5 * sum_t ||t||^2``.

    The factor 1/2 follows LightGCN's reference code (``reg = 0.5 * (|e_u|^2 + |e_i|^2 + |e_j|^2)``),
    so ``reg_loss = l2(...) / batch_size`` reproduces its ``weight_decay`` scale.
    """
    if not tensors:
        raise ValueError("l2 needs at least one tensor")
    return 0.5 * sum(t.pow(2).sum() for t in tensors)
