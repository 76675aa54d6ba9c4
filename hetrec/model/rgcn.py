"""R-GCN (Schlichtkrull et al. 2018, https://arxiv.org/abs/1703.06103) on a heterograph, any device.

Layer (Eq. 2): ``h_i' = act( sum_r sum_{j in N_r(i)} 1/|N_r(i)| W_r h_j + W_0 h_i + b )``, with basis
decomposition (Eq. 3) ``W_r = sum_b a_rb V_b`` when ``num_bases > 0``. The relation sum runs through
``dgl.nn.HeteroGraphConv``; each relation's mean aggregation is a torch SpMM over the cached CSR
(:func:`hetrec.model.conv.propagate`), so DGL graphs and blocks stay on CPU while features live on the device.
"""
from __future__ import annotations

from typing import Sequence

import hetrec  # noqa: F401  (DGL shim before dgl)
import dgl
import dgl.nn as dglnn
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hetrec.model.conv import propagate

__all__ = ["RelationWeights", "RelationMean", "RGCNLayer", "RGCN"]


class RelationWeights(nn.Module):
    """Per-relation weight matrices ``W_r`` [in_dim, out_dim], free or by basis decomposition.

    Args:
        num_rels: R. in_dim, out_dim: matrix sizes.
        num_bases: B; 0 (or >= R) learns one free matrix per relation; otherwise ``W_r = sum_b coeff[r, b] bases[b]``
            (R*B + B*in*out parameters instead of R*in*out).
    """

    def __init__(self, num_rels: int, in_dim: int, out_dim: int, *, num_bases: int = 0) -> None:
        super().__init__()
        if num_bases < 0:
            raise ValueError(f"num_bases must be >= 0, got {num_bases}")
        self.num_rels, self.in_dim, self.out_dim = num_rels, in_dim, out_dim
        self.num_bases = num_bases if 0 < num_bases < num_rels else 0
        self.bases = nn.Parameter(torch.empty(self.num_bases or num_rels, in_dim, out_dim))
        self.coeff = nn.Parameter(torch.empty(num_rels, self.num_bases)) if self.num_bases else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        nn.init.xavier_uniform_(self.bases, gain=gain)
        if self.coeff is not None:
            nn.init.xavier_uniform_(self.coeff, gain=gain)

    def forward(self) -> Tensor:
        """All relation weights: [R, in_dim, out_dim]."""
        if self.coeff is None:
            return self.bases
        return (self.coeff @ self.bases.reshape(self.num_bases, -1)).reshape(self.num_rels, self.in_dim, self.out_dim)

    def extra_repr(self) -> str:
        return f"num_rels={self.num_rels}, in_dim={self.in_dim}, out_dim={self.out_dim}, num_bases={self.num_bases}"


class RelationMean(nn.Module):
    """One relation's message: mean over in-neighbours of ``x_src @ weight`` (no parameters; ``weight`` handed in).

    Same call contract as a ``dgl.nn`` conv inside ``HeteroGraphConv``: ``(rel_graph, (src, dst), weight=W_r)``.
    The transform goes first (``num_src x in x out``) so the SpMM runs at the output width.
    """

    def forward(self, graph, feat: Tensor | tuple[Tensor, Tensor], weight: Tensor) -> Tensor:
        x = feat[0] if isinstance(feat, tuple) else feat
        return propagate(graph, x @ weight, norm="right")


class RGCNLayer(nn.Module):
    """One R-GCN layer over the relations ``rel_names`` (Eq. 2, optional basis decomposition Eq. 3).

    Args:
        in_dim, out_dim: feature sizes. rel_names: relation (etype) names, unique in the graph.
        num_bases: see :class:`RelationWeights`. self_loop: add ``W_0 h_i``. bias: add ``b``.
        activation: applied last (None for the output layer).
    """

    def __init__(self, in_dim: int, out_dim: int, rel_names: Sequence[str], *, num_bases: int = 0,
                 self_loop: bool = True, bias: bool = True, activation=None) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.rel_names = in_dim, out_dim, list(rel_names)
        self.activation = activation
        self.weights = RelationWeights(len(self.rel_names), in_dim, out_dim, num_bases=num_bases)
        self.conv = dglnn.HeteroGraphConv({r: RelationMean() for r in self.rel_names}, aggregate="sum")
        self.loop_weight = nn.Parameter(torch.empty(in_dim, out_dim)) if self_loop else None
        self.bias = nn.Parameter(torch.empty(out_dim)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.weights.reset_parameters()
        if self.loop_weight is not None:
            nn.init.xavier_uniform_(self.loop_weight, gain=nn.init.calculate_gain("relu"))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, graph: dgl.DGLGraph, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        """graph: heterograph or block (CPU); feats: src features per type -> dst features per type."""
        w = self.weights()
        kwargs = {r: {"weight": w[k]} for k, r in enumerate(self.rel_names)}
        msgs = self.conv(graph, feats, mod_kwargs=kwargs)
        out = {}
        for t in graph.dsttypes:
            if t not in feats:
                continue
            x_dst = feats[t][:graph.num_dst_nodes(t)] if graph.is_block else feats[t]
            h = msgs.get(t, x_dst.new_zeros(x_dst.shape[0], self.out_dim))
            if self.loop_weight is not None:
                h = h + x_dst @ self.loop_weight
            if self.bias is not None:
                h = h + self.bias
            out[t] = self.activation(h) if self.activation is not None else h
        return out

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, rels={len(self.rel_names)}"


class RGCN(nn.Module):
    """Learned input embeddings for every node type, then ``num_layers`` R-GCN layers (ReLU between, none last).

    Args:
        num_nodes: nodes per type. rel_names: relation names. dim: size of every layer.
        num_layers: L >= 1. num_bases: basis decomposition (0 = off). dropout: on hidden layers.
    """

    def __init__(self, num_nodes: dict[str, int], rel_names: Sequence[str], dim: int, num_layers: int, *,
                 num_bases: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.dim, self.dropout = dim, dropout
        self.embed = nn.ParameterDict({t: nn.Parameter(torch.empty(n, dim)) for t, n in num_nodes.items()})
        self.layers = nn.ModuleList([
            RGCNLayer(dim, dim, rel_names, num_bases=num_bases, activation=F.relu if k < num_layers - 1 else None)
            for k in range(num_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in self.embed.values():
            nn.init.normal_(p, std=0.1)
        for layer in self.layers:
            layer.reset_parameters()

    def _run(self, graphs, h: dict[str, Tensor]) -> dict[str, Tensor]:
        for k, (g, layer) in enumerate(zip(graphs, self.layers)):
            h = layer(g, h)
            if k < len(self.layers) - 1 and self.dropout:
                h = {t: F.dropout(v, self.dropout, self.training) for t, v in h.items()}
        return h

    def forward(self, graph: dgl.DGLGraph) -> dict[str, Tensor]:
        """Full graph: final representations of every node, per type."""
        return self._run([graph] * len(self.layers), dict(self.embed.items()))

    def forward_blocks(self, blocks: list) -> dict[str, Tensor]:
        """Sampled blocks (one per layer): final representations of the last block's destination nodes."""
        first = blocks[0]
        ids = {t: first.srcnodes[t].data[dgl.NID] for t in first.srctypes}
        dev = next(iter(self.embed.values())).device
        h = {t: self.embed[t][ids[t].to(dev)] for t in first.srctypes}
        return self._run(blocks, h)
