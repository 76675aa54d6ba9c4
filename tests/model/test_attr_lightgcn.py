"""Inductive LightGCN: cold items scored through their attributes, the ID mask, layer-0 content by hand,
and SimGCL's InfoNCE against its reference formula."""
from __future__ import annotations

import math

import pytest
import torch

import hetrec  # noqa: F401
import dgl
from hetrec.model.attr_lightgcn import AttrLightGCN, side_inputs
from hetrec.model.contrastive import info_nce, perturb


def graph():
    """3 users, 4 items (item 3 never rated), 2 genres; item 3 shares genre 1 with item 2."""
    rates = (torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]))
    genre = (torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 1]))
    return dgl.heterograph({
        ("user", "rates", "item"): rates, ("item", "rated_by", "user"): (rates[1], rates[0]),
        ("item", "has_genre", "genre"): genre, ("genre", "genre_of", "item"): (genre[1], genre[0]),
    }, num_nodes_dict={"user": 3, "item": 4, "genre": 2})


def model(**kw):
    g = graph()
    side = {c[0]: g.num_nodes(c[0]) for t in ("user", "item") for c in side_inputs(g, t, "item")}
    torch.manual_seed(0)
    return g, AttrLightGCN(3, 4, 8, side_sizes=side, warm=torch.tensor([True, True, True, False]), num_layers=2,
                           **kw)


def test_layer0_is_masked_id_plus_mean_of_attribute_rows():
    g, m = model()
    m.eval()
    u0, i0 = m.layer0(g)
    e = m.side["genre"]
    assert torch.allclose(i0[0], m.item[0] + e[0])
    assert torch.allclose(i0[3], e[1])  # the cold item: no ID row, only its genre
    assert torch.allclose(u0, m.user)  # users have no attributes here


def test_a_cold_item_keeps_its_layer0_and_its_score_moves_with_its_attribute():
    g, m = model()
    m.eval()
    users, items = m(g)
    assert torch.allclose(items[3], m.side["genre"][1])  # not shrunk by the K zero layers
    before = (users @ items.T)[:, 3].clone()
    with torch.no_grad():
        m.side["genre"][1] += 1.0
    after = (users @ m(g)[1].T)[:, 3]
    assert not torch.allclose(before, after)  # scored through the encoder, not an untrained ID row


def test_id_dropout_only_in_training():
    g, m = model(id_dropout=0.99)
    e = m.side["genre"]
    content = torch.stack([e[0], e[0], e[1], e[1]])
    m.train()
    torch.manual_seed(1)
    _, i0 = m.layer0(g)
    dropped = [bool(torch.allclose(i0[w], content[w])) for w in range(3)]
    kept = [bool(torch.allclose(i0[w], m.item[w] + content[w])) for w in range(3)]
    assert all(d or k for d, k in zip(dropped, kept)) and sum(dropped) >= 2  # p = 0.99: (almost) all dropped
    m.eval()
    _, i0 = m.layer0(g)
    assert torch.allclose(i0[:3], m.item[:3] + content[:3])  # never at evaluation


def test_info_nce_matches_the_formula():
    torch.manual_seed(0)
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    tau = 0.2
    za, zb = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    expected = 0.0
    for v in range(4):
        num = math.exp(float(za[v] @ zb[v]) / tau)
        den = sum(math.exp(float(za[v] @ zb[w]) / tau) for w in range(4))
        expected += -math.log(num / den)
    assert float(info_nce(a, b, tau)) == pytest.approx(expected / 4, rel=1e-5)


def test_perturb_has_radius_eps_and_keeps_signs():
    torch.manual_seed(0)
    x = torch.randn(5, 6)
    d = perturb(x, 0.1) - x
    assert torch.allclose(d.norm(dim=1), torch.full((5,), 0.1), atol=1e-6)
    assert bool(((d == 0) | (torch.sign(d) == torch.sign(x))).all())


def test_contrastive_loss_is_zero_when_off_and_positive_when_on():
    g, m = model()
    users, pos = torch.tensor([0, 1]), torch.tensor([0, 1])
    assert float(m.aux_loss(g, users, pos)) == 0.0
    g, m = model(cl_weight=0.5)
    loss = m.aux_loss(g, users, pos)
    assert float(loss.detach()) > 0 and loss.requires_grad


def test_a_graph_without_side_information_is_refused():
    with pytest.raises(ValueError, match="lightgcn"):
        AttrLightGCN(3, 4, 8, side_sizes={}, warm=torch.ones(4, dtype=torch.bool))


def _kg_loss_and_its_draw(g, m):
    """``m.kg_loss(g, 64)`` and the same draw by hand: edges (item, genre) in relation order, negatives uniform
    over the 2 genres; returns the loss, the picked items' layer-0 rows and their positive / negative genre rows."""
    m.eval()
    torch.manual_seed(3)
    loss = m.kg_loss(g, 64)
    torch.manual_seed(3)
    item, value = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 1])
    pick = torch.randint(4, (64,))
    neg = (torch.rand(64) * 2).long()
    _, i0 = m.layer0(g)
    t = m.side["genre"]
    return loss, i0[item[pick]], t[value[pick]], t[neg]


def test_kg_loss_by_hand_and_in_aux_loss():
    g, m = model(kg_weight=1.0)
    loss, e, pos, neg = _kg_loss_and_its_draw(g, m)
    expected = torch.nn.functional.softplus((e * neg).sum(-1) - (e * pos).sum(-1)).mean()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert m.side["genre"].grad is not None and m.item.grad is not None


def _dense_lightgcn_items(m, g, items0, layers=2):
    """LightGCN over the tiny graph by hand (dense, symmetric normalisation): the items' layer mean."""
    R = torch.zeros(3, 4)
    u, i = g.edges(etype="rates")
    R[u, i] = 1
    du, di = R.sum(1).clamp_min(1), R.sum(0).clamp_min(1)
    A = R / du.sqrt().unsqueeze(1) / di.sqrt().unsqueeze(0)
    us, its = [m.user], [items0]
    for _ in range(layers):
        us, its = us + [A @ its[-1]], its + [A.T @ us[-1]]
    return torch.stack(its).mean(0)


def relation_model(**kw):
    g = graph()
    rels = side_inputs(g, "item", "item")
    torch.manual_seed(0)
    return g, AttrLightGCN(3, 4, 8, side_sizes={"genre": 2}, warm=torch.tensor([True, True, True, False]),
                           num_layers=2, encoder="relation", relations=rels, **kw)


def test_relation_encoder_starts_as_the_mean_encoder_and_applies_w_r():
    g, m = relation_model()
    _, mean = model()
    m.eval()
    e = m.side["genre"]
    assert torch.allclose(m.layer0(g)[1], m.item * m.warm.float().unsqueeze(1) + e[[0, 0, 1, 1]])  # W_r = I
    w = torch.randn(8, 8)
    with torch.no_grad():
        m.transform[0].copy_(w)
    _, i0 = m.layer0(g)
    assert torch.allclose(i0[3], e[1] @ w, atol=1e-6)  # the cold item: its genre's row through W_genre_of
    assert torch.allclose(i0[0], m.item[0] + e[0] @ w, atol=1e-6)
    (m(g)[1][3].sum()).backward()
    assert m.transform.grad is not None and float(m.transform.grad.abs().sum()) > 0  # trained on, not frozen


def test_relation_encoder_starts_from_pretrained_transforms_by_name():
    w = torch.randn(8, 8)
    g, m = relation_model(transforms={"genre_of": w, "has_genre": torch.zeros(8, 8), "unknown": torch.ones(3)})
    assert torch.equal(m.transform[0], w)  # only the relation into items is used; others are ignored
    with pytest.raises(ValueError, match="same --dim"):
        relation_model(transforms={"genre_of": torch.zeros(4, 4)})


def test_kg_view_loss_is_info_nce_of_knowledge_and_interaction_views():
    g, m = model(kgcl_weight=1.0, kg_drop=0.0)
    pos = torch.tensor([2, 0, 2])
    loss = m.kg_view_loss(g, pos)
    knowledge = m.side["genre"][[0, 0, 1, 1]]  # nothing dropped: each item's genre row
    interaction = _dense_lightgcn_items(m, g, m.item * m.warm.float().unsqueeze(1))
    bi = torch.tensor([0, 2])
    assert torch.allclose(loss, info_nce(knowledge[bi], interaction[bi], m.cl_temperature), atol=1e-6)
    loss.backward()
    assert m.side["genre"].grad is not None and m.item.grad is not None
    users = torch.tensor([0, 1, 2])
    assert torch.allclose(m.aux_loss(g, users, pos), m.kg_view_loss(g, pos))


def test_augmented_kg_view_drops_edges_and_averages_the_kept_ones():
    g, m = model(kg_drop=0.5)
    torch.manual_seed(5)
    view = m._content(g, "item", 0.5)
    torch.manual_seed(5)
    keep = torch.rand(4) >= 0.5  # one draw per genre_of edge, in edge-id order (edge k -> item k)
    e = m.side["genre"][[0, 0, 1, 1]]
    assert torch.allclose(view, e * keep.float().unsqueeze(1))
    assert 0 < int(keep.sum()) < 4  # this seed drops some and keeps some


def two_relation_graph():
    """graph() plus a decade relation: item 0 has genre 0 and decade 1, so its attention has two edges."""
    rates = (torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]))
    genre = (torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 1, 1]))
    decade = (torch.tensor([0, 1, 3]), torch.tensor([1, 0, 0]))
    return dgl.heterograph({
        ("user", "rates", "item"): rates, ("item", "rated_by", "user"): (rates[1], rates[0]),
        ("item", "has_genre", "genre"): genre, ("genre", "genre_of", "item"): (genre[1], genre[0]),
        ("item", "has_decade", "decade"): decade, ("decade", "decade_of", "item"): (decade[1], decade[0]),
    }, num_nodes_dict={"user": 3, "item": 4, "genre": 2, "decade": 2})


def test_attention_encoder_by_hand_and_its_kg_view():
    from hetrec.graph.relations import reverse_of

    g = two_relation_graph()
    assert reverse_of(g, ("genre", "genre_of", "item")) == ("item", "has_genre", "genre")
    assert reverse_of(g, ("user", "rates", "item")) == ("item", "rated_by", "user")
    rels = side_inputs(g, "item", "item")  # decade_of (k = 0), genre_of (k = 1): sorted
    torch.manual_seed(0)
    m = AttrLightGCN(3, 4, 8, side_sizes={"genre": 2, "decade": 2}, warm=torch.tensor([True, True, True, False]),
                     num_layers=2, encoder="attention", relations=rels)
    m.eval()
    eg, ed, W, er = m.side["genre"], m.side["decade"], m.att_w, m.att_e
    q0 = (eg[0] + ed[1]) / 2  # item 0's query: the mean over its two relations' mean rows

    def pi(a, k):
        return (a @ W[k]) @ torch.tanh(q0 @ W[k] + er[k])

    s = torch.softmax(torch.stack([pi(ed[1], 0), pi(eg[0], 1)]), 0)
    expected = s[0] * ed[1] + s[1] * eg[0]
    _, i0 = m.layer0(g)
    assert torch.allclose(i0[0], m.item[0] + expected, atol=1e-6)
    assert torch.allclose(i0[2], m.item[2] + eg[1], atol=1e-6)  # one side edge: attention 1
    torch.manual_seed(4)
    view = m._content(g, "item", 0.5)
    torch.manual_seed(4)
    keep = torch.rand(7) >= 0.5  # edges in relation order: decade_of (3), then genre_of (4), each by edge id
    by_hand = torch.zeros(4, 8)
    for e, (item, row) in enumerate([(0, ed[1]), (1, ed[0]), (3, ed[0])] + [(i, eg[i // 2]) for i in range(4)]):
        if keep[e]:
            by_hand[item] += row  # nodes left with one kept edge take it whole ...
    assert bool(keep[0]) != bool(keep[3])  # ... and this seed keeps exactly one of item 0's two edges
    assert torch.allclose(view, by_hand, atol=1e-6)
    (m(g)[1][3].sum()).backward()
    assert W.grad is not None and er.grad is not None


def test_transr_kg_loss_by_hand_with_the_attention_encoders_relation_module():
    g = graph()
    rels = side_inputs(g, "item", "item")
    torch.manual_seed(0)
    m = AttrLightGCN(3, 4, 8, side_sizes={"genre": 2}, warm=torch.tensor([True, True, True, False]), num_layers=2,
                     encoder="attention", relations=rels, kg_weight=1.0, kg_objective="transr")
    loss, e, pos, neg = _kg_loss_and_its_draw(g, m)
    W, er = m.att_w[0], m.att_e[0]

    def dist(tails):
        return (e @ W + er - tails @ W).square().sum(-1)

    expected = torch.nn.functional.softplus(dist(pos) - dist(neg)).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert m.att_w.grad is not None and m.att_e.grad is not None
    with pytest.raises(ValueError, match="attention"):
        AttrLightGCN(3, 4, 8, side_sizes={"genre": 2}, warm=torch.ones(4, dtype=torch.bool), kg_objective="transr")
