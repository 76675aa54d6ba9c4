"""Every recommender states the Recommender protocol and honours it: (user [U, d], item [I, d]) and a scalar reg."""
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.model.lightgcn import LightGCN
from hetrec.model.mf import MF
from hetrec.model.popular import Fixed, popularity_embeddings
from hetrec.model.protocol import Recommender
from hetrec.model.ramgnn_rec import RAMGNNRec, item_attribute_sizes


def _graph():
    import dgl

    u, i = torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2])
    return dgl.heterograph({("user", "rates", "item"): (u, i), ("item", "rated_by", "user"): (i, u)},
                           num_nodes_dict={"user": 3, "item": 4})


@pytest.mark.parametrize("make", [
    lambda g: MF(3, 4, 5, item_type="item"), lambda g: LightGCN(3, 4, 5, num_layers=2, item_type="item"),
    lambda g: RAMGNNRec(3, 4, 5, attribute_sizes=item_attribute_sizes(g, "item"), item_type="item"),
    lambda g: Fixed(*popularity_embeddings(g, "item"))])
def test_each_model_states_and_honours_the_protocol(make):
    g = _graph()
    model = make(g)
    assert Recommender in type(model).__mro__ and isinstance(model, Recommender)
    user, item = model(g)
    assert user.shape[0] == 3 and item.shape[0] == 4 and user.shape[1] == item.shape[1]
    reg = model.reg_loss(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 3]))
    assert reg.dim() == 0 and float(reg.detach()) >= 0
