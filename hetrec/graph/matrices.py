"""The train heterograph as the two sparse matrices closed-form recommenders read.

- ``interaction_matrix``: X [users x items], 1 where the user has a train interaction (the graph holds
  train interactions only, so nothing held out can reach a closed form through here).
- ``item_side_matrix``: S [items x side nodes], 1 where an item has an edge to an attribute value or a KG
  entity. Columns are the nodes of every item-owned side relation, one block per node type, so an entity
  reached through several relations (a Freebase location that is both ``origin`` and ``place_of_birth``)
  is one column: it links the items that share it, whatever the relation.

Both are ``torch.sparse_coo_tensor`` (coalesced, float32) on the requested device.
"""
from __future__ import annotations

import torch
from torch import Tensor

from hetrec.graph import relations as R

__all__ = ["interaction_matrix", "item_side_matrix", "side_relations"]


def interaction_matrix(graph, item_type: str, device: torch.device | str = "cpu") -> Tensor:
    """Binary X [num_users, num_items] from the ``(user, rates, item)`` relation (duplicates count once)."""
    rel = (R.USER, R.RATES, item_type)
    if rel not in graph.canonical_etypes:
        raise ValueError(f"graph has no relation {rel}; it has {graph.canonical_etypes}")
    u, i = graph.edges(etype=rel)
    return _binary(u, i, (graph.num_nodes(R.USER), graph.num_nodes(item_type)), device)


def side_relations(graph, item_type: str) -> list[tuple[str, str, str]]:
    """Relations from items to side-information nodes (not users, not items), sorted."""
    return sorted(c for c in graph.canonical_etypes if c[0] == item_type and c[2] not in (R.USER, item_type))


def item_side_matrix(graph, item_type: str, device: torch.device | str = "cpu") -> tuple[Tensor, list[str]]:
    """Binary S [num_items, sum of side node counts] and the node types of its column blocks, in order.

    Raises ``ValueError`` when the graph has no item side information (nothing for a content model to use).
    """
    rels = side_relations(graph, item_type)
    if not rels:
        raise ValueError(f"the graph has no relation from {item_type!r} to attribute or KG nodes; "
                         "a content model needs item side information")
    types = sorted({c[2] for c in rels})
    offset, start = {}, 0
    for t in types:
        offset[t], start = start, start + graph.num_nodes(t)
    rows, cols = [], []
    for c in rels:
        i, v = graph.edges(etype=c)
        rows.append(i)
        cols.append(v + offset[c[2]])
    return _binary(torch.cat(rows), torch.cat(cols), (graph.num_nodes(item_type), start), device), types


def _binary(rows: Tensor, cols: Tensor, size: tuple[int, int], device) -> Tensor:
    idx = torch.stack([rows.long(), cols.long()])
    x = torch.sparse_coo_tensor(idx, torch.ones(idx.shape[1]), size, check_invariants=False).coalesce()
    return torch.sparse_coo_tensor(x.indices(), torch.ones_like(x.values()), size, check_invariants=False).coalesce().to(device)
