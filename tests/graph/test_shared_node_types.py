"""Several attributes may share one node type; an attribute of the item type links items to items."""
import numpy as np
import pandas as pd
import pytest

import hetrec  # noqa: F401
from hetrec.data.dataset import Attribute
from hetrec.errors import HetrecError
from hetrec.graph.build import build_graph


def attr(node_type, relation, reverse, owner, rows):
    ids, values, weights = zip(*rows)
    return Attribute(node_type, relation, reverse, owner, pd.DataFrame(
        {"id": np.array(ids, np.int64), "value": list(values), "weight": np.array(weights, np.float32)}))


def edges(g, etype):
    s, d = g.edges(etype=etype)
    return list(zip(s.tolist(), d.tolist()))


def test_shared_node_type_ids_over_the_union(tiny):
    ds, split = tiny
    before = build_graph(ds, split)
    ds.attributes += [attr("kw", "has_kw", "kw_of", "item", [(100, "z", 1), (200, "x", 1)]),
                      attr("kw", "likes_kw", "kw_liked_by", "user", [(10, "y", 1), (20, "x", 1)]),
                      attr("book", "sequel", "prequel", "item", [(100, "200", 1), (300, "500", 1)])]
    b = build_graph(ds, split)
    assert b.id_maps["kw"]["raw_id"].tolist() == ["x", "y", "z"]  # union of both attributes, sorted
    assert edges(b.graph, ("book", "has_kw", "kw")) == [(0, 2), (1, 0)]
    assert edges(b.graph, ("user", "likes_kw", "kw")) == [(0, 1), (1, 0)]
    assert edges(b.graph, ("kw", "kw_liked_by", "user")) == [(0, 1), (1, 0)]
    assert edges(b.graph, ("book", "sequel", "book")) == [(0, 1)]  # 500 was filtered out: no edge
    assert edges(b.graph, ("book", "prequel", "book")) == [(1, 0)]
    for t in before.id_maps:  # existing node types keep their ids
        assert before.id_maps[t].equals(b.id_maps[t])
        assert np.array_equal(before.graph.edges(etype=before.graph.canonical_etypes[0])[0].numpy(),
                              b.graph.edges(etype=before.graph.canonical_etypes[0])[0].numpy())


def test_relation_names_stay_unique(tiny):
    ds, split = tiny
    ds.attributes.append(attr("kw", "has_tag", "kw_of", "item", [(100, "z", 1)]))
    with pytest.raises(HetrecError, match="relation 'has_tag' is used twice"):
        build_graph(ds, split)
    ds.attributes[-1] = attr("user", "has_u", "u_of", "item", [(100, "z", 1)])
    with pytest.raises(HetrecError, match="named 'user'"):
        build_graph(ds, split)
