"""Most-popular baseline expressed as embeddings, so the evaluator scores it like any model.

``user = 1`` and ``item = number of train interactions``: the dot product ranks every user's
items by train popularity (ties broken by the evaluator, as for any model).
"""
from __future__ import annotations

import torch
from torch import Tensor

from hetrec.model.lightgcn import interaction_relations

__all__ = ["popularity_embeddings"]


def popularity_embeddings(graph, item_type: str) -> tuple[Tensor, Tensor]:
    """``(user [U, 1] ones, item [I, 1] train counts)`` as float32 from the ``rates`` relation.

    Counts are edges of ``(user, rates, item_type)``, i.e. train interactions (the graph holds
    no validation/test pairs); a repeated (user, item) edge counts each time.
    """
    rates, _ = interaction_relations(graph, item_type)
    counts = graph.in_degrees(etype=rates).to(torch.float32)
    users = torch.ones(graph.num_nodes("user"), 1)
    return users, counts.unsqueeze(1)
