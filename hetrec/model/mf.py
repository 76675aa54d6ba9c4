"""Matrix factorisation with BPR (Rendle et al. UAI 2009): the graph-free baseline.

Also home of :func:`check_init`, the validation every embedding model applies to a
pretraining artifact's tables before copying them into its layer-0 parameters.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from hetrec.model.loss import l2

__all__ = ["MF", "check_init", "check_graph_sizes", "INIT_STD"]

INIT_STD = 0.1  # N(0, 0.1^2) layer-0 init, as in LightGCN's reference code


def check_init(init: Mapping[str, Tensor] | None, tables: Mapping[str, tuple[int, int]]) -> dict[str, Tensor]:
    """Validate pretrained tables against a model's layer-0 tables; return the usable ones (float32, CPU).

    init: ``{node_type: [rows, dim]}`` from an embeddings artifact (extra node types are ignored:
    an artifact holds every node type, a model uses some). tables: ``{node_type: (rows, dim)}`` the
    model expects. Raises ``ValueError`` on a wrong row count or dimension, or when ``init`` names
    none of the model's tables (e.g. the wrong item type).
    """
    if init is None:
        return {}
    used = {}
    for key, (rows, dim) in tables.items():
        if key not in init:
            continue
        t = torch.as_tensor(init[key])
        if t.dim() != 2 or t.shape[1] != dim:
            raise ValueError(f"init[{key!r}] has shape {tuple(t.shape)}, model needs dim {dim}: "
                             f"pretrain and finetune with the same --dim")
        if t.shape[0] != rows:
            raise ValueError(f"init[{key!r}] has {t.shape[0]} rows, the graph has {rows} {key} nodes: "
                             f"pretrain on the same graph artifact")
        used[key] = t.detach().to("cpu", torch.float32).clone()
    if not used:
        raise ValueError(f"init has tables {sorted(init)} but the model needs some of {sorted(tables)}")
    return used


def fill_tables(tables, init: Mapping[str, Tensor]) -> None:
    """Copy pretrained values into each ``(parameter, node type)`` where ``init`` has them, else N(0, INIT_STD^2)."""
    with torch.no_grad():
        for param, key in tables:
            if key in init:
                param.copy_(init[key])
            else:
                nn.init.normal_(param, std=INIT_STD)


def check_graph_sizes(graph, sizes: Mapping[str, int]) -> None:
    """Raise ``ValueError`` when the graph's node counts differ from the model's sizes."""
    for ntype, n in sizes.items():
        if ntype not in graph.ntypes:
            raise ValueError(f"graph has no node type {ntype!r} (node types: {graph.ntypes})")
        if graph.num_nodes(ntype) != n:
            raise ValueError(f"graph has {graph.num_nodes(ntype)} {ntype} nodes, model was built for {n}")


class MF(nn.Module):
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
