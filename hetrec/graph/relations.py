"""Names of node types and relations, and the string keys used for them in manifests.

Why one module: the builder, the artifact loader, the leakage check and the models must
agree on which relations connect users and items; spelling them once keeps them in step.
"""
from __future__ import annotations

USER = "user"
RATES = "rates"
RATED_BY = "rated_by"
SIMILAR = "similar"
BEHAVIOUR_REVERSE_SUFFIX = "_by"  # to_read -> to_read_by

CanonicalEtype = tuple[str, str, str]


def etype_key(etype: CanonicalEtype) -> str:
    """``("user", "rates", "book")`` -> ``"user:rates:book"`` (JSON keys must be strings)."""
    return ":".join(etype)


def parse_etype_key(key: str) -> CanonicalEtype:
    """Inverse of :func:`etype_key`."""
    src, rel, dst = key.split(":")
    return src, rel, dst


def behaviour_reverse(name: str) -> str:
    """Reverse relation of a user->item behaviour: ``to_read`` -> ``to_read_by``."""
    return f"{name}{BEHAVIOUR_REVERSE_SUFFIX}"


def user_item_etypes(canonical_etypes: list[CanonicalEtype], item_type: str) -> list[CanonicalEtype]:
    """Relations between users and items in either direction (those a held-out pair must not be in)."""
    ends = {(USER, item_type), (item_type, USER)}
    return [c for c in canonical_etypes if (c[0], c[2]) in ends]


def interaction_relations(graph, item_type: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """The canonical ``(user, rates, ITEM)`` and ``(ITEM, rated_by, user)`` relations of ``graph``.

    Raises ``ValueError`` naming the relations the graph has when either is missing.
    """
    rates, rated_by = (USER, RATES, item_type), (item_type, RATED_BY, USER)
    for rel in (rates, rated_by):
        if rel not in graph.canonical_etypes:
            raise ValueError(f"graph has no relation {rel}; it has {graph.canonical_etypes} "
                             f"(is item_type={item_type!r} right?)")
    return rates, rated_by


def reverse_of(graph, etype: CanonicalEtype) -> CanonicalEtype | None:
    """The relation whose edges are exactly ``etype``'s reversed (``(genre, genre_of, item)`` ->
    ``(item, has_genre, genre)``), or None. Matched on the edges, not on a naming rule: datasets name reverses
    differently (``_of``, ``_inv``, ``_by``)."""
    import torch

    def keys(src, dst, n):
        return torch.sort(src.long() * n + dst.long()).values

    s, d = graph.edges(etype=etype)
    n = max(graph.num_nodes(etype[0]), graph.num_nodes(etype[2]), 1)
    want = keys(d, s, n)
    for c in graph.canonical_etypes:
        if c != etype and (c[0], c[2]) == (etype[2], etype[0]) and graph.num_edges(c) == want.numel():
            cs, cd = graph.edges(etype=c)
            if torch.equal(keys(cs, cd, n), want):
                return c
    return None
