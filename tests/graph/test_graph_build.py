"""The builder against a graph worked out by hand (see conftest.py), plus kNN vs brute force."""
import numpy as np
import pandas as pd
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.errors import HetrecError
from hetrec.graph.artifact import leaked_pairs
from hetrec.graph.build import build_graph
from hetrec.graph.similar import knn_pairs


def edges(g, etype):
    s, d = g.edges(etype=etype)
    return list(zip(s.tolist(), d.tolist()))


def test_node_ids_sorted_and_filtered(tiny):
    b = build_graph(*tiny)
    assert b.id_maps["user"]["raw_id"].tolist() == [10, 20, 30, 40]  # 50 filtered out, 40 never rated but kept
    assert b.id_maps["book"]["raw_id"].tolist() == [100, 200, 300, 400]  # 400 unrated but kept, 500 filtered
    assert b.id_maps["author"]["raw_id"].tolist() == ["a", "b", "c"]  # "d" only belonged to item 500
    assert b.id_maps["tag"]["raw_id"].tolist() == ["x", "y"]
    assert b.id_maps["gender"]["raw_id"].tolist() == ["F", "M"]
    for t, m in b.id_maps.items():
        assert m["node_id"].tolist() == list(range(b.graph.num_nodes(t)))
    assert b.items["title"].tolist() == ["A", "B", "C", "D"] and b.items["authors"].tolist() == ["b", "a", "a", "c"]


def test_exact_edges_per_relation(tiny):
    g = build_graph(*tiny).graph
    assert edges(g, ("user", "rates", "book")) == [(0, 0), (1, 0), (1, 1), (2, 2)]
    assert g.edges[("user", "rates", "book")].data["rating"].tolist() == [4, 3, 5, 2]
    assert edges(g, ("book", "rated_by", "user")) == [(0, 0), (0, 1), (1, 1), (2, 2)]
    assert g.edges[("book", "rated_by", "user")].data["rating"].tolist() == [4, 3, 5, 2]
    assert edges(g, ("book", "written_by", "author")) == [(0, 1), (1, 0), (2, 0), (3, 2)]
    assert edges(g, ("book", "has_tag", "tag")) == [(0, 0), (0, 1), (1, 0), (2, 1)]
    assert g.edges[("book", "has_tag", "tag")].data["weight"].tolist() == [5, 2, 3, 4]
    assert edges(g, ("tag", "tag_of", "book")) == [(0, 0), (0, 1), (1, 0), (1, 2)]
    assert g.edges[("tag", "tag_of", "book")].data["weight"].tolist() == [5, 3, 2, 4]
    assert edges(g, ("user", "has_gender", "gender")) == [(0, 1), (1, 0), (2, 1), (3, 0)]
    # to_read: (10,300) is a test pair and (30,200) a validation pair -> dropped; (50,100) user filtered; dup once
    assert edges(g, ("user", "to_read", "book")) == [(0, 3), (1, 2), (3, 0)]
    assert ("book", "similar", "book") not in g.canonical_etypes
    assert g.edges[("user", "rates", "book")].data["rating"].dtype == torch.float32
    assert g.edges[("book", "written_by", "author")].data["weight"].dtype == torch.float32


def test_reverses_mirror_forward_with_same_edata(tiny):
    g = build_graph(*tiny).graph
    pairs = {("rates", "rated_by"), ("written_by", "wrote"), ("has_tag", "tag_of"), ("has_gender", "gender_of"),
             ("to_read", "to_read_by")}
    assert len(g.canonical_etypes) == 2 * len(pairs)
    for fwd, rev in pairs:
        (s, r, d), = [c for c in g.canonical_etypes if c[1] == fwd]
        f = pd.DataFrame(dict(zip(("a", "b"), (x.numpy() for x in g.edges(etype=(s, r, d))))))
        b = pd.DataFrame(dict(zip(("b", "a"), (x.numpy() for x in g.edges(etype=(d, rev, s))))))
        for k, v in g.edges[(s, r, d)].data.items():
            f[k] = v.numpy()
            b[k] = g.edges[(d, rev, s)].data[k].numpy()
        cols = sorted(f.columns)
        pd.testing.assert_frame_equal(f[cols].sort_values(["a", "b"]).reset_index(drop=True),
                                      b[cols].sort_values(["a", "b"]).reset_index(drop=True))


def test_splits_table_and_stats(tiny):
    b = build_graph(*tiny)
    assert b.splits["user"].tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    assert b.splits["item"].tolist() == [0, 1, 2, 1, 0, 2, 1, 0]
    assert b.splits["split"].tolist() == tiny[1]["split"].tolist()
    assert b.splits["user"].dtype == np.int64 and b.splits["rating"].dtype == np.float32
    assert b.stats["to_read_heldout_pairs_dropped"] == 2


def test_no_leakage_and_check_can_fail(tiny):
    b = build_graph(*tiny)
    assert set(leaked_pairs(b.graph, "book", b.splits)) == {
        "user:rates:book", "book:rated_by:user", "user:to_read:book", "book:to_read_by:user"}
    assert not any(leaked_pairs(b.graph, "book", b.splits).values())
    # the same split with the held-out rows relabelled as train must be reported as leaking
    relabelled = b.splits.assign(split="train")
    relabelled.loc[[1, 2], "split"] = ["valid", "test"]
    b2 = build_graph(tiny[0], tiny[1].assign(split="train"))
    leaks = leaked_pairs(b2.graph, "book", relabelled)
    assert leaks["user:rates:book"] == 2 and leaks["book:rated_by:user"] == 2


def test_similar_hand_case(tiny):
    g = build_graph(*tiny, similar_k=1).graph
    assert edges(g, ("book", "similar", "book")) == [(0, 1), (0, 2), (1, 0), (2, 0)]
    s = 1 / np.sqrt(29)
    np.testing.assert_allclose(g.edges["similar"].data["weight"].numpy(), [5 * s, 2 * s, 5 * s, 2 * s], rtol=1e-6)


def test_similar_matches_brute_force():
    rng = np.random.default_rng(0)
    n, m, k = 60, 25, 4
    dense = rng.random((n, m)) * (rng.random((n, m)) < 0.2)
    dense[[3, 17]] = 0  # items without a profile get no neighbours
    r, c = np.nonzero(dense)
    src, dst, sim = knn_pairs(r, c, dense[r, c], num_items=n, num_values=m, k=k)
    norm = np.linalg.norm(dense, axis=1)
    cos = dense @ dense.T / np.maximum(np.outer(norm, norm), 1e-12)
    np.fill_diagonal(cos, -np.inf)
    cos[norm == 0] = -np.inf
    cos[:, norm == 0] = -np.inf
    expect = set()
    for i in np.flatnonzero(norm > 0):
        for j in np.argsort(-cos[i])[:k]:
            if cos[i, j] > 0:
                expect |= {(i, int(j)), (int(j), i)}
    assert set(zip(src.tolist(), dst.tolist())) == expect
    np.testing.assert_allclose(sim, cos[src, dst], rtol=1e-5)
    assert not np.any(src == dst)


def test_name_clash_and_bad_split_raise(tiny):
    ds, split = tiny
    ds.attributes.append(ds.attributes[0])
    with pytest.raises(HetrecError, match="used twice"):
        build_graph(ds, split)
    ds.attributes.pop()
    with pytest.raises(HetrecError, match="not one of"):
        build_graph(ds, split.assign(split="dev"))
    with pytest.raises(HetrecError, match="similar-k"):
        build_graph(ds, split, similar_k=2, similar_on="genre")
