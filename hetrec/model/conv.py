"""GCN-style propagation over one relation, computing with torch SpMM.

Same numerics as ``dgl.nn.GraphConv`` without its weight (tests/model/test_conv.py wraps it as one) (Kipf & Welling 2017,
https://arxiv.org/abs/1609.02907): ``h_dst = act(sum_src c_{dst,src} w_e x_src W + b)``
with ``c`` from ``norm``. It differs in one way that matters: the arithmetic runs with
``torch.sparse`` on the device of the features, so a CPU-only DGL graph drives a GPU
computation (see ``hetrec/graph/adjacency.py``).
"""
from __future__ import annotations

from torch import Tensor

from hetrec.graph.adjacency import gcn_values, relation_index
from hetrec.model.sparse import spmm

__all__ = ["propagate"]


def propagate(rel_graph, x: Tensor, *, norm: str = "both", edge_weight: Tensor | None = None) -> Tensor:
    """Weightless normalised aggregation ``A_norm @ x`` over one relation (LightGCN's layer)."""
    index = relation_index(rel_graph, x.device)
    return spmm(index, gcn_values(index, norm, edge_weight), x)
