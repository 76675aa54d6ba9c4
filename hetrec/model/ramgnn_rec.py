"""RAM-GNN's recommendation GNN (Wang et al., Eq. 18-21): attribute-enriched items, BPR-trained.

Items start from their own embedding concatenated with the mean embedding of their values of each
attribute type (Eq. 18): ``h^0_i = W3 [e_i || mean_{a in A_t1(i)} e_a || ... || mean_{a in A_tT(i)} e_a]``
(an item with no value of a type contributes zeros for it). Users are derived from their train
items (Eq. 19): ``h^0_u = mean_{i in N(u)} h^0_i (+ e_u)``. Then ``L`` layers over the user-item
graph (Eq. 20): ``h^{l+1}_v = sigma(W4^l [h^l_v || mean_{w in N(v)} h^l_w])``, and the final
representation combines layers ``0..L`` (Eq. 21); score = dot product.

Choices (where the paper leaves room):
- ``user_embedding=True`` adds a free user embedding ``e_u`` to the item-derived ``h^0_u``: users
  with the same train items would otherwise be indistinguishable, and a pretrained ``init["user"]``
  has somewhere to go. ``False`` is the paper's pure item-derived users.
- ``combine="concat"`` (default, as NGCF/KGAT) returns ``[h^0 || ... || h^L]`` of size
  ``dim * (L + 1)``; ``"mean"`` averages the layers (size ``dim``).
- Aggregations are unweighted means (``norm="right"``); ``W3``/``W4^l`` have no bias; one
  ``W4^l`` per layer is shared by users and items; ``sigma`` is LeakyReLU(0.2) or tanh.
- ``reg_loss`` regularises the batch's free layer-0 rows (``e_u``, ``e_pos``, ``e_neg``); the shared
  attribute tables and weight matrices are left to the optimiser's weight decay.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from hetrec.model.conv import propagate
from hetrec.model.loss import l2
from hetrec.graph.relations import interaction_relations
from hetrec.model.init import check_graph_sizes, check_init, fill_tables
from hetrec.model.protocol import Recommender

__all__ = ["RAMGNNRec", "attribute_relations", "item_attribute_sizes"]

_ACTIVATIONS = {"leaky_relu": lambda x: nn.functional.leaky_relu(x, 0.2), "tanh": torch.tanh}


def attribute_relations(graph, attribute: str, item_type: str) -> list[tuple[str, str, str]]:
    """The relations ``(attribute, *, item_type)`` carrying values to items (e.g. ``[(author, wrote, book)]``).

    A KG's shared ``entity`` type has one per KG relation; Eq. 18's mean then runs over all of them.
    """
    rels = sorted(r for r in graph.canonical_etypes if r[0] == attribute and r[2] == item_type)
    if not rels:
        raise ValueError(f"no relation from {attribute!r} to {item_type!r}; "
                         f"pass only item attribute types in attribute_sizes")
    return rels


def _mean_over(graph, rels, table: Tensor) -> Tensor:
    """Per item, the mean of ``table`` over its neighbours through all of ``rels`` (zeros for none)."""
    total = sum(propagate(graph[r], table, norm="none") for r in rels)
    deg = sum(graph[r].in_degrees() for r in rels).to(table.device)
    return total / deg.clamp_min(1).unsqueeze(1).to(table.dtype)


def item_attribute_sizes(graph, item_type: str) -> dict[str, int]:
    """``{attribute node type: count}`` for every node type with a relation into ``item_type``.

    Excludes ``user`` and the item type itself (``similar``); this is what ``RAMGNNRec`` expects.
    """
    types = sorted({s for s, _, d in graph.canonical_etypes if d == item_type and s not in ("user", item_type)})
    return {t: graph.num_nodes(t) for t in types}


class RAMGNNRec(nn.Module, Recommender):
    """Attribute-enriched interaction GNN of RAM-GNN (Eq. 18-21), see the module docstring.

    Args:
        num_users, num_items: node counts of ``user`` / ``item_type``. dim: embedding size.
        attribute_sizes: ``{attribute node type: number of values}`` (item attributes only;
            see :func:`item_attribute_sizes`).
        item_type: item node type. num_layers: L (default 2).
        init: optional pretrained layer-0 tables ``{"user", item_type, <attribute types>}``
            (any subset; the attribute tables are the pretrained attribute-value embeddings).
        user_embedding: add a free user embedding to the item-derived ``h^0_u`` (default True).
        combine: ``"concat"`` or ``"mean"`` of layers. activation: ``"leaky_relu"`` or ``"tanh"``.
    """

    def __init__(self, num_users: int, num_items: int, dim: int, *, attribute_sizes: Mapping[str, int],
                 item_type: str, num_layers: int = 2, init: Mapping[str, Tensor] | None = None,
                 user_embedding: bool = True, combine: str = "concat", activation: str = "leaky_relu") -> None:
        super().__init__()
        if min(num_users, num_items, dim) <= 0:
            raise ValueError(f"sizes must be positive, got num_users={num_users} num_items={num_items} dim={dim}")
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if combine not in ("concat", "mean"):
            raise ValueError(f"combine must be concat|mean, got {combine!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        bad = [a for a in attribute_sizes if a in ("user", item_type) or attribute_sizes[a] <= 0]
        if bad:
            raise ValueError(f"attribute_sizes must map attribute node types to positive counts, bad: {bad}")
        self.num_users, self.num_items, self.dim, self.item_type = num_users, num_items, dim, item_type
        self.attribute_types = sorted(attribute_sizes)
        self.attribute_sizes = {a: int(attribute_sizes[a]) for a in self.attribute_types}
        self.num_layers, self.combine, self.activation = num_layers, combine, activation
        tables = {item_type: (num_items, dim), **{a: (n, dim) for a, n in self.attribute_sizes.items()}}
        if user_embedding:
            tables["user"] = (num_users, dim)
        self._init = check_init(init, tables)
        self.user = nn.Parameter(torch.empty(num_users, dim)) if user_embedding else None
        self.item = nn.Parameter(torch.empty(num_items, dim))
        self.attribute = nn.ParameterDict({a: nn.Parameter(torch.empty(n, dim)) for a, n in self.attribute_sizes.items()})
        self.w3 = nn.Linear((1 + len(self.attribute_types)) * dim, dim, bias=False)
        self.w4 = nn.ModuleList([nn.Linear(2 * dim, dim, bias=False) for _ in range(num_layers)])
        self.reset_parameters()

    @property
    def out_dim(self) -> int:
        """Size of the final representations."""
        return self.dim * (self.num_layers + 1) if self.combine == "concat" else self.dim

    def reset_parameters(self) -> None:
        """Pretrained tables where given, else N(0, INIT_STD^2); Xavier-uniform weight matrices."""
        tables = [(self.item, self.item_type)] + [(self.attribute[a], a) for a in self.attribute_types]
        if self.user is not None:
            tables.append((self.user, "user"))
        fill_tables(tables, self._init)
        for lin in [self.w3, *self.w4]:
            nn.init.xavier_uniform_(lin.weight)

    def initial(self, graph) -> tuple[Tensor, Tensor]:
        """Layer 0 ``(h^0_u [U, dim], h^0_i [I, dim])`` (Eq. 18-19)."""
        check_graph_sizes(graph, {"user": self.num_users, self.item_type: self.num_items, **self.attribute_sizes})
        _, rated_by = interaction_relations(graph, self.item_type)
        parts = [self.item] + [
            _mean_over(graph, attribute_relations(graph, a, self.item_type), self.attribute[a])
            for a in self.attribute_types]
        h_item = self.w3(torch.cat(parts, dim=1))
        h_user = propagate(graph[rated_by], h_item, norm="right")
        if self.user is not None:
            h_user = h_user + self.user
        return h_user, h_item

    def layers(self, graph) -> list[tuple[Tensor, Tensor]]:
        """Per-layer ``(user, item)`` representations ``h^0 .. h^L`` (Eq. 20)."""
        rates, rated_by = interaction_relations(graph, self.item_type)
        to_items, to_users = graph[rates], graph[rated_by]
        act = _ACTIVATIONS[self.activation]
        u, i = self.initial(graph)
        out = [(u, i)]
        for w in self.w4:
            agg_u, agg_i = propagate(to_users, i, norm="right"), propagate(to_items, u, norm="right")
            u, i = act(w(torch.cat([u, agg_u], dim=1))), act(w(torch.cat([i, agg_i], dim=1)))
            out.append((u, i))
        return out

    def forward(self, graph) -> tuple[Tensor, Tensor]:
        """Final ``(user [U, out_dim], item [I, out_dim])`` (Eq. 21); score = dot product."""
        layers = self.layers(graph)
        if self.combine == "concat":
            return torch.cat([u for u, _ in layers], dim=1), torch.cat([i for _, i in layers], dim=1)
        return torch.stack([u for u, _ in layers]).mean(0), torch.stack([i for _, i in layers]).mean(0)

    def reg_loss(self, users: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        """``l2(e_u, e_pos, e_neg) / batch_size`` over the free layer-0 rows (no ``e_u`` without user_embedding)."""
        rows = [self.item[pos], self.item[neg]] + ([self.user[users]] if self.user is not None else [])
        return l2(*rows) / max(len(users), 1)

    def extra_repr(self) -> str:
        return (f"num_users={self.num_users}, num_items={self.num_items}, dim={self.dim}, "
                f"attributes={self.attribute_sizes}, item_type={self.item_type!r}, num_layers={self.num_layers}, "
                f"combine={self.combine!r}, activation={self.activation!r}, user_embedding={self.user is not None}, "
                f"pretrained={sorted(self._init)}")
