"""A relation's edge structure as device-side CSR, read from DGL once and cached.

Why: DGL 2.1 from PyPI is a CPU build, so a DGL graph cannot live on a GPU. DGL
still owns the structure: we ask it for the relation's CSC/CSR (computed and cached
in DGL's C++ graph) and copy those index tensors to the features' device once.
Relation modules then compute with ``torch.sparse`` kernels on that device.

Cache key: ``HeteroGraphConv`` slices ``g[stype, etype, dtype]`` on every forward,
which makes a new ``DGLGraph`` object each time, but the slice shares the parent's
edge ``Frame`` object. We therefore cache on that frame (weakly), together with the
relation's sizes and the device, so full-graph training reads the edges once per
run, not once per step, and a sampled block (new frames) gets its own entry.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch

__all__ = ["RelationIndex", "relation_index", "gcn_values", "clear_cache"]


@dataclass(frozen=True)
class RelationIndex:
    """Edges of one relation (dst x src), CSR-ordered by destination, on one device.

    crow: [num_dst + 1] row pointers; ``src``/``dst``: [E] endpoints in CSR order;
    ``eid``: [E] DGL edge id of each CSR position (to permute edge data into CSR order);
    ``t_crow``/``t_col``/``t_pos``: the transpose (src x dst) for backward passes, where
    ``t_pos`` maps each transposed position to its CSR position;
    ``in_deg``/``out_deg``: float degrees of dst / src nodes (unweighted, as DGL's GraphConv).
    """

    num_src: int
    num_dst: int
    crow: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    eid: torch.Tensor
    t_crow: torch.Tensor
    t_col: torch.Tensor
    t_pos: torch.Tensor
    in_deg: torch.Tensor
    out_deg: torch.Tensor
    norm_values: dict = field(default_factory=dict, compare=False, repr=False)  # norm -> gcn_values, see there

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    @property
    def device(self) -> torch.device:
        return self.crow.device


_CACHE: dict[int, dict] = {}  # id(edge frame) -> {key: RelationIndex}; entries die with their frame


def clear_cache() -> None:
    """Forget every cached index (tests use it; training never needs to)."""
    _CACHE.clear()


def _build(rel_graph, device: torch.device) -> RelationIndex:
    num_src, num_dst = rel_graph.num_src_nodes(), rel_graph.num_dst_nodes()
    # DGL's 'csc' is in-edges grouped by dst: exactly CSR of A[dst, src].
    crow, src, eid = (t.to(torch.int64) for t in rel_graph.adj_tensors("csc"))
    t_crow, t_col, t_eid = (t.to(torch.int64) for t in rel_graph.adj_tensors("csr"))
    num_edges = src.numel()
    dst = torch.repeat_interleave(torch.arange(num_dst), crow.diff())
    pos_of_eid = torch.empty(num_edges, dtype=torch.int64)
    pos_of_eid[eid] = torch.arange(num_edges)
    t_pos = pos_of_eid[t_eid]
    in_deg = crow.diff().to(torch.float32)
    out_deg = t_crow.diff().to(torch.float32)
    tensors = dict(crow=crow, src=src, dst=dst, eid=eid, t_crow=t_crow, t_col=t_col, t_pos=t_pos,
                   in_deg=in_deg, out_deg=out_deg)
    return RelationIndex(num_src=num_src, num_dst=num_dst,
                         **{k: v.to(device, non_blocking=True) for k, v in tensors.items()})


def _edge_frame(rel_graph):
    """The relation's edge-data ``Frame``, shared by every slice of one parent graph (see module docstring).

    DGL has no public handle for it: this is the one place hetrec reads DGL's private ``_edge_frames``;
    tests/model/test_conv.py pins the sharing, so a DGL change fails there, not silently in training."""
    return rel_graph._edge_frames[0]


def relation_index(rel_graph, device: torch.device | str = "cpu") -> RelationIndex:
    """The cached :class:`RelationIndex` of a single-relation graph or block on ``device``."""
    if len(rel_graph.canonical_etypes) != 1:
        raise ValueError(f"expected a single-relation graph, got {rel_graph.canonical_etypes}")
    device = torch.device(device)
    frame = _edge_frame(rel_graph)
    key = (rel_graph.num_src_nodes(), rel_graph.num_dst_nodes(), rel_graph.num_edges(), str(device))
    entries = _CACHE.get(id(frame))
    if entries is None:  # Frame is unhashable, so key on its id and drop the entry when it is collected
        entries = _CACHE[id(frame)] = {}
        weakref.finalize(frame, _CACHE.pop, id(frame), None)
    if key not in entries:
        entries.clear()  # a frame belongs to one relation; a new key means new structure
        entries[key] = _build(rel_graph, device)
    return entries[key]


def gcn_values(index: RelationIndex, norm: str = "both", edge_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Per-edge values (CSR order) of the GCN-normalised adjacency, as ``dgl.nn.GraphConv`` defines it.

    norm: ``both`` 1/sqrt(d_out(src) d_in(dst)), ``right`` 1/d_in(dst) (mean),
    ``left`` 1/d_out(src), ``none`` 1. Degrees are unweighted and clamped at 1;
    ``edge_weight`` ([E], DGL edge-id order) multiplies the messages, as in GraphConv.
    """
    if norm not in ("both", "right", "left", "none"):
        raise ValueError(f"norm must be both|right|left|none, got {norm!r}")
    if edge_weight is None:  # structure-only values: computed once per relation, not once per propagation
        if norm not in index.norm_values:
            index.norm_values[norm] = _norm_values(index, norm)
        return index.norm_values[norm]
    return _norm_values(index, norm) * edge_weight.to(index.device)[index.eid].reshape(-1)


def _norm_values(index: RelationIndex, norm: str) -> torch.Tensor:
    values = torch.ones(index.num_edges, device=index.device)
    if norm in ("both", "left"):
        values = values * index.out_deg.clamp(min=1).pow(-0.5 if norm == "both" else -1.0)[index.src]
    if norm in ("both", "right"):
        values = values * index.in_deg.clamp(min=1).pow(-0.5 if norm == "both" else -1.0)[index.dst]
    return values
