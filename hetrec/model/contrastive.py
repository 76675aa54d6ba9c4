"""SimGCL's contrastive regulariser (Yu et al., SIGIR 2022): two noise views of the propagated embeddings.

Each view adds, at every propagation layer, a random direction of length ``eps`` that keeps the sign of the
embedding (``Δ = sign(e) ⊙ normalize(U(0, 1))·eps``); the InfoNCE loss pulls a node's two views together and
pushes it from the other nodes of the batch:

    L_cl = mean_v −log( exp(z'_v·z''_v / τ) / Σ_w exp(z'_v·z''_w / τ) ),   z = normalize(e)

over the batch's distinct users and (separately) its distinct positive items.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["info_nce", "perturb"]


def perturb(x: Tensor, eps: float) -> Tensor:
    """``x + sign(x) * eps * normalize(U(0,1))`` row-wise (SimGCL's noise; torch's global RNG, seeded per run)."""
    noise = F.normalize(torch.rand_like(x), dim=-1)
    return x + torch.sign(x) * noise * eps


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Mean InfoNCE of matching rows of ``a`` and ``b`` [n, d] (cosine similarity / ``temperature``)."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))
