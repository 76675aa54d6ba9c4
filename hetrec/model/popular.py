"""Most-popular baseline expressed as embeddings, so the evaluator scores it like any model.

``user = 1`` and ``item = number of train interactions``: the dot product ranks every user's
items by train popularity (ties broken by the evaluator, as for any model).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from hetrec.graph.relations import interaction_relations
from hetrec.model.protocol import Recommender

__all__ = ["Fixed", "popularity_embeddings"]


def popularity_embeddings(graph, item_type: str) -> tuple[Tensor, Tensor]:
    """``(user [U, 1] ones, item [I, 1] train counts)`` as float32 from the ``rates`` relation.

    Counts are edges of ``(user, rates, item_type)``, i.e. train interactions (the graph holds
    no validation/test pairs); a repeated (user, item) edge counts each time.
    """
    rates, _ = interaction_relations(graph, item_type)
    counts = graph.in_degrees(etype=rates).to(torch.float32)
    users = torch.ones(graph.num_nodes("user"), 1)
    return users, counts.unsqueeze(1)


class Fixed(nn.Module, Recommender):
    """Parameter-free embeddings (most-popular): ``forward`` returns the stored tables; nothing to train."""

    def __init__(self, user: Tensor, item: Tensor) -> None:
        super().__init__()
        self.register_buffer("user", user)
        self.register_buffer("item", item)

    def forward(self, graph=None) -> tuple[Tensor, Tensor]:
        return self.user, self.item

    def reg_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        return self.user.new_zeros(())
