"""RAM-GNN: circular correlation vs its definition, attention vs a hand-computed softmax, short pretraining runs."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import hetrec  # noqa: F401  (before dgl)
import dgl
from hetrec.errors import HetrecError
from hetrec.graph.artifact import GraphArtifact
from hetrec.model.ramgnn import RelationAttention, RelationGraphEncoder, circular_correlation, compose, edge_index
from hetrec.pretrain import ramgnn
from hetrec.pretrain.common import train_index, validate
from hetrec.pretrain.config import PretrainConfig
from hetrec.pretrain.rns import keep_top, keep_top_grouped


@pytest.mark.parametrize("d", [1, 5, 6])
def test_circular_correlation_matches_direct_sum(d):
    g = torch.Generator().manual_seed(d)
    a, b = torch.randn(3, d, generator=g, dtype=torch.float64), torch.randn(3, d, generator=g, dtype=torch.float64)
    direct = torch.stack([sum(a[:, k] * b[:, (k + i) % d] for k in range(d)) for i in range(d)], dim=1)
    assert torch.allclose(circular_correlation(a, b), direct, atol=1e-12)
    # by hand for d = 3: [a0b0+a1b1+a2b2, a0b1+a1b2+a2b0, a0b2+a1b0+a2b1] = [32, 29, 29]
    x, y = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0, 5.0, 6.0])
    assert circular_correlation(x, y).tolist() == pytest.approx([32.0, 29.0, 29.0])


def test_compose_modes():
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 4.0])
    assert compose(a, b, "add").tolist() == [4.0, 2.0]
    assert compose(a, b, "mul").tolist() == [3.0, -8.0]
    with pytest.raises(ValueError):
        compose(a, b, "sub")


def _tiny_layer_case(attention, mode="corr"):
    torch.manual_seed(0)
    layer = RelationAttention(4, compose=mode, attention=attention).double()
    h = torch.randn(4, 4, dtype=torch.float64)
    table = torch.randn(3, 4, dtype=torch.float64)
    # memberships (node j, value v): m0 = (1, v0), m1 = (2, v1), m2 = (3, v0), m3 = (0, v2)
    mem_node, mem_value = torch.tensor([1, 2, 3, 0]), torch.tensor([0, 1, 0, 2])
    # edges dst <- membership: 0 <- m0, m1, m2 (m0 drawn twice: collapses); 1 <- m3; nodes 2, 3 none
    index = edge_index(torch.tensor([0, 1, 0, 0, 0]), torch.tensor([2, 3, 0, 1, 0]), 4, 4)
    assert index.dst.tolist() == [0, 0, 0, 1] and index.src.tolist() == [0, 1, 2, 3]
    return layer, h, table, index, mem_node, mem_value


def test_edge_index_transpose_matches_dense():
    index = edge_index(torch.tensor([2, 0, 2, 1, 2]), torch.tensor([1, 3, 0, 3, 1]), 3, 4)
    dense = torch.zeros(3, 4)
    dense[index.dst, index.src] = torch.arange(1.0, index.num_edges + 1)
    vals = torch.arange(1.0, index.num_edges + 1)
    x = torch.randn(4, 2, requires_grad=True)
    from hetrec.model.sparse import spmm
    out = spmm(index, vals, x)
    assert torch.allclose(out, dense @ x)
    out.sum().backward()
    assert torch.allclose(x.grad, dense.T @ torch.ones(3, 2))
    assert index.in_deg.tolist() == [1.0, 1.0, 2.0] and index.out_deg.tolist() == [1.0, 1.0, 0.0, 2.0]


def test_attention_weights_equal_hand_softmax_and_sum_to_one():
    layer, h, table, index, mem_node, mem_value = _tiny_layer_case(True)
    alpha = layer.weights(index, h, table, mem_node, mem_value)
    a = torch.stack([layer.p @ torch.sigmoid(h[j] @ layer.w_key + table[v] @ layer.w_qry + layer.b)
                     for j, v in zip(mem_node.tolist(), mem_value.tolist())])
    e0 = torch.exp(a[:3])
    assert torch.allclose(alpha[:3], e0 / e0.sum(), atol=1e-12)
    assert torch.allclose(alpha[3:], torch.ones(1, dtype=torch.float64))
    sums = torch.zeros(4, dtype=torch.float64).index_add(0, index.dst, alpha)
    assert torch.allclose(sums, torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    # the layer output, edge by edge
    out = layer(index, h, table, mem_node, mem_value)
    agg = torch.zeros(4, 4, dtype=torch.float64)
    for e, (i, m) in enumerate(zip(index.dst.tolist(), index.src.tolist())):
        agg[i] += alpha[e] * (circular_correlation(h[mem_node[m]], table[mem_value[m]]) @ layer.w_val)
    expect = torch.nn.functional.leaky_relu(h @ layer.w_self + agg, 0.2)
    assert torch.allclose(out, expect, atol=1e-12)


@pytest.mark.parametrize("mode", ["add", "mul"])
def test_uniform_weights_without_attention(mode):
    layer, h, table, index, mem_node, mem_value = _tiny_layer_case(False, mode)
    alpha = layer.weights(index, h, table, mem_node, mem_value)
    assert alpha.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1.0])
    msg = compose(h[mem_node], table[mem_value], mode) @ layer.w_val
    agg = torch.zeros(4, 4, dtype=torch.float64).index_add(0, index.dst, alpha[:, None] * msg[index.src])
    out = layer(index, h, table, mem_node, mem_value)
    assert torch.allclose(out, torch.nn.functional.leaky_relu(h @ layer.w_self + agg, 0.2), atol=1e-12)


def test_relation_table_concatenates_type_and_value():
    enc = RelationGraphEncoder(5, [2, 3], 4, layers=1)
    table = enc.relation_table()
    assert torch.allclose(table[3], torch.cat([enc.type_emb[1], enc.value_emb[3]]) @ enc.w_n)
    assert torch.allclose(table[1], torch.cat([enc.type_emb[0], enc.value_emb[1]]) @ enc.w_n)


def _check_export(artifact, res, cfg, attr_types, rel_names):
    emb = res.embeddings
    assert emb["method"] == "ramgnn" and emb["dim"] == cfg.dim
    expect = {t: artifact.graph.num_nodes(t) for t in ["user", artifact.item_type, *attr_types]}
    assert {t: tuple(x.shape) for t, x in emb["node"].items()} == {t: (n, cfg.dim) for t, n in expect.items()}
    assert sorted(emb["relation"]) == sorted(rel_names)
    assert all(tuple(x.shape) == (cfg.dim,) for x in emb["relation"].values())
    # the exported final user/item tables are the ones whose validation NDCG@10 was best
    val = validate(artifact, emb["final"]["user"], emb["final"][artifact.item_type], train_index(artifact))
    assert val["ndcg@10"] == pytest.approx(res.best["val_ndcg@10"])


def test_pretrain_lowers_loss_and_exports_documented_shapes(tiny_artifact):
    cfg = PretrainConfig(method="ramgnn", dim=16, epochs=6, batch_size=128, lr=0.01, patience=10, neighbors=4)
    res = ramgnn.pretrain(tiny_artifact, cfg, "cpu")
    losses = [row["loss"] for row in res.history]
    assert len(losses) == 6 and losses[-1] < 0.9 * losses[0]
    attrs = sorted({c[2] for c in tiny_artifact.graph.canonical_etypes
                    if c[0] == tiny_artifact.item_type and c[2] not in ("user", tiny_artifact.item_type)})
    rels = [c[1] for c in ramgnn.attribute_relations(tiny_artifact.graph, tiny_artifact.item_type,
                                                     tiny_artifact.item_type)]
    _check_export(tiny_artifact, res, cfg, attrs, rels)
    rows = res.extra_files["thresholds.csv"]
    assert len(rows) == 6 * len(rels)
    for rel in rels:
        ts = [r["threshold"] for r in rows if r["relation"] == rel]
        steps = np.round(np.diff([0.5] + ts), 6)
        assert set(steps) <= {0.0, 0.02, -0.02}  # the bandit only ever moves by +-epsilon
        assert ts[0] == 0.5  # first epoch: no reward yet


def _user_attribute_artifact(tmp_path: Path) -> GraphArtifact:
    """12 users in 2 groups (the user attribute), 24 items in 2 genres; each user rates 7 items of its genre."""
    rng = np.random.default_rng(0)
    users, items = np.arange(12), np.arange(24)
    ugroup, genre = users % 2, items % 2
    pairs = [(u, i) for u in users for i in rng.choice(items[genre == ugroup[u]], 7, replace=False)]
    u, i = map(np.array, zip(*pairs))
    split = np.array((["train"] * 5 + ["valid", "test"]) * 12)
    tr = split == "train"
    g = dgl.heterograph({
        ("user", "rates", "item"): (u[tr], i[tr]), ("item", "rated_by", "user"): (i[tr], u[tr]),
        ("item", "has_genre", "genre"): (items, genre), ("genre", "genre_of", "item"): (genre, items),
        ("user", "has_group", "group"): (users, ugroup), ("group", "group_of", "user"): (ugroup, users)})
    splits = pd.DataFrame({"user": u, "item": i, "rating": np.ones(len(u), np.float32), "split": split})
    return GraphArtifact(path=tmp_path, graph=g, manifest={}, item_type="item", splits=splits, id_maps={},
                         items=pd.DataFrame({"node_id": items}), fingerprint="test")


def test_pretrain_with_user_attributes_and_ablations(tmp_path):
    art = _user_attribute_artifact(tmp_path)
    cfg = PretrainConfig(method="ramgnn", dim=8, epochs=3, batch_size=16, lr=0.01, patience=10, neighbors=3,
                         compose="add", attention=False, rns=False)
    res = ramgnn.pretrain(art, cfg, "cpu")
    _check_export(art, res, cfg, ["genre", "group"], ["has_genre", "has_group"])
    rows = res.extra_files["thresholds.csv"]
    assert {(r["owner"], r["relation"]) for r in rows} == {("item", "has_genre"), ("user", "has_group")}
    assert all(r["threshold"] == 1.0 for r in rows)  # rns=False keeps every sampled neighbour


def test_pretrain_refuses_graph_without_item_attributes_and_bad_fanouts(tmp_path, tiny_artifact):
    with pytest.raises(HetrecError, match="--fanouts"):
        ramgnn.pretrain(tiny_artifact, PretrainConfig(method="ramgnn", mode="sampled", fanouts=(0,)), "cpu")
    art = _user_attribute_artifact(tmp_path)
    bare = dgl.heterograph({c: art.graph.edges(etype=c) for c in art.graph.canonical_etypes if "genre" not in c[1]})
    art.graph = bare
    with pytest.raises(HetrecError, match="no attribute relations"):
        ramgnn.pretrain(art, PretrainConfig(method="ramgnn", epochs=1), "cpu")


def test_keep_top_grouped_equals_keep_top_on_rows():
    g = torch.Generator().manual_seed(3)
    sim = torch.randint(0, 4, (30, 7), generator=g).double()  # many ties: the draw order breaks them
    valid = torch.rand(30, 7, generator=g) > 0.3
    for t in (0.02, 0.3, 0.5, 1.0):
        dense = keep_top(sim, valid, t)
        rows, cols = torch.nonzero(valid, as_tuple=True)
        perm = torch.randperm(rows.numel(), generator=g)  # edge listing order must not matter
        flat = keep_top_grouped(sim[rows, cols][perm], rows[perm], (rows * 7 + cols)[perm], t)
        assert torch.equal(flat, dense[rows, cols][perm])


@pytest.mark.parametrize("case", ["tiny", "user_attributes"])
def test_sampled_mode_with_all_neighbours_reproduces_full_graph(case, tmp_path, tiny_artifact, epsilon=1e-12):
    """fanouts -1: blocks hold every draw, the RNS keeps the same edges -> same losses and embeddings.

    The bandit's step is 1e-12 here, so every threshold keeps 2 of 4 draws as at 0.5; see the xfail below for
    thresholds above 0.5."""
    art = tiny_artifact if case == "tiny" else _user_attribute_artifact(tmp_path)
    base = dict(method="ramgnn", dim=8, epochs=3, batch_size=64 if case == "tiny" else 16, lr=0.01, patience=10,
                neighbors=4, rns_epsilon=epsilon)
    full = ramgnn.pretrain(art, PretrainConfig(**base), "cpu")
    sampled = ramgnn.pretrain(art, PretrainConfig(**base, mode="sampled", fanouts=(-1,)), "cpu")
    for a, b in zip(full.history, sampled.history, strict=True):
        for key in ("loss", "bpr", "sim", "val_ndcg@10"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    for t, x in full.embeddings["node"].items():
        assert torch.allclose(x, sampled.embeddings["node"][t], atol=1e-5), t
    for a, b in zip(full.extra_files["thresholds.csv"], sampled.extra_files["thresholds.csv"], strict=True):
        assert a == {**b, "avg_distance": pytest.approx(b["avg_distance"], rel=1e-5)}


@pytest.mark.xfail(strict=True, reason="open: once a threshold's keep count changes between epochs (here the "
                   "step 0.13 moves 0.5 to 0.37 or 0.63 in epoch 2: round(t * 4) goes from 2 to 1 or 3 of 4 draws) "
                   "sampled and full-graph training drift apart at ~5e-4 relative in the epoch-2 loss, although "
                   "block outputs equal full-graph rows at any threshold. A constant count of 3 (thresholds "
                   "0.75 -> 0.71) does not drift, so 'above 0.5' was not the trigger. With step 0.02 the count no "
                   "longer changes within 3 epochs (the old ceil rule went from 2 to 3 at 0.52)")
def test_sampled_mode_matches_full_graph_when_thresholds_rise(tmp_path):
    test_sampled_mode_with_all_neighbours_reproduces_full_graph("user_attributes", tmp_path, None, epsilon=0.13)


def test_block_outputs_equal_full_graph_rows_and_fanouts_bound_neighbours(tiny_artifact):
    art = tiny_artifact
    cfg = PretrainConfig(method="ramgnn", dim=8, layers=2, neighbors=5)
    side = ramgnn._side(art.graph, art.item_type, art.item_type, cfg, "cpu")
    gen = torch.Generator().manual_seed(0)
    nb = ramgnn._epoch_neighbours(side, 5, True, gen, candidates=True)
    with torch.no_grad():
        full = side.encoder(nb.index, side.mem_node, side.mem_value)
        seeds = torch.tensor([0, 3, 7, 11])
        blocks = ramgnn.sample_blocks(nb.candidates, {art.item_type: seeds}, (-1, -1))
        inputs, layers = ramgnn._block_layers(side, nb, blocks, True)
        assert torch.allclose(side.encoder.forward_blocks(inputs, layers), full[seeds], atol=1e-6)
        # fanout 2 per relation: the RNS then keeps round(t * sampled) of those, so at most 2 per relation
        blocks = ramgnn.sample_blocks(nb.candidates, {art.item_type: seeds}, (2, 2))
        inputs, layers = ramgnn._block_layers(side, nb, blocks, True)
        out = side.encoder.forward_blocks(inputs, layers)
    assert out.shape == (4, 8) and torch.isfinite(out).all()
    index = layers[-1][0]
    assert int(index.in_deg.max()) <= 2 * len(side.relations)


def test_sampled_pretraining_learns(tiny_artifact):
    cfg = PretrainConfig(method="ramgnn", dim=16, epochs=6, batch_size=128, lr=0.01, patience=10, neighbors=4,
                         mode="sampled", fanouts=(3, 3))
    res = ramgnn.pretrain(tiny_artifact, cfg, "cpu")
    losses = [row["loss"] for row in res.history]
    assert losses[-1] < 0.9 * losses[0]
