"""Matrix factorisation with BPR (Rendle et al. UAI 2009): the graph-free baseline."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from hetrec.model.init import check_graph_sizes, check_init, fill_tables
from hetrec.model.loss import l2
from hetrec.model.protocol import Recommender

__all__ = ["MF"]

class MF(nn.Module, Recommender):
    """BPR-MF: ``score(u, i) = e_u . e_i`` with free user and item embeddings.

    Args:
        num_users, num_items: table sizes. dim: embedding size.
        init: optional ``{"user": [U, dim], item_type: [I, dim]}`` pretrained tables (either may be missing).
        item_type: the key of the item table in ``init`` (``"book"`` / ``"item"``).
    """

    def __init__(self, num_users: int, num_items: int, dim: int, *, init: Mapping[str, Tensor] | None = None,
                 item_type: str = "item") -> None:
        super().__init__()
        if min(num_users, num_items, dim) <= 0:
            raise ValueError(f"sizes must be positive, got num_users={num_users} num_items={num_items} dim={dim}")
        self.num_users, self.num_items, self.dim, self.item_type = num_users, num_items, dim, item_type
        self._init = check_init(init, {"user": (num_users, dim), item_type: (num_items, dim)})
        self.user = nn.Parameter(torch.empty(num_users, dim))
        self.item = nn.Parameter(torch.empty(num_items, dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Pretrained tables where given, else N(0, INIT_STD^2)."""
        fill_tables(((self.user, "user"), (self.item, self.item_type)), self._init)

    def forward(self, graph=None) -> tuple[Tensor, Tensor]:
        """The embedding tables ``(user [U, dim], item [I, dim])``; the graph only checks sizes."""
        if graph is not None:
            check_graph_sizes(graph, {"user": self.num_users, self.item_type: self.num_items})
        return self.user, self.item

    def reg_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """``l2(e_u, e_pos, e_neg) / batch_size`` (LightGCN's convention)."""
        return l2(self.user[users], self.item[pos], self.item[neg]) / max(len(users), 1)

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, dim={self.dim}, "
                f"item_type={self.item_type!r}, pretrained={sorted(self._init)}")
