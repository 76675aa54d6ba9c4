"""RAM-GNN building blocks: relation composition φ, relation-level attention over same-value neighbours,
and the MLP distance of the Reinforced Neighbor Sampler (Wang et al., RAM-GNN; DESIGN "Method references").

The item graph holds quadruplets (i, t, v, j): items i and j share value v of attribute type t. An edge of a
sampled neighbour structure therefore carries (dst i, src j, value v); its relation embedding is
e_n = (e_t ‖ e_v) W_n. Why the projection W_n: the paper concatenates e_t and e_v, but φ(e_j, e_n) needs e_n
to have the item width d, and the embeddings contract keeps every exported node table at width d; one shared
linear map 2d -> d (no bias) keeps both.

Why memberships: the score pᵀσ(W_key e_j + W_qry e_n + b) and the message φ(e_j, e_n) W_val depend only on
the pair (j, v), a *membership* (an edge of the item–value graph), never on the destination i. So both are
computed once per membership (M = #item–value edges, e.g. 4.6k on ML-100K) and a sampled neighbour edge
(i <- membership m) only carries a scalar: a :class:`RelationIndex` (dst × membership) lets ``edge_softmax``
normalise per destination and one ``spmm`` sum α_e · message_m into i. No dense [E, d] work per edge.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hetrec.graph.adjacency import RelationIndex, gcn_values
from hetrec.model.sparse import edge_softmax, spmm

__all__ = ["COMPOSE", "circular_correlation", "compose", "edge_index", "RelationAttention", "RelationGraphEncoder",
           "SimilarityMLP"]

COMPOSE = ("add", "mul", "corr")


def circular_correlation(a: Tensor, b: Tensor) -> Tensor:
    """[a ⋆ b]_i = Σ_k a_k b_{(k+i) mod d}, via FFT: irfft(conj(rfft(a)) · rfft(b)); broadcasts over leading dims."""
    d = a.shape[-1]
    return torch.fft.irfft(torch.conj(torch.fft.rfft(a, dim=-1)) * torch.fft.rfft(b, dim=-1), n=d, dim=-1)


def compose(e_j: Tensor, e_n: Tensor, mode: str) -> Tensor:
    """φ(e_j, e_n): ``add`` e_j + e_n, ``mul`` e_j ⊙ e_n, ``corr`` e_j ⋆ e_n (circular correlation)."""
    if mode == "add":
        return e_j + e_n
    if mode == "mul":
        return e_j * e_n
    if mode == "corr":
        return circular_correlation(e_j, e_n)
    raise ValueError(f"compose must be one of {COMPOSE}, got {mode!r}")


def edge_index(dst: Tensor, src: Tensor, num_dst: int, num_src: int) -> RelationIndex:
    """A :class:`RelationIndex` (num_dst × num_src) of the given edges; repeated (dst, src) pairs collapse."""
    key = torch.unique(dst.to(torch.int64) * num_src + src.to(torch.int64))  # sorted by (dst, src): CSR order
    d = torch.div(key, num_src, rounding_mode="floor")
    c = key - d * num_src
    num_edges = key.numel()
    ar = torch.arange(num_edges, device=key.device)
    t_pos = torch.argsort(c, stable=True)  # transpose order: by src, then dst

    def crow(rows: Tensor, n: int) -> tuple[Tensor, Tensor]:
        counts = torch.bincount(rows, minlength=n)
        out = torch.zeros(n + 1, dtype=torch.int64, device=key.device)
        torch.cumsum(counts, 0, out=out[1:])
        return out, counts.to(torch.float32)

    (cr, in_deg), (t_cr, out_deg) = crow(d, num_dst), crow(c, num_src)
    return RelationIndex(num_src=num_src, num_dst=num_dst, crow=cr, src=c, dst=d, eid=ar, t_crow=t_cr,
                         t_col=d[t_pos], t_pos=t_pos, in_deg=in_deg, out_deg=out_deg)


class RelationAttention(nn.Module):
    """One RAM-GNN layer: h_i' = act(h_i W_self + Σ_e α_e φ(h_j, e_n) W_val).

    α_e = softmax over i's sampled edges of a_e = pᵀ σ(h_j W_key + e_n W_qry + b) (σ = sigmoid), or uniform
    (1 / #edges of i) with ``attention=False`` (the RAM-RNS ablation). Items without edges keep only the
    self connection.

    Args:
        dim: width d of h and e_n. compose: add | mul | corr. attention: learn α (else uniform).
    """

    def __init__(self, dim: int, *, compose: str = "corr", attention: bool = True) -> None:
        super().__init__()
        if compose not in COMPOSE:
            raise ValueError(f"compose must be one of {COMPOSE}, got {compose!r}")
        self.dim, self.compose, self.attention = dim, compose, attention
        self.w_self = nn.Parameter(torch.empty(dim, dim))
        self.w_val = nn.Parameter(torch.empty(dim, dim))
        self.w_key = nn.Parameter(torch.empty(dim, dim)) if attention else None
        self.w_qry = nn.Parameter(torch.empty(dim, dim)) if attention else None
        self.b = nn.Parameter(torch.empty(dim)) if attention else None
        self.p = nn.Parameter(torch.empty(dim)) if attention else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.w_self)
        nn.init.xavier_uniform_(self.w_val)
        if self.attention:
            nn.init.xavier_uniform_(self.w_key)
            nn.init.xavier_uniform_(self.w_qry)
            nn.init.zeros_(self.b)
            nn.init.normal_(self.p, std=self.dim ** -0.5)

    def weights(self, index: RelationIndex, h: Tensor, table: Tensor, mem_node: Tensor, mem_value: Tensor) -> Tensor:
        """α per edge (CSR order of ``index``, dst × membership): [E]. h: [N, d] node states; table: [V, d]
        relation embeddings e_n; mem_node/mem_value: [M] node j and ``table`` row of each membership."""
        if not self.attention:
            return gcn_values(index, "right")
        score = torch.sigmoid((h @ self.w_key)[mem_node] + (table @ self.w_qry)[mem_value] + self.b) @ self.p
        return edge_softmax(index, score[index.src])

    def forward(self, index: RelationIndex, h: Tensor, table: Tensor, mem_node: Tensor, mem_value: Tensor) -> Tensor:
        """See :meth:`weights` for the arguments. Returns the new states of the ``index.num_dst`` destinations,
        which are the first rows of ``h`` (every node in full-graph mode, a block's dst prefix when sampled)."""
        alpha = self.weights(index, h, table, mem_node, mem_value)
        if self.compose == "add":  # φ is linear: (e_j + e_n) W_val = (h W_val)[j] + (table W_val)[v]
            msg = (h @ self.w_val)[mem_node] + (table @ self.w_val)[mem_value]
        else:
            msg = compose(h[mem_node], table[mem_value], self.compose) @ self.w_val
        # dst rows are the first ``num_dst`` rows of h: all of them in full-graph mode, a block's
        # destination prefix in sampled mode (DGL blocks list their dst nodes first among the src nodes)
        return F.leaky_relu(h[:index.num_dst] @ self.w_self + spmm(index, alpha, msg), 0.2)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, compose={self.compose}, attention={self.attention}"


class RelationGraphEncoder(nn.Module):
    """Node embeddings of one owner type (items, or users with attributes) refined over same-value neighbours.

    Holds the owner's ID embeddings, one type embedding e_t per attribute relation, value embeddings e_v per
    relation and the projection W_n. Output: the mean of the layer states [h_0, ..., h_L] (why the mean: the
    dot-product BPR objective downstream works best when the ID embedding stays part of the representation,
    as in LightGCN's layer combination).

    Args:
        num_nodes: owner nodes N. num_values: values per attribute relation, in relation order. dim: d.
        layers: attention layers. compose, attention: see :class:`RelationAttention`.
    """

    def __init__(self, num_nodes: int, num_values: list[int], dim: int, *, layers: int = 2, compose: str = "corr",
                 attention: bool = True) -> None:
        super().__init__()
        self.num_nodes, self.num_values, self.dim = num_nodes, list(num_values), dim
        self.node = nn.Parameter(torch.empty(num_nodes, dim))
        self.type_emb = nn.Parameter(torch.empty(len(num_values), dim))
        self.value_emb = nn.Parameter(torch.empty(sum(num_values), dim))
        self.w_n = nn.Parameter(torch.empty(2 * dim, dim))
        offsets = torch.tensor([0] + list(num_values), dtype=torch.int64).cumsum(0)
        self.register_buffer("offsets", offsets[:-1].clone(), persistent=False)
        self.register_buffer("value_type", torch.repeat_interleave(torch.arange(len(num_values)),
                                                                   torch.tensor(num_values, dtype=torch.int64)),
                             persistent=False)
        self.layers = nn.ModuleList(RelationAttention(dim, compose=compose, attention=attention)
                                    for _ in range(layers))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.node, self.type_emb, self.value_emb):
            nn.init.normal_(p, std=0.1)
        nn.init.xavier_uniform_(self.w_n)
        for layer in self.layers:
            layer.reset_parameters()

    def relation_table(self) -> Tensor:
        """e_n = (e_t ‖ e_v) W_n for every value of every relation: [Σ num_values, d]."""
        return torch.cat([self.type_emb[self.value_type], self.value_emb], dim=1) @ self.w_n

    def forward(self, index: RelationIndex, mem_node: Tensor, mem_value: Tensor) -> Tensor:
        """index: sampled edges (N × M, see :func:`edge_index`); mem_node: [M] owner of each membership;
        mem_value: [M] its value as a row of :meth:`relation_table` (``offsets[r] + value``). Returns [N, d]."""
        table = self.relation_table()
        h, states = self.node, [self.node]
        for layer in self.layers:
            h = layer(index, h, table, mem_node, mem_value)
            states.append(h)
        return torch.stack(states).mean(0)

    def forward_blocks(self, input_nodes: Tensor, layers: list[tuple[RelationIndex, Tensor, Tensor]]) -> Tensor:
        """Sampled mode: the same output as :meth:`forward`, for a block's destinations only.

        input_nodes: [S] owner ids of the first block's source nodes (h_0 = ``node[input_nodes]``).
        layers: per layer, ``(index, mem_src, mem_value)``: the layer's kept edges (dst × local membership), the
        source row (in that layer's input) of each local membership's owner, and its relation-table row. Layer l's
        destinations are the first rows of layer l + 1's input, so each state's prefix is the seeds' state.
        """
        table = self.relation_table()
        h = self.node[input_nodes]
        states = [h]
        for layer, (index, mem_src, mem_value) in zip(self.layers, layers, strict=True):
            h = layer(index, h, table, mem_src, mem_value)
            states.append(h)
        n = h.shape[0]
        return torch.stack([s[:n] for s in states]).mean(0)

    def extra_repr(self) -> str:
        return f"num_nodes={self.num_nodes}, num_values={self.num_values}, dim={self.dim}"


class SimilarityMLP(nn.Module):
    """RNS distance d(e_i, e_j) = ‖σ(MLP(e_i)) − σ(MLP(e_j))‖₁ and similarity s = 1 − d / dim ∈ [0, 1].

    Why divide by dim: each coordinate of σ(·) lies in (0, 1), so the L1 distance lies in [0, dim); the paper's
    s = 1 − d is only a similarity in [0, 1] after this normalisation.
    """

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden or dim), nn.ReLU(), nn.Linear(hidden or dim, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def project(self, e: Tensor) -> Tensor:
        """σ(MLP(e)): compute once per node, then compare pairs with :meth:`l1` (cheaper than per pair)."""
        return torch.sigmoid(self.mlp(e))

    @staticmethod
    def l1(z_i: Tensor, z_j: Tensor) -> Tensor:
        """‖z_i − z_j‖₁ of projections, broadcasting over leading dims."""
        return (z_i - z_j).abs().sum(-1)

    def distance(self, e_i: Tensor, e_j: Tensor) -> Tensor:
        """L1 distance of the squashed projections, [...]; e_i, e_j broadcast: [..., d]."""
        return self.l1(self.project(e_i), self.project(e_j))

    def forward(self, e_i: Tensor, e_j: Tensor) -> Tensor:
        """Similarity s = 1 − d / dim in [0, 1]."""
        return 1.0 - self.distance(e_i, e_j) / self.dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
