"""R-GCN layer against DGL's modules with copied weights (CPU oracle), basis decomposition, blocks, and a
short pretraining run on a tiny artifact that must beat chance."""
import hetrec  # noqa: F401  (before dgl)
import dgl
import dgl.nn as dglnn
import pytest
import torch

from hetrec.model.rgcn import RGCN, RelationWeights, RGCNLayer
from hetrec.pretrain import rgcn
from hetrec.pretrain.config import PretrainConfig


def hetero(seed=0, n_user=25, n_book=18, n_tag=6):
    g = torch.Generator().manual_seed(seed)
    u, b = torch.randint(0, n_user, (90,), generator=g), torch.randint(0, n_book, (90,), generator=g)
    bt, t = torch.randint(0, n_book, (40,), generator=g), torch.randint(0, n_tag, (40,), generator=g)
    return dgl.heterograph({
        ("user", "rates", "book"): (u, b), ("book", "rated_by", "user"): (b, u),
        ("book", "has_tag", "tag"): (bt, t), ("tag", "tag_of", "book"): (t, bt),
    }, num_nodes_dict={"user": n_user, "book": n_book, "tag": n_tag})


def feats(graph, dim, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {t: torch.randn(graph.num_nodes(t), dim, generator=g) for t in graph.ntypes}


def relgraphconv_reference(graph, layer: RGCNLayer, x: dict, regularizer, num_bases):
    """dgl.nn.RelGraphConv on the homogeneous view, weights copied from ``layer``, norm = 1/|N_r(i)| per edge."""
    hom = dgl.to_homogeneous(graph)
    etype = hom.edata[dgl.ETYPE]
    _, dst = hom.edges()
    key = dst * len(graph.canonical_etypes) + etype
    _, inv, counts = torch.unique(key, return_inverse=True, return_counts=True)
    norm = (1.0 / counts[inv].float()).unsqueeze(1)
    ref = dglnn.RelGraphConv(layer.in_dim, layer.out_dim, len(graph.canonical_etypes), regularizer=regularizer,
                             num_bases=num_bases, self_loop=True, bias=True)
    with torch.no_grad():
        ref.linear_r.W.copy_(layer.weights.bases)
        if regularizer == "basis":
            ref.linear_r.coeff.copy_(layer.weights.coeff)
        ref.loop_weight.copy_(layer.loop_weight)
        ref.h_bias.copy_(layer.bias)
    out = ref(hom, torch.cat([x[t] for t in graph.ntypes]), etype, norm)
    ntype = hom.ndata[dgl.NTYPE]
    return {t: out[ntype == k] for k, t in enumerate(graph.ntypes)}


@pytest.mark.parametrize("num_bases,regularizer", [(0, None), (2, "basis")])
def test_layer_matches_dgl_relgraphconv(num_bases, regularizer):
    graph = hetero()
    layer = RGCNLayer(5, 3, graph.etypes, num_bases=num_bases)  # graph.etypes is canonical_etypes order
    with torch.no_grad():
        layer.bias.normal_()
    x = feats(graph, 5)
    ours = layer(graph, x)
    theirs = relgraphconv_reference(graph, layer, x, regularizer, num_bases or None)
    for t in graph.ntypes:
        torch.testing.assert_close(ours[t], theirs[t], atol=1e-5, rtol=1e-5)


def test_layer_matches_hetero_graphconv_right_norm_plus_self_loop_with_gradients():
    graph = hetero(seed=4)
    layer = RGCNLayer(4, 6, graph.etypes, activation=torch.relu)
    with torch.no_grad():
        layer.bias.normal_()
    ref = dglnn.HeteroGraphConv({r: dglnn.GraphConv(4, 6, norm="right", bias=False, allow_zero_in_degree=True)
                                 for r in graph.etypes}, aggregate="sum")
    w = layer.weights()
    for k, r in enumerate(graph.etypes):
        ref.mods[r].weight = torch.nn.Parameter(w[k].detach().clone())
    x1 = {k: v.requires_grad_() for k, v in feats(graph, 4).items()}
    x2 = {k: v.detach().clone().requires_grad_() for k, v in x1.items()}
    ours = layer(graph, x1)
    msgs = ref(graph, x2)
    theirs = {t: torch.relu(msgs[t] + x2[t] @ layer.loop_weight.detach() + layer.bias.detach()) for t in msgs}
    for t in graph.ntypes:
        torch.testing.assert_close(ours[t], theirs[t], atol=1e-5, rtol=1e-5)
    sum(v.sin().sum() for v in ours.values()).backward()
    sum(v.sin().sum() for v in theirs.values()).backward()
    for t in graph.ntypes:
        torch.testing.assert_close(x1[t].grad, x2[t].grad, atol=1e-5, rtol=1e-5)
    for k, r in enumerate(graph.etypes):
        torch.testing.assert_close(layer.weights.bases.grad[k], ref.mods[r].weight.grad, atol=1e-5, rtol=1e-5)


def test_basis_decomposition_reconstructs_sum_of_coefficients_times_bases():
    rw = RelationWeights(5, 3, 4, num_bases=2)
    w = rw()
    for r in range(5):
        torch.testing.assert_close(w[r], rw.coeff[r, 0] * rw.bases[0] + rw.coeff[r, 1] * rw.bases[1])
    assert sum(p.numel() for p in rw.parameters()) == 5 * 2 + 2 * 3 * 4
    # num_bases >= num_rels is no decomposition: one free matrix per relation
    free = RelationWeights(3, 2, 2, num_bases=3)
    assert free.coeff is None and torch.equal(free(), free.bases)


def test_sampled_blocks_with_all_neighbours_equal_full_graph_outputs():
    graph = hetero(seed=2)
    model = RGCN({t: graph.num_nodes(t) for t in graph.ntypes}, graph.etypes, 4, 2, num_bases=2)
    full = model(graph)
    seeds = {"user": torch.tensor([0, 3, 7]), "book": torch.tensor([2, 5])}
    _, _, blocks = dgl.dataloading.NeighborSampler([-1, -1]).sample_blocks(graph, seeds)
    out = model.forward_blocks(blocks)
    for t, ids in seeds.items():
        torch.testing.assert_close(out[t], full[t][ids], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_pretraining_beats_chance_and_exports_layer0_and_final(tiny_artifact, chance_ndcg10, mode):
    from hetrec.device import seed_everything

    art = tiny_artifact
    cfg = PretrainConfig(method="rgcn", dim=16, layers=2, epochs=8, batch_size=256, kg_batch_size=256, lr=0.01,
                         mode=mode, fanouts=(5, 5), num_bases=2, patience=20, seed=0)
    seed_everything(0)
    res = rgcn.pretrain(art, cfg, torch.device("cpu"), None)
    emb = res.embeddings
    assert emb["method"] == "rgcn" and emb["dim"] == 16
    assert set(emb["node"]) == set(art.graph.ntypes)
    for t, x in emb["node"].items():
        assert x.shape == (art.graph.num_nodes(t), 16) and x.device.type == "cpu" and torch.isfinite(x).all()
    # the best epoch's validation NDCG@10 is what the kept embeddings score
    from hetrec.pretrain.common import train_index, validate
    val = validate(art, emb["final"]["user"], emb["final"][art.item_type], train_index(art))
    assert val["ndcg@10"] == pytest.approx(res.best["val_ndcg@10"], abs=1e-6)
    assert res.best["val_ndcg@10"] > chance_ndcg10 + 0.05
    assert res.history[-1]["bpr"] < res.history[0]["bpr"] and res.history[-1]["kg"] < res.history[0]["kg"]
