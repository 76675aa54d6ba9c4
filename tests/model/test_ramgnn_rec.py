"""RAM-GNN recommendation GNN: layer 0 by hand, layers vs a dense float64 oracle, gradients, init."""
import hetrec  # noqa: F401  (before dgl)
import dgl
import pytest
import torch
import torch.nn.functional as F

from hetrec.model.ramgnn_rec import RAMGNNRec, attribute_relations, item_attribute_sizes

SIZES = {"author": 2, "tag": 4}  # tag 3 belongs to no book


def hand_graph():
    """3 users, 3 books. book0: author0, tags 0+1; book1: author1, tag2; book2: authors 0+1, no tag.
    user0 rated books 0, 1; user1 book 2; user2 nothing. A user attribute and `similar` must be ignored."""
    rel = {("user", "rates", "book"): ([0, 0, 1], [0, 1, 2]),
           ("book", "written_by", "author"): ([0, 1, 2, 2], [0, 1, 0, 1]),
           ("book", "has_tag", "tag"): ([0, 0, 1], [0, 1, 2]),
           ("user", "has_age", "age"): ([0, 1, 2], [0, 0, 1]),
           ("book", "similar", "book"): ([0, 1], [1, 0])}
    rev = {"rates": "rated_by", "written_by": "wrote", "has_tag": "tag_of", "has_age": "age_of"}
    data = {}
    for (s, r, d), (a, b) in rel.items():
        data[(s, r, d)] = (torch.tensor(a), torch.tensor(b))
        if r in rev:
            data[(d, rev[r], s)] = (torch.tensor(b), torch.tensor(a))
    graph = dgl.heterograph(data, num_nodes_dict={"user": 3, "book": 3, "author": 2, "tag": 4, "age": 2})
    graph.edges["has_tag"].data["weight"] = torch.tensor([5.0, 1.0, 2.0])
    graph.edges["tag_of"].data["weight"] = torch.tensor([5.0, 1.0, 2.0])
    return graph


def set_hand_parameters(model):
    with torch.no_grad():
        model.item.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        model.attribute["author"].copy_(torch.tensor([[2.0, 0.0], [0.0, 4.0]]))
        model.attribute["tag"].copy_(torch.tensor([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0], [7.0, 7.0]]))
        # h^0_i = e_i + 10 * mean author + 100 * mean tag: distinct scales pin the concat order
        model.w3.weight.copy_(torch.tensor([[1.0, 0, 10, 0, 100, 0], [0, 1.0, 0, 10, 0, 100]]))
        if model.user is not None:
            model.user.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0], [5.0, 5.0]]))


def test_item_attribute_discovery():
    graph = hand_graph()
    assert item_attribute_sizes(graph, "book") == SIZES
    assert attribute_relations(graph, "author", "book") == [("author", "wrote", "book")]
    with pytest.raises(ValueError, match="item attribute"):
        attribute_relations(graph, "age", "book")
    with pytest.raises(ValueError, match="'age'"):
        RAMGNNRec(3, 3, 2, attribute_sizes={"age": 2}, item_type="book")(graph)


@pytest.mark.parametrize("user_embedding", [False, True])
def test_layer_zero_by_hand(user_embedding):
    model = RAMGNNRec(3, 3, 2, attribute_sizes=SIZES, item_type="book", user_embedding=user_embedding)
    set_hand_parameters(model)
    h_user, h_item = model.initial(hand_graph())
    # book0: [1,0] + 10*[2,0] + 100*mean([1,0],[0,3]) ; book1: [0,1] + 10*[0,4] + 100*[2,2]
    # book2: [1,1] + 10*mean([2,0],[0,4]) + zeros (no tag)
    expected_items = torch.tensor([[71.0, 150.0], [200.0, 241.0], [11.0, 21.0]])
    expected_users = torch.tensor([[135.5, 195.5], [11.0, 21.0], [0.0, 0.0]])  # mean of train items
    if user_embedding:
        expected_users = expected_users + torch.tensor([[1.0, 1.0], [0.0, 0.0], [5.0, 5.0]])
    torch.testing.assert_close(h_item, expected_items)
    torch.testing.assert_close(h_user, expected_users)


def dense_forward(p, num_layers, combine, act):
    """Eq. 18-21 with dense row-normalised matrices, from a dict of float64 parameters."""
    def mean_matrix(dst, src, n_dst, n_src):
        m = torch.zeros(n_dst, n_src, dtype=torch.float64)
        m[dst, src] = 1.0
        return m / m.sum(1, keepdim=True).clamp(min=1)
    book_author = mean_matrix([0, 1, 2, 2], [0, 1, 0, 1], 3, 2)
    book_tag = mean_matrix([0, 0, 1], [0, 1, 2], 3, 4)
    user_book = mean_matrix([0, 0, 1], [0, 1, 2], 3, 3)
    book_user = mean_matrix([0, 1, 2], [0, 0, 1], 3, 3)
    h_i = torch.cat([p["item"], book_author @ p["author"], book_tag @ p["tag"]], 1) @ p["w3"].T
    h_u = user_book @ h_i + p["user"]
    layers = [(h_u, h_i)]
    for w in p["w4"]:
        h_u, h_i = (act(torch.cat([h_u, user_book @ h_i], 1) @ w.T), act(torch.cat([h_i, book_user @ h_u], 1) @ w.T))
        layers.append((h_u, h_i))
    if combine == "concat":
        return torch.cat([u for u, _ in layers], 1), torch.cat([i for _, i in layers], 1)
    return torch.stack([u for u, _ in layers]).mean(0), torch.stack([i for _, i in layers]).mean(0)


@pytest.mark.parametrize("combine,activation", [("concat", "leaky_relu"), ("mean", "tanh")])
def test_forward_and_gradients_match_dense_oracle_in_float64(combine, activation):
    torch.manual_seed(0)
    model = RAMGNNRec(3, 3, 4, attribute_sizes=SIZES, item_type="book", num_layers=2, combine=combine,
                      activation=activation).double()
    users, items = model(hand_graph())
    assert users.shape == (3, model.out_dim) and model.out_dim == (12 if combine == "concat" else 4)
    p = {"item": model.item, "user": model.user, "author": model.attribute["author"], "tag": model.attribute["tag"],
         "w3": model.w3.weight, "w4": [w.weight for w in model.w4]}
    p = {k: ([t.detach().clone().requires_grad_() for t in v] if isinstance(v, list)
             else v.detach().clone().requires_grad_()) for k, v in p.items()}
    act = (lambda x: F.leaky_relu(x, 0.2)) if activation == "leaky_relu" else torch.tanh
    ou, oi = dense_forward(p, 2, combine, act)
    torch.testing.assert_close(users, ou, atol=1e-9, rtol=1e-7)
    torch.testing.assert_close(items, oi, atol=1e-9, rtol=1e-7)
    w = torch.randn(3, 3, dtype=torch.float64)
    (w * (users @ items.T)).sum().backward()
    (w * (ou @ oi.T)).sum().backward()
    for ours, theirs in [(model.attribute["author"], p["author"]), (model.attribute["tag"], p["tag"]),
                         (model.item, p["item"]), (model.user, p["user"]), (model.w3.weight, p["w3"]),
                         (model.w4[1].weight, p["w4"][1])]:
        torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-9, rtol=1e-7)
    tag_grad = model.attribute["tag"].grad
    assert tag_grad[:3].abs().sum(1).min() > 0  # every tag of some book learns
    assert torch.equal(tag_grad[3], torch.zeros(4, dtype=torch.float64))  # tag of no book: no gradient


def test_pretrained_init_is_used_exactly_and_checked():
    g = torch.Generator().manual_seed(1)
    init = {"user": torch.randn(3, 2, generator=g), "book": torch.randn(3, 2, generator=g),
            "author": torch.randn(2, 2, generator=g), "tag": torch.randn(4, 2, generator=g),
            "age": torch.randn(2, 2, generator=g)}
    model = RAMGNNRec(3, 3, 2, attribute_sizes=SIZES, item_type="book", init=init)
    assert torch.equal(model.user, init["user"]) and torch.equal(model.item, init["book"])
    assert torch.equal(model.attribute["author"], init["author"]) and torch.equal(model.attribute["tag"], init["tag"])
    h_user, h_item = model.initial(hand_graph())
    expected_book2 = torch.cat([init["book"][2], init["author"].mean(0), torch.zeros(2)]) @ model.w3.weight.T
    torch.testing.assert_close(h_item[2], expected_book2)
    items_only = RAMGNNRec(3, 3, 2, attribute_sizes=SIZES, item_type="book", init={"book": init["book"]},
                           user_embedding=False)
    assert items_only.user is None and torch.equal(items_only.item, init["book"])
    with pytest.raises(ValueError, match="dim 3"):
        RAMGNNRec(3, 3, 3, attribute_sizes=SIZES, item_type="book", init=init)
    with pytest.raises(ValueError, match="init\\['tag'\\] has 3 rows"):
        RAMGNNRec(3, 3, 2, attribute_sizes=SIZES, item_type="book", init={**init, "tag": init["tag"][:3]})


def test_reg_loss_and_option_validation():
    model = RAMGNNRec(3, 3, 2, attribute_sizes=SIZES, item_type="book", user_embedding=False)
    set_hand_parameters(model)
    reg = model.reg_loss(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([1, 1]))
    assert reg.item() == pytest.approx(0.5 * (1 + 2 + 1 + 1) / 2)  # items only: no user table
    with pytest.raises(ValueError, match="combine"):
        RAMGNNRec(3, 3, 2, attribute_sizes=SIZES, item_type="book", combine="sum")
    with pytest.raises(ValueError, match="attribute_sizes"):
        RAMGNNRec(3, 3, 2, attribute_sizes={"user": 3}, item_type="book")
    assert "attributes={'author': 2, 'tag': 4}" in repr(model)
