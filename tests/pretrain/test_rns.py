"""Reinforced Neighbor Sampler: same-value sampling vs brute force, top-k keep by hand, bandit on scripted rewards.

The bandit tests were rewritten when the reward became per-relation (hetrec/pretrain/rns.py): they used to
script one distance per epoch and expect +1 when it fell since the last epoch; the reward now compares each
relation's kept-neighbour distance with its chance distance in the same epoch (+1 when below), so they script
(distance, chance) pairs. Same steps, clipping and freeze rule as before. RAM-GNN now also passes the paired
z-score (:func:`paired_evidence`) and the reward asks it to exceed z_min (last test); without it the ratio rule holds.
"""
import math
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.pretrain.rns import (ThresholdBandit, keep_top, paired_evidence, sample_same_value,
                                 shuffled_neighbours, value_index)


def _random_relation(seed=0, owners=30, values=8, edges=45):
    g = torch.Generator().manual_seed(seed)
    o = torch.randint(owners, (edges,), generator=g)
    v = torch.randint(values, (edges,), generator=g)
    return o, v, owners, values


def test_samples_share_a_value_never_self_and_cover_all_neighbours():
    o, v, n, nv = _random_relation()
    vi = value_index(o, v, n, nv)
    values_of = [set(v[o == i].tolist()) for i in range(n)]
    brute = [{j for j in range(n) if j != i and values_of[i] & values_of[j]} for i in range(n)]
    nbr, val, mem, valid = sample_same_value(vi, torch.arange(n), 400, torch.Generator().manual_seed(1))
    assert torch.equal(vi.mem_col[mem][valid], nbr[valid])  # membership = position of (value, j)
    assert torch.equal(torch.searchsorted(vi.mem_crow, mem, right=True)[valid] - 1, val[valid])
    for i in range(n):
        assert bool(valid[i].all()) == bool(brute[i]) and bool(valid[i].any()) == bool(brute[i])
        got = set(nbr[i][valid[i]].tolist())
        assert i not in got
        assert got == brute[i]  # every brute-force neighbour is reachable (400 draws over <= 30 items)
        for j, x in zip(nbr[i][valid[i]].tolist(), val[i][valid[i]].tolist()):
            assert x in values_of[i] and x in values_of[j]


def test_sampling_is_uniform_over_values_then_members():
    # owner 0 has values 0 and 1; value 0 = {0, 1, 2}, value 1 = {0, 3}: P(1) = P(2) = 1/4, P(3) = 1/2
    vi = value_index(torch.tensor([0, 1, 2, 0, 3]), torch.tensor([0, 0, 0, 1, 1]), 4, 2)
    nbr, _, _, valid = sample_same_value(vi, torch.tensor([0]), 40000, torch.Generator().manual_seed(0))
    freq = torch.bincount(nbr[0], minlength=4).double() / 40000
    assert valid.all()
    assert torch.allclose(freq, torch.tensor([0.0, 0.25, 0.25, 0.5], dtype=torch.float64), atol=0.015)


def test_owner_alone_with_its_values_gets_no_neighbour():
    vi = value_index(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]), 4, 2)  # 0 alone on value 0; 3 has none
    nbr, _, _, valid = sample_same_value(vi, torch.arange(4), 5)
    assert valid.tolist() == [[False] * 5, [True] * 5, [True] * 5, [False] * 5]
    assert nbr[1].tolist() == [2] * 5 and nbr[2].tolist() == [1] * 5


def test_keep_top_by_hand():
    sim = torch.tensor([[0.9, 0.1, 0.5, 0.7], [0.2, 0.8, 0.3, 0.0], [0.5, 0.5, 0.5, 0.5]])
    valid = torch.tensor([[True] * 4, [True, True, True, False], [False] * 4])
    keep = keep_top(sim, valid, 0.5)
    assert keep.tolist() == [[True, False, False, True], [False, True, True, False], [False] * 4]
    # round(t * n), halves up: 0.6 of 4 keeps 2 (ceil would keep 3), 0.6 of 3 keeps 2, 0.3 of 3 keeps 1
    assert keep_top(sim, valid, 0.6).tolist() == keep.tolist()
    assert keep_top(sim, valid, 0.3).tolist() == [[True, False, False, False], [False, True, False, False], [False] * 4]
    # a tiny threshold keeps none (the relation is switched off); at_least_one (the bandit's measurement) keeps
    # the single best; 1.0 keeps every valid one
    assert keep_top(sim, valid, 0.01).tolist() == [[False] * 4] * 3
    assert keep_top(sim, valid, 0.01, at_least_one=True).tolist() == [[True, False, False, False],
                                                                      [False, True, False, False], [False] * 4]
    assert keep_top(sim, valid, 1.0).tolist() == valid.tolist()
    # ties keep the earlier column
    assert keep_top(torch.ones(1, 4), torch.ones(1, 4, dtype=torch.bool), 0.5).tolist() == [[True, True, False, False]]


def test_shuffled_neighbours_is_a_relabelling_that_never_returns_the_owner():
    nbr = torch.tensor([[1, 1, 2], [0, 2, 2], [0, 1, 0]])
    owners = torch.arange(3)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = shuffled_neighbours(nbr, owners, 3, g)
        assert not (out == owners[:, None]).any()
        # repeated draws stay repeated (same duplicate structure as the relation's own draws)
        assert out[0, 0] == out[0, 1] and out[1, 1] == out[1, 2] and out[2, 0] == out[2, 2]


def test_bandit_scripted_rewards_steps_and_clipping():
    b = ThresholdBandit(["a"], epsilon=0.1, initial=0.85)
    assert b.step({"a": 5.0}, {"a": 1.0}) == {"a": 0}  # first observation: recorded, no reward yet
    assert b.last_ratio["a"] == 5.0
    rewards, ts = [], []
    # closer than chance x3, farther, equal (not closer), closer
    for d, c in [(4.0, 5.0), (3.0, 3.5), (2.0, 9.0), (2.5, 2.0), (2.5, 2.5), (1.0, 1.2)]:
        rewards.append(b.step({"a": d}, {"a": c})["a"])
        ts.append(round(b.thresholds["a"], 6))
    assert rewards == [1, 1, 1, -1, -1, 1]
    assert ts == [0.95, 1.0, 1.0, 0.9, 0.8, 0.9]  # +eps, clipped at 1, ...
    low = ThresholdBandit(["a"], epsilon=0.1, initial=0.15)
    for d in [1.0, 2.0, 3.0, 4.0]:
        low.step({"a": d}, {"a": 0.5})
    assert low.thresholds["a"] == pytest.approx(0.1)  # clipped at epsilon, never below
    # NaN distance (no kept neighbour) or no usable chance distance: no reward, nothing moves
    assert low.step({"a": float("nan")}, {"a": 1.0}) == {"a": 0}
    assert low.step({"a": 1.0}, {"a": 0.0}) == {"a": 0} and low.step({"a": 1.0}, {}) == {"a": 0}


def test_global_drift_no_longer_gives_every_relation_the_same_reward():
    """Why the reward changed: the embedding scale grows every epoch (all distances rise together). The old
    rule (+1 iff the distance fell since the last epoch) gave both relations -1 every epoch; the per-relation
    ratio to chance tells the relation whose neighbours are closer than chance from the one at chance."""
    b = ThresholdBandit(["informative", "noise"], epsilon=0.02)
    for scale in [1.0, 2.0, 4.0, 8.0, 16.0]:
        b.step({"informative": 0.7 * scale, "noise": 1.05 * scale}, {"informative": scale, "noise": scale})
    assert b.rewards == {"informative": [1, 1, 1, 1], "noise": [-1, -1, -1, -1]}
    assert b.thresholds["informative"] > 0.5 > b.thresholds["noise"]


def test_bandit_freezes_after_ten_balanced_rewards_only():
    b = ThresholdBandit(["osc", "down"], epsilon=0.02)
    b.step({"osc": 1.0, "down": 1.0}, {"osc": 1.0, "down": 2.0})
    for t in range(1, 10):  # 9 rewards: not yet a window of 10
        b.step({"osc": 1.0 if t % 2 == 0 else 0.5, "down": 1.0}, {"osc": 0.9, "down": 2.0})
    assert not b.frozen["osc"]
    # rewards so far: +1 (odd t, 0.5 < 0.9) x5, -1 (even t) x4; the tenth is -1 -> |sum| = 0 <= eps
    b.step({"osc": 1.0, "down": 1.0}, {"osc": 0.9, "down": 2.0})
    assert b.frozen["osc"] and not b.frozen["down"]
    frozen_at = b.thresholds["osc"]
    assert b.step({"osc": 0.0, "down": 1.0}, {"osc": 0.9, "down": 2.0}) == {"osc": 0, "down": 1}
    assert b.thresholds["osc"] == frozen_at
    assert b.thresholds["down"] == pytest.approx(0.5 + 11 * 0.02)  # eleven +1 (closer than chance), still moving


def test_paired_evidence_and_the_significance_reward():
    """A relation at chance gets -1 although its average is (by chance) a little closer; a clearly closer one +1."""
    g = torch.Generator().manual_seed(0)
    n, k = 200, 4
    keep = torch.ones(n, k, dtype=torch.bool)
    chance = torch.rand(n, k, generator=g) + 1.0
    noise = torch.rand(n, k, generator=g) + 0.99  # same spread, 1% closer on average: not evidence
    informative = torch.rand(n, k, generator=g) + 0.7
    z_noise, z_inf = paired_evidence(noise, keep, chance, keep), paired_evidence(informative, keep, chance, keep)
    assert z_inf > 5 and abs(z_noise) < 1, (z_inf, z_noise)
    # owners without a kept draw on either side are left out; fewer than 3 owners: no evidence (NaN)
    assert math.isnan(paired_evidence(noise[:2], keep[:2], chance[:2], keep[:2]))
    none = torch.zeros(n, k, dtype=torch.bool)
    assert math.isnan(paired_evidence(noise, none, chance, keep))
    b = ThresholdBandit(["noise", "informative"], epsilon=0.02)
    d = {"noise": float(noise.mean()), "informative": float(informative.mean())}
    c = {"noise": float(chance.mean()), "informative": float(chance.mean())}
    ev = {"noise": z_noise, "informative": z_inf}
    b.step(d, c, ev)
    assert b.step(d, c, ev) == {"noise": -1, "informative": 1}  # the ratio rule would give the noise +1 (d < c)
    assert d["noise"] < c["noise"]
    assert b.step(d, c, {"informative": float("nan")}) == {"noise": -1, "informative": -1}  # no evidence: -1
