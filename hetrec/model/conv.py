"""GCN-style relation module for ``dgl.nn.HeteroGraphConv``, computing with torch SpMM.

Same contract and numerics as ``dgl.nn.GraphConv`` (Kipf & Welling 2017,
https://arxiv.org/abs/1609.02907): ``h_dst = act(sum_src c_{dst,src} w_e x_src W + b)``
with ``c`` from ``norm``. It differs in one way that matters: the arithmetic runs with
``torch.sparse`` on the device of the features, so a CPU-only DGL graph drives a GPU
computation (see ``hetrec/graph/adjacency.py``).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from hetrec.graph.adjacency import gcn_values, relation_index
from hetrec.model.sparse import spmm

__all__ = ["SparseGraphConv", "propagate"]


def propagate(rel_graph, x: Tensor, *, norm: str = "both", edge_weight: Tensor | None = None) -> Tensor:
    """Weightless normalised aggregation ``A_norm @ x`` over one relation (LightGCN's layer)."""
    index = relation_index(rel_graph, x.device)
    return spmm(index, gcn_values(index, norm, edge_weight), x)


class SparseGraphConv(nn.Module):
    """Drop-in for ``dgl.nn.GraphConv`` inside ``HeteroGraphConv``, on any device.

    Args:
        in_dim: input feature size. out_dim: output size.
        norm: ``both`` (symmetric), ``right`` (mean over in-edges), ``left`` or ``none``.
        weight: learn a linear map ``W`` (else ``in_dim`` must equal ``out_dim``).
        bias: add a learned bias. activation: applied last.
        edge_weight_field: name of an edge-data field to use as message weight when no
            ``edge_weight`` is passed (e.g. ``"weight"`` for tag counts).
    """

    def __init__(self, in_dim: int, out_dim: int, *, norm: str = "both", weight: bool = True, bias: bool = True,
                 activation: Callable[[Tensor], Tensor] | None = None, edge_weight_field: str | None = None) -> None:
        super().__init__()
        if norm not in ("both", "right", "left", "none"):
            raise ValueError(f"norm must be both|right|left|none, got {norm!r}")
        if not weight and in_dim != out_dim:
            raise ValueError("weight=False needs in_dim == out_dim")
        self.in_dim, self.out_dim, self.norm = in_dim, out_dim, norm
        self.activation, self.edge_weight_field = activation, edge_weight_field
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim)) if weight else None
        self.bias = nn.Parameter(torch.empty(out_dim)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, graph, feat: Tensor | tuple[Tensor, Tensor], weight: Tensor | None = None,
                edge_weight: Tensor | None = None) -> Tensor:
        """graph: a single-relation graph or block; feat: src features or (src, dst) pair."""
        x = feat[0] if isinstance(feat, tuple) else feat
        if edge_weight is None and self.edge_weight_field is not None:
            edge_weight = graph.edata[self.edge_weight_field]
        w = weight if weight is not None else self.weight
        if w is not None and self.in_dim > self.out_dim:  # multiply first: cheaper SpMM
            x = x @ w
            w = None
        out = propagate(graph, x, norm=self.norm, edge_weight=edge_weight)
        if w is not None:
            out = out @ w
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out) if self.activation is not None else out

    def extra_repr(self) -> str:
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, norm={self.norm}"
