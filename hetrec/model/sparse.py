"""Sparse kernels every relation module uses: SpMM with gradients for both operands,
and a per-destination softmax of edge scores.

Why a custom autograd function: attention needs gradients w.r.t. the sparse values
(edge scores) as well as the dense features, on CPU and CUDA alike. Forward is one
CSR SpMM (cuSPARSE on GPU, MKL on CPU); backward is one SpMM with the transposed
structure (cached in :class:`RelationIndex`) plus a gathered row-wise dot product
for the values. No per-edge ``index_add_`` in the aggregation.
"""
from __future__ import annotations

import warnings

import torch

from hetrec.graph.adjacency import RelationIndex

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

__all__ = ["spmm", "edge_softmax", "softmax_by", "attend"]


def _csr(crow, col, values, shape):
    return torch.sparse_csr_tensor(crow, col, values, size=shape, check_invariants=False)


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, x, index: RelationIndex):
        ctx.index = index
        ctx.save_for_backward(values, x)
        a = _csr(index.crow, index.src, values, (index.num_dst, index.num_src))
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad_out):
        values, x = ctx.saved_tensors
        index: RelationIndex = ctx.index
        grad_values = grad_x = None
        grad_out = grad_out.contiguous()
        if ctx.needs_input_grad[0]:
            grad_values = (grad_out[index.dst] * x[index.src]).sum(-1)
        if ctx.needs_input_grad[1]:
            at = _csr(index.t_crow, index.t_col, _transposed(index, values), (index.num_src, index.num_dst))
            grad_x = torch.sparse.mm(at, grad_out)
        return grad_values, grad_x, None


def _transposed(index: RelationIndex, values: torch.Tensor) -> torch.Tensor:
    """``values`` in transposed (src-major) order. Structure-only values (the cached GCN normalisations of
    :func:`hetrec.graph.adjacency.gcn_values`) are permuted once per relation, not once per backward: that
    E-sized gather was a third of a LightGCN layer's backward on CPU."""
    if not values.requires_grad:
        for norm, cached in list(index.norm_values.items()):
            if cached is values and isinstance(norm, str):
                key = ("transposed", norm)
                if key not in index.norm_values:
                    index.norm_values[key] = values[index.t_pos]
                return index.norm_values[key]
    return values[index.t_pos]


def spmm(index: RelationIndex, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out[d] = sum_e values[e] * x[src[e]]`` over edges e into d: [num_dst, dim].

    values: [E] in CSR order (``index.src``/``index.dst`` order); x: [num_src, dim].
    """
    if x.shape[0] != index.num_src:
        raise ValueError(f"features have {x.shape[0]} rows, relation has {index.num_src} source nodes")
    if index.num_edges == 0:
        return x.new_zeros(index.num_dst, *x.shape[1:])
    shape = x.shape
    out = _SpMM.apply(values.to(x.dtype), x.reshape(shape[0], -1), index)
    return out.reshape(index.num_dst, *shape[1:])


def edge_softmax(index: RelationIndex, scores: torch.Tensor) -> torch.Tensor:
    """Softmax of edge scores over each destination's incoming edges (CSR order in and out).

    Matches ``dgl.ops.edge_softmax`` (normalised by destination). scores: [E] or [E, H].
    """
    return softmax_by(index.dst, index.num_dst, scores)


def softmax_by(dst: torch.Tensor, num_dst: int, scores: torch.Tensor) -> torch.Tensor:
    """Softmax of ``scores`` [E] or [E, H] over the entries sharing a destination ``dst`` [E] (any order): the
    arithmetic of :func:`edge_softmax` for edge lists that are not one relation's CSR."""
    dst = dst if scores.dim() == 1 else dst.unsqueeze(-1).expand_as(scores)
    shape = (num_dst,) + tuple(scores.shape[1:])
    peak = scores.new_full(shape, float("-inf")).scatter_reduce(0, dst, scores.detach(), "amax")
    exp = (scores - peak.gather(0, dst)).exp()
    total = scores.new_zeros(shape).scatter_add(0, dst, exp)
    return exp / total.gather(0, dst)


def attend(index: RelationIndex, scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Attention aggregation: softmax the edge scores per destination, then SpMM."""
    return spmm(index, edge_softmax(index, scores), x)
