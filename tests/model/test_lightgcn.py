"""LightGCN against a dense float64 oracle and DGL's GraphConv; pretrained init; gradients."""
import hetrec  # noqa: F401  (before dgl)
import dgl
import dgl.nn as dglnn
import pytest
import torch

from hetrec.graph.relations import interaction_relations
from hetrec.model.lightgcn import LightGCN
from hetrec.model.loss import l2

N_USER, N_BOOK, N_TAG = 9, 7, 3


def bipartite(seed=0, n_edges=25, item_type="book"):
    """Random train graph (unique pairs) with the last user and last item isolated, plus a tag relation."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randint(0, N_USER - 1, (n_edges,), generator=g)
    i = torch.randint(0, N_BOOK - 1, (n_edges,), generator=g)
    pairs = torch.unique(torch.stack([u, i], 1), dim=0)
    u, i = pairs[:, 0], pairs[:, 1]
    t = torch.tensor([0, 1, 2, 0])
    bt = torch.tensor([0, 0, 3, 5])
    graph = dgl.heterograph({
        ("user", "rates", item_type): (u, i), (item_type, "rated_by", "user"): (i, u),
        (item_type, "has_tag", "tag"): (bt, t), ("tag", "tag_of", item_type): (t, bt),
    }, num_nodes_dict={"user": N_USER, item_type: N_BOOK, "tag": N_TAG})
    graph.edges["rates"].data["rating"] = torch.rand(len(u), generator=g) * 5  # must be ignored
    return graph, u, i


def dense_layers(u, i, user0, item0, num_layers):
    """Paper's matrix form: E^{k+1} = D^-1/2 A D^-1/2 E^k over the (U+I) bipartite adjacency."""
    n = N_USER + N_BOOK
    a = torch.zeros(n, n, dtype=torch.float64)
    a[u, N_USER + i] = 1.0
    a[N_USER + i, u] = 1.0
    d = a.sum(1)
    d_inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    a_hat = d_inv[:, None] * a * d_inv[None, :]
    e = torch.cat([user0, item0])
    out = [e]
    for _ in range(num_layers):
        e = a_hat @ e
        out.append(e)
    return out


def test_forward_matches_dense_oracle_in_float64_with_gradients():
    graph, u, i = bipartite()
    model = LightGCN(N_USER, N_BOOK, 5, num_layers=3, item_type="book").double()
    users, items = model(graph)
    user0 = model.user.detach().clone().requires_grad_()
    item0 = model.item.detach().clone().requires_grad_()
    final = torch.stack(dense_layers(u, i, user0, item0, 3)).mean(0)
    torch.testing.assert_close(users, final[:N_USER], atol=1e-6, rtol=0)
    torch.testing.assert_close(items, final[N_USER:], atol=1e-6, rtol=0)
    # isolated user / item keep only their own layer-0 share: e^0 / (K + 1)
    torch.testing.assert_close(users[-1], model.user[-1] / 4)
    # gradients of a scoring loss reach both tables and equal the dense oracle's
    w = torch.randn(N_USER, N_BOOK, dtype=torch.float64)
    (w * (users @ items.T)).sum().backward()
    (w * (final[:N_USER] @ final[N_USER:].T)).sum().backward()
    assert model.user.grad.abs().sum() > 0 and model.item.grad.abs().sum() > 0
    torch.testing.assert_close(model.user.grad, user0.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(model.item.grad, item0.grad, atol=1e-6, rtol=0)


def test_each_layer_matches_dgl_graphconv_on_the_homogeneous_bipartite_graph():
    graph, u, i = bipartite(seed=4, n_edges=30, item_type="item")
    model = LightGCN(N_USER, N_BOOK, 4, num_layers=3, item_type="item")
    homo = dgl.graph((torch.cat([u, N_USER + i]), torch.cat([N_USER + i, u])), num_nodes=N_USER + N_BOOK)
    conv = dglnn.GraphConv(4, 4, norm="both", weight=False, bias=False, allow_zero_in_degree=True)
    x = torch.cat([model.user, model.item]).detach()
    with torch.no_grad():
        layers = model.layers(graph)
        for k, (lu, li) in enumerate(layers):
            torch.testing.assert_close(torch.cat([lu, li]), x, atol=1e-6, rtol=1e-5, msg=f"layer {k}")
            x = conv(homo, x)


def test_pretrained_init_is_layer_zero_exactly_and_bad_init_is_rejected():
    graph, _, _ = bipartite()
    init = {"user": torch.randn(N_USER, 6), "book": torch.randn(N_BOOK, 6), "tag": torch.randn(N_TAG, 6)}
    model = LightGCN(N_USER, N_BOOK, 6, num_layers=2, init=init)
    (u0, i0), *_ = model.layers(graph)
    assert torch.equal(u0, init["user"]) and torch.equal(i0, init["book"])
    original = init["user"].clone()
    init["user"].add_(1.0)  # the model holds its own copy
    assert torch.equal(model.user, original)
    model.user.data.zero_()
    model.reset_parameters()  # reset restores the pretrained tables
    assert torch.equal(model.user, original)
    with pytest.raises(ValueError, match="dim 8"):
        LightGCN(N_USER, N_BOOK, 8, init={"user": torch.randn(N_USER, 6)})
    with pytest.raises(ValueError, match="rows"):
        LightGCN(N_USER, N_BOOK, 6, init={"book": torch.randn(N_BOOK + 1, 6)})
    with pytest.raises(ValueError, match="needs some of"):
        LightGCN(N_USER, N_BOOK, 6, init={"item": torch.randn(N_BOOK, 6)})  # wrong item type


def test_zero_layers_is_mf_and_graph_mismatch_is_rejected():
    graph, _, _ = bipartite()
    model = LightGCN(N_USER, N_BOOK, 3, num_layers=0)
    users, items = model(graph)
    assert torch.equal(users, model.user) and torch.equal(items, model.item)
    with pytest.raises(ValueError, match="book nodes"):
        LightGCN(N_USER, N_BOOK + 2, 3)(graph)
    with pytest.raises(ValueError, match="item_type"):
        interaction_relations(graph, "item")


def test_reg_loss_is_l2_of_layer_zero_rows_over_batch_size():
    model = LightGCN(N_USER, N_BOOK, 3)
    users, pos, neg = torch.tensor([0, 2]), torch.tensor([1, 1]), torch.tensor([3, 4])
    expected = 0.5 * (model.user[users].square().sum() + model.item[pos].square().sum()
                      + model.item[neg].square().sum()) / 2
    torch.testing.assert_close(model.reg_loss(users, pos, neg), expected)
    torch.testing.assert_close(model.reg_loss(users, pos, neg), l2(model.user[users], model.item[pos],
                                                                   model.item[neg]) / 2)
    assert "num_layers=3" in repr(model)
