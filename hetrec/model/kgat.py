"""KGAT (Wang et al. KDD 2019, https://arxiv.org/abs/1905.07854) over the collaborative knowledge graph (CKG).

Entities are all nodes of the heterograph in one global numbering; every canonical relation (interactions,
behaviours, attributes, each with its reverse) is a CKG relation r with an embedding ``e_r`` [rel_dim] and a
TransR projection ``W_r`` [dim, rel_dim].

- TransR (Eq. 1): ``g(h, r, t) = || W_r e_h + e_r - W_r e_t ||^2`` (row vectors: ``e_h @ W_r``).
- Attention (Eq. 4-5): ``pi(h, r, t) = (W_r e_t)^T tanh(W_r e_h + e_r)``, softmax over all triples with head h,
  across relations: the CKG is one homogeneous graph with edges tail -> head, and the softmax is
  :func:`hetrec.model.sparse.edge_softmax` per destination (= ``dgl.ops.edge_softmax`` on that graph).
- Bi-interaction (Eq. 8): ``f = LeakyReLU(W1 (e_h + e_N)) + LeakyReLU(W2 (e_h * e_N))``, ``e_N = sum pi e_t``.
- Output (Eq. 11): ``[e^(0) || e^(1) || ... || e^(L)]``, each propagated layer L2-normalised (as the authors' code).
"""
from __future__ import annotations

import hetrec  # noqa: F401  (DGL shim before dgl)
import dgl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hetrec.graph.adjacency import RelationIndex, relation_index
from hetrec.model.sparse import edge_softmax, spmm

__all__ = ["transr_score", "transr_distance", "project", "BiInteraction", "KGAT"]


def project(e: Tensor, rel: Tensor, weight: Tensor) -> Tensor:
    """``e[k] @ weight[rel[k]]`` for every row, one matmul per relation present (no [B, d, d] gather)."""
    order = torch.argsort(rel, stable=True)
    counts = torch.bincount(rel, minlength=weight.shape[0]).tolist()
    pieces = [p @ weight[r] for r, p in enumerate(e[order].split(counts)) if p.shape[0]]
    if not pieces:
        return e.new_zeros(0, weight.shape[-1])
    return torch.cat(pieces)[torch.argsort(order)]


def transr_score(e_h: Tensor, e_r: Tensor, e_t: Tensor, w_r: Tensor) -> Tensor:
    """TransR plausibility (lower = more plausible): ``||e_h W_r + e_r - e_t W_r||^2`` per row.

    Args: e_h, e_t: [B, dim]; e_r: [B, rel_dim]; w_r: [B, dim, rel_dim] (or one [dim, rel_dim] for all rows).
    """
    if w_r.dim() == 2:
        return transr_distance(e_h @ w_r, e_r, e_t @ w_r)
    return transr_distance(torch.bmm(e_h.unsqueeze(1), w_r).squeeze(1), e_r, torch.bmm(e_t.unsqueeze(1), w_r).squeeze(1))


def transr_distance(wh: Tensor, e_r: Tensor, wt: Tensor) -> Tensor:
    """:func:`transr_score` of already projected heads ``wh = e_h W_r`` and tails ``wt = e_t W_r``: [B]."""
    return (wh + e_r - wt).square().sum(-1)


class BiInteraction(nn.Module):
    """KGAT's bi-interaction aggregator (Eq. 8): ``LeakyReLU(W1(e_h + e_N)) + LeakyReLU(W2(e_h * e_N))``.

    Args: in_dim, out_dim: sizes; negative_slope: LeakyReLU slope (0.01, as torch's default and the authors').
    """

    def __init__(self, in_dim: int, out_dim: int, *, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.negative_slope = in_dim, out_dim, negative_slope
        self.w1 = nn.Linear(in_dim, out_dim)
        self.w2 = nn.Linear(in_dim, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.w1, self.w2):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, e_h: Tensor, e_n: Tensor) -> Tensor:
        act = lambda x: F.leaky_relu(x, self.negative_slope)  # noqa: E731
        return act(self.w1(e_h + e_n)) + act(self.w2(e_h * e_n))

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}"


class KGAT(nn.Module):
    """Entity/relation embeddings, TransR projections and ``num_layers`` attentive bi-interaction layers.

    Args:
        num_entities: N (all nodes, global ids). num_rels: R. dim: entity and layer size.
        num_layers: L >= 1. rel_dim: relation space size (default ``dim``). dropout: message dropout per layer.
    The graph structure is an argument: a :class:`RelationIndex` of the CKG (tail -> head) or a list of blocks.
    """

    def __init__(self, num_entities: int, num_rels: int, dim: int, num_layers: int, *, rel_dim: int | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.dim, self.rel_dim, self.dropout = dim, rel_dim or dim, dropout
        self.entity = nn.Parameter(torch.empty(num_entities, dim))
        self.relation = nn.Parameter(torch.empty(num_rels, self.rel_dim))
        self.trans_w = nn.Parameter(torch.empty(num_rels, dim, self.rel_dim))
        self.layers = nn.ModuleList([BiInteraction(dim, dim) for _ in range(num_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.entity)
        nn.init.xavier_uniform_(self.relation)
        nn.init.xavier_uniform_(self.trans_w)
        for layer in self.layers:
            layer.reset_parameters()

    @property
    def out_dim(self) -> int:
        return self.dim * (len(self.layers) + 1)

    def attention_scores(self, head: Tensor, rel: Tensor, tail: Tensor, *, chunk: int = 1 << 20) -> Tensor:
        """Unnormalised ``pi(h, r, t) = (W_r e_t)^T tanh(W_r e_h + e_r)`` per triple: [E].

        Why chunks: each triple needs a few [E, dim] temporaries; over the whole collaborative KG at Goodbooks
        scale (12.6M triples) they peaked at 20 GB. ``chunk`` triples at a time keep it to a few hundred MB.
        """
        pieces = [self._attention(head[s:s + chunk], rel[s:s + chunk], tail[s:s + chunk])
                  for s in range(0, head.numel(), chunk)]
        return torch.cat(pieces) if pieces else self.entity.new_zeros(0)

    def _attention(self, head: Tensor, rel: Tensor, tail: Tensor) -> Tensor:
        wh = project(self.entity[head], rel, self.trans_w)
        wt = project(self.entity[tail], rel, self.trans_w)
        return (wt * torch.tanh(wh + self.relation[rel])).sum(-1)

    def kg_scores(self, head: Tensor, rel: Tensor, tail: Tensor, tail_neg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """TransR scores of true and corrupted triples, and the L2 of the terms (for the KG loss)."""
        w = self.trans_w
        wh, wt, wn = (project(self.entity[x], rel, w) for x in (head, tail, tail_neg))
        er = self.relation[rel]
        pos, neg = transr_distance(wh, er, wt), transr_distance(wh, er, wn)  # projected once, grouped by relation
        reg = 0.5 * (wh.square().sum() + er.square().sum() + wt.square().sum() + wn.square().sum())
        return pos, neg, reg

    def _layer(self, k: int, index: RelationIndex, att: Tensor, h_src: Tensor) -> Tensor:
        e_n = spmm(index, att, h_src)
        out = self.layers[k](h_src[:index.num_dst], e_n)
        out = F.dropout(out, self.dropout, self.training)
        return F.normalize(out, dim=-1)

    def forward(self, index: RelationIndex, att: Tensor) -> Tensor:
        """Full CKG: ``[e^(0) || ... || e^(L)]`` for every entity, [N, dim * (L + 1)].

        index: the CKG (tail -> head) on the entities' device; att: normalised attention, CSR order.
        """
        h = self.entity
        outs = [h]
        for k in range(len(self.layers)):
            h = self._layer(k, index, att, h)
            outs.append(h)
        return torch.cat(outs, -1)

    def forward_blocks(self, blocks: list, scores: Tensor) -> Tensor:
        """Sampled CKG blocks (CPU): concatenated representations of the last block's destinations.

        scores: unnormalised attention per CKG edge id; re-normalised over each block's sampled neighbours.
        """
        dev = self.entity.device
        h = self.entity[blocks[0].srcdata[dgl.NID].to(dev)]
        n_out = blocks[-1].num_dst_nodes()
        outs = [h[:n_out]]
        for k, block in enumerate(blocks):
            index = relation_index(block, dev)
            att = edge_softmax(index, scores[block.edata[dgl.EID].to(dev)][index.eid])
            h = self._layer(k, index, att, h)
            outs.append(h[:n_out])
        return torch.cat(outs, -1)
