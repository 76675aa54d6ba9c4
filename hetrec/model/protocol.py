"""The recommender contract the BPR loop (hetrec/trainer/loop.py), the finetune stage and the evaluator rely on.

Like torchtune's ``recipe_interfaces.py``: a ``typing.Protocol`` that documents shape, not a base class to reuse
code from. Every recommender states it (``class MF(nn.Module, Recommender)``), and tests check each one.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class Recommender(Protocol):
    """A model scored by dot products of final user and item embeddings."""

    def forward(self, graph: Any) -> tuple[Tensor, Tensor]:
        """Final ``(user_emb [U, d], item_emb [I, d])``; ``score(u, i) = user_emb[u] . item_emb[i]``.
        ``graph`` is the train heterograph of the graph artifact, on the CPU (docs/architecture.md)."""
        ...

    def reg_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """L2 of the batch's layer-0 parameters divided by the batch size (a scalar)."""
        ...

    # Optional: ``aux_loss(graph, users, pos) -> Tensor``, a term the loop adds to BPR (e.g. SimGCL's contrastive
    # loss, hetrec/model/contrastive.py). Closed-form item–item models (hetrec/model/closed_form.py) are not
    # Recommenders: they have no embeddings, and score through ItemItemScorer.
