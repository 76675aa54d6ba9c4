"""BPR loss and L2 penalty against hand-computed values."""
import math

import pytest
import torch

from hetrec.model.loss import bpr_loss, l2


def test_bpr_loss_hand_values():
    pos = torch.tensor([2.0, 0.0, -1.0])
    neg = torch.tensor([0.0, 0.0, 1.0])
    # -log sigmoid(pos - neg) for gaps 2, 0, -2
    expected = (math.log(1 + math.exp(-2)) + math.log(2) + math.log(1 + math.exp(2))) / 3
    assert bpr_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)


def test_bpr_loss_is_stable_for_large_gaps_and_has_the_sigmoid_gradient():
    pos = torch.tensor([100.0, -100.0], requires_grad=True)
    neg = torch.zeros(2)
    loss = bpr_loss(pos, neg)
    assert loss.item() == pytest.approx(50.0, rel=1e-6)  # (~0 + 100) / 2, no inf
    loss.backward()
    # d/dpos mean(softplus(neg - pos)) = -sigmoid(neg - pos) / B
    torch.testing.assert_close(pos.grad, -torch.sigmoid(neg - pos.detach()) / 2)


def test_bpr_loss_rejects_misaligned_scores():
    with pytest.raises(ValueError, match="shape"):
        bpr_loss(torch.zeros(3), torch.zeros(4))


def test_l2_is_half_the_sum_of_squares():
    a = torch.tensor([[1.0, 2.0]])
    b = torch.tensor([3.0])
    assert l2(a, b).item() == pytest.approx(0.5 * (1 + 4 + 9))
    with pytest.raises(ValueError):
        l2()
