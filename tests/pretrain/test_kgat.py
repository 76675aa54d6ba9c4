"""KGAT pieces against hand-computed cases and DGL's edge_softmax, the CKG triples, and a short run."""
import math

import hetrec  # noqa: F401  (before dgl)
import dgl
import pytest
import torch

from hetrec.graph.adjacency import relation_index
from hetrec.model.kgat import KGAT, BiInteraction, project, transr_score
from hetrec.model.sparse import edge_softmax
from hetrec.pretrain import common, kgat
from hetrec.pretrain.config import PretrainConfig


def test_transr_score_hand_case():
    e_h, e_t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    e_r = torch.tensor([[0.5, 0.5]])
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # e_h W = [1, 2]; e_t W = [3, 4]; [1 + .5 - 3, 2 + .5 - 4] = [-1.5, -1.5] -> 4.5
    assert transr_score(e_h, e_r, e_t, w).item() == pytest.approx(4.5)
    assert transr_score(e_h, e_r, e_t, w.unsqueeze(0)).item() == pytest.approx(4.5)


def test_project_applies_each_rows_relation_matrix():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 4, 2, generator=g)
    e = torch.randn(7, 4, generator=g)
    rel = torch.tensor([2, 0, 2, 1, 0, 0, 2])
    expected = torch.stack([e[k] @ w[rel[k]] for k in range(7)])
    torch.testing.assert_close(project(e, rel, w), expected)


def test_bi_interaction_hand_case():
    agg = BiInteraction(2, 2)
    with torch.no_grad():
        agg.w1.weight.copy_(torch.eye(2))
        agg.w2.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        agg.w1.bias.zero_()
        agg.w2.bias.copy_(torch.tensor([0.0, -1.0]))
    e_h, e_n = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 1.0]])
    # W1(e_h + e_n) = [4, -1] -> [4, -0.01]; e_h*e_n = [3, -2]; W2 = swap + bias -> [-2, 2] -> [-0.02, 2]
    torch.testing.assert_close(agg(e_h, e_n), torch.tensor([[3.98, 1.99]]))


def small_kg():
    head = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 4])
    tail = torch.tensor([1, 2, 4, 0, 3, 0, 1, 4, 0])
    rel = torch.tensor([0, 1, 2, 0, 1, 1, 2, 0, 2])
    return head, rel, tail


def test_attention_scores_match_formula_and_softmax_matches_dgl_across_relations():
    head, rel, tail = small_kg()
    model = KGAT(5, 3, 4, 1, rel_dim=3)
    scores = model.attention_scores(head, rel, tail)
    for k in range(head.numel()):  # pi = (W_r e_t)^T tanh(W_r e_h + e_r), by hand
        w = model.trans_w[rel[k]]
        hand = (model.entity[tail[k]] @ w) @ torch.tanh(model.entity[head[k]] @ w + model.relation[rel[k]])
        assert scores[k].item() == pytest.approx(hand.item(), abs=1e-6)
    torch.testing.assert_close(model.attention_scores(head, rel, tail, chunk=2), scores)  # chunked = whole
    ckg = dgl.graph((tail, head), num_nodes=5)
    index = relation_index(ckg)
    ours = torch.empty_like(scores)
    ours[index.eid] = edge_softmax(index, scores[index.eid] * 10)  # back to triple order
    theirs = dgl.ops.edge_softmax(ckg, scores * 10)
    torch.testing.assert_close(ours, theirs)
    sums = torch.zeros(5).index_add_(0, head, ours)  # one softmax per head over ALL its relations
    torch.testing.assert_close(sums, torch.ones(5))


def test_full_forward_matches_explicit_per_head_aggregation():
    head, rel, tail = small_kg()
    model = KGAT(5, 3, 4, 2).eval()
    index = relation_index(dgl.graph((tail, head), num_nodes=5))
    scores = model.attention_scores(head, rel, tail)
    att = edge_softmax(index, scores[index.eid])
    out = model(index, att)
    assert out.shape == (5, 4 * 3)
    pi = torch.empty_like(scores)
    pi[index.eid] = att
    h, parts = model.entity, [model.entity]
    for layer in model.layers:  # e_N(h) = sum over its triples of pi * e_t, written as a dense matrix
        a = torch.zeros(5, 5).index_put((head, tail), pi, accumulate=True)
        h = torch.nn.functional.normalize(layer(h, a @ h), dim=-1)
        parts.append(h)
    torch.testing.assert_close(out, torch.cat(parts, -1), atol=1e-5, rtol=1e-5)


def test_blocks_with_all_neighbours_equal_full_forward():
    head, rel, tail = small_kg()
    model = KGAT(5, 3, 4, 2).eval()
    ckg = dgl.graph((tail, head), num_nodes=5)
    index = relation_index(ckg)
    scores = model.attention_scores(head, rel, tail)
    full = model(index, edge_softmax(index, scores[index.eid]))
    seeds = torch.tensor([1, 3])
    _, _, blocks = dgl.dataloading.NeighborSampler([-1, -1]).sample_blocks(ckg, seeds)
    torch.testing.assert_close(model.forward_blocks(blocks, scores), full[seeds], atol=1e-5, rtol=1e-5)


def test_ckg_triples_cover_every_edge_and_corrupted_tails_keep_type_and_are_false(tiny_artifact):
    g = tiny_artifact.graph
    space = common.NodeSpace.of(g)
    ckg = common.triples(g, space, "book", user_item=True)
    assert len(ckg) == g.num_edges()
    kg = common.triples(g, space, "book")
    assert {c[1] for c in kg.relations} & {"rates", "rated_by", "to_read", "to_read_by"} == set()
    assert len(kg) == sum(g.num_edges(c) for c in kg.relations)
    # a triple round-trips to its typed edge
    k = 7
    c = kg.relations[int(kg.rel[k])]
    assert g.has_edges_between(int(kg.head[k]) - space.offset(c[0]), int(kg.tail[k]) - space.offset(c[2]), etype=c)
    gen = torch.Generator().manual_seed(0)
    h, r, t, neg = next(common.kg_batches(kg, 500, gen))
    lo, n = kg.tail_lo[r], kg.tail_n[r]
    assert bool(((neg >= lo) & (neg < lo + n)).all())
    true = kg.contains(h, r, neg)
    assert kg.contains(h, r, t).all()
    # brute force: a corrupted tail may only stay true when every node of the tail type is a true tail
    keys = set(zip(kg.head.tolist(), kg.rel.tolist(), kg.tail.tolist()))
    for hh, rr in zip(h[true].tolist(), r[true].tolist()):
        lo_r, n_r = int(kg.tail_lo[rr]), int(kg.tail_n[rr])
        assert sum((hh, rr, x) in keys for x in range(lo_r, lo_r + n_r)) >= n_r - 1


@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_pretraining_learns_and_exports_ego_and_final(tiny_artifact, chance_ndcg10, mode):
    from hetrec.device import seed_everything

    art = tiny_artifact
    cfg = PretrainConfig(method="kgat", dim=16, layers=2, epochs=6, batch_size=256, kg_batch_size=512, lr=0.02,
                         mode=mode, fanouts=(5,), patience=20)
    seed_everything(0)
    res = kgat.pretrain(art, cfg, torch.device("cpu"), None)
    emb = res.embeddings
    assert emb["method"] == "kgat" and emb["dim"] == 16
    for t in art.graph.ntypes:
        n = art.graph.num_nodes(t)
        assert emb["node"][t].shape == (n, 16) and emb["final"][t].shape == (n, 48)
        torch.testing.assert_close(emb["final"][t][:, :16], emb["node"][t])  # block 0 of the output is the ego
    val = common.validate(art, emb["final"]["user"], emb["final"]["book"], common.train_index(art))
    assert val["ndcg@10"] == pytest.approx(res.best["val_ndcg@10"], abs=1e-6)
    assert res.history[-1]["bpr"] < res.history[0]["bpr"] and res.history[-1]["kg"] < res.history[0]["kg"]
    assert res.best["val_ndcg@10"] > chance_ndcg10 + 0.05
    assert math.isfinite(res.history[-1]["bpr"])
