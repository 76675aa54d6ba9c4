"""MF: tables as representations, pretrained init, reg loss; most-popular embeddings on a hand graph."""
import hetrec  # noqa: F401  (before dgl)
import dgl
import pytest
import torch

from hetrec.model.loss import bpr_loss
from hetrec.model.init import check_init
from hetrec.model.mf import MF
from hetrec.model.popular import popularity_embeddings


def hand_graph(item_type="item"):
    # user 0: items 0, 1; user 1: items 1, 2; user 2: item 1; user 3: nothing; item 3: nobody
    u = torch.tensor([0, 0, 1, 1, 2])
    i = torch.tensor([0, 1, 1, 2, 1])
    return dgl.heterograph({("user", "rates", item_type): (u, i), (item_type, "rated_by", "user"): (i, u),
                            ("user", "to_read", item_type): (torch.tensor([3, 3]), torch.tensor([3, 3]))},
                           num_nodes_dict={"user": 4, item_type: 4})


def test_forward_returns_the_tables_and_bpr_gradients_are_the_closed_form():
    model = MF(4, 4, 3)
    users, items = model(hand_graph())
    assert users is model.user and items is model.item
    u, p, n = torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([3, 0])
    pos = (users[u] * items[p]).sum(1)
    neg = (users[u] * items[n]).sum(1)
    bpr_loss(pos, neg).backward()
    # d/de_u of mean softplus(e_u.(e_n - e_p)) = sigmoid(neg - pos) (e_n - e_p) / B
    coef = torch.sigmoid(neg - pos).detach() / 2
    expected = torch.zeros(4, 3).index_add_(0, u, coef[:, None] * (model.item[n] - model.item[p]).detach())
    torch.testing.assert_close(model.user.grad, expected)


def test_init_is_copied_and_missing_tables_are_random():
    init = {"user": torch.arange(12.0).reshape(4, 3), "genre": torch.zeros(2, 3)}
    model = MF(4, 4, 3, init=init, item_type="item")
    assert torch.equal(model.user, init["user"])
    assert 0 < model.item.std() < 1  # N(0, 0.1^2) default, not the pretrained zeros of another type
    assert "pretrained=['user']" in repr(model)
    with pytest.raises(ValueError, match="needs dim 5"):
        MF(4, 4, 5, init=init)
    with pytest.raises(ValueError, match="4 rows"):
        MF(5, 4, 3, init=init)
    with pytest.raises(ValueError, match="graph has 4 item nodes"):
        MF(4, 6, 3)(hand_graph())
    assert check_init(None, {"user": (4, 3)}) == {}


def test_reg_loss_hand_value():
    model = MF(2, 3, 2)
    with torch.no_grad():
        model.user.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        model.item.copy_(torch.tensor([[1.0, 1.0], [0.0, 3.0], [0.0, 0.0]]))
    reg = model.reg_loss(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 2]))
    # 0.5 * (1 + 4 + 2 + 9 + 0) / 2
    assert reg.item() == pytest.approx(4.0)


def test_popularity_embeddings_rank_by_train_counts():
    users, items = popularity_embeddings(hand_graph("book"), "book")
    torch.testing.assert_close(users, torch.ones(4, 1))
    torch.testing.assert_close(items, torch.tensor([[1.0], [3.0], [1.0], [0.0]]))  # to_read is not counted
    scores = users @ items.T
    assert scores.argmax(1).tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="rates"):
        popularity_embeddings(hand_graph("book"), "item")
