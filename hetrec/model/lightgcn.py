"""LightGCN (He et al. SIGIR 2020, https://arxiv.org/abs/2002.02126) on the train user-item graph.

``e^{k+1}_u = sum_{i in N(u)} e^k_i / sqrt(|N(u)| |N(i)|)`` and symmetrically for items: no
weights, no nonlinearity; the final representation is the mean of layers ``0..K``
(``alpha_k = 1 / (K + 1)``). Propagation reads the ``rates``/``rated_by`` relations of the
passed heterograph through the cached device CSR (:func:`hetrec.model.conv.propagate`), so
the graph stays on CPU and the arithmetic runs where the embeddings live.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from hetrec.graph.relations import interaction_relations
from hetrec.model.conv import propagate
from hetrec.model.loss import l2
from hetrec.model.init import check_graph_sizes, check_init, fill_tables
from hetrec.model.protocol import Recommender

__all__ = ["LightGCN"]


class LightGCN(nn.Module, Recommender):
    """Weightless symmetric-normalised propagation over the user-item graph, mean over layers.

    Args:
        num_users, num_items: node counts of ``user`` / ``item_type`` in the graph. dim: embedding size.
        num_layers: K, propagation steps (default 3, the paper's best on most data; 0 gives MF).
        item_type: item node type (``"book"`` / ``"item"``).
        init: optional ``{"user": [U, dim], item_type: [I, dim]}`` pretrained layer-0 tables.
    Why ``rated_by`` as well as ``rates``: both directions come from the graph's own relations, so
    each uses DGL's cached CSR and the degrees of the bipartite graph (user out-degree in ``rates`` =
    user degree) give exactly the paper's ``1/sqrt(|N(u)||N(i)|)``.
    """

    def __init__(self, num_users: int, num_items: int, dim: int, *, num_layers: int = 3, item_type: str = "book",
                 init: Mapping[str, Tensor] | None = None) -> None:
        super().__init__()
        if min(num_users, num_items, dim) <= 0:
            raise ValueError(f"sizes must be positive, got num_users={num_users} num_items={num_items} dim={dim}")
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_users, self.num_items, self.dim = num_users, num_items, dim
        self.num_layers, self.item_type = num_layers, item_type
        self._init = check_init(init, {"user": (num_users, dim), item_type: (num_items, dim)})
        self.user = nn.Parameter(torch.empty(num_users, dim))
        self.item = nn.Parameter(torch.empty(num_items, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Pretrained tables where given, else N(0, INIT_STD^2) as in the reference code."""
        fill_tables(((self.user, "user"), (self.item, self.item_type)), self._init)

    def layers(self, graph) -> list[tuple[Tensor, Tensor]]:
        """Per-layer ``(user, item)`` embeddings ``[(e^0_u, e^0_i), ..., (e^K_u, e^K_i)]``."""
        check_graph_sizes(graph, {"user": self.num_users, self.item_type: self.num_items})
        rates, rated_by = interaction_relations(graph, self.item_type)
        to_items, to_users = graph[rates], graph[rated_by]
        u, i = self.user, self.item
        out = [(u, i)]
        for _ in range(self.num_layers):
            u, i = propagate(to_users, i, norm="both"), propagate(to_items, u, norm="both")
            out.append((u, i))
        return out

    def forward(self, graph) -> tuple[Tensor, Tensor]:
        """Final ``(user [U, dim], item [I, dim])`` = mean of layers ``0..K``; score = dot product."""
        layers = self.layers(graph)
        users = torch.stack([u for u, _ in layers]).mean(0)
        items = torch.stack([i for _, i in layers]).mean(0)
        return users, items

    def reg_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """``l2(e^0_u, e^0_pos, e^0_neg) / batch_size``: the paper regularises layer 0 only."""
        return l2(self.user[users], self.item[pos], self.item[neg]) / max(len(users), 1)

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, dim={self.dim}, "
                f"num_layers={self.num_layers}, item_type={self.item_type!r}, pretrained={sorted(self._init)}")
