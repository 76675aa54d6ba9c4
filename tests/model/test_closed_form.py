"""Closed-form item–item recommenders against brute force: numpy solves, explicit loops, the papers' formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.model import closed_form as cf
from hetrec.sampler.bpr import InteractionIndex


def _sparse(dense: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(dense.astype(np.float32)).to_sparse().coalesce()


@pytest.fixture
def x_dense() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = (rng.random((12, 7)) < 0.4).astype(np.float64)
    x[:, 6] = 0  # item 6 has no interactions (cold)
    return x


def test_ease_matches_the_constrained_least_squares_solution(x_dense):
    lam = 3.0
    w = cf.ease(cf.gram(_sparse(x_dense)), lam).numpy()
    g = x_dense.T @ x_dense + lam * np.eye(7)
    # Brute force: for each item j, minimise ||x_j - X w_j||^2 + lam ||w_j||^2 with w_jj = 0 (solve without column j)
    for j in range(7):
        others = [i for i in range(7) if i != j]
        a = x_dense[:, others]
        sol = np.linalg.solve(a.T @ a + lam * np.eye(6), a.T @ x_dense[:, j])
        assert np.allclose(w[others, j], sol, atol=1e-9)
        assert w[j, j] == 0
    assert np.allclose(w[:, 6], 0)  # a cold item's column is empty: EASE cannot score it
    assert np.isfinite(g).all()


def test_itemknn_keeps_the_k_most_cosine_similar_items_per_column(x_dense):
    k = 2
    w = cf.itemknn(_sparse(x_dense), k, block=3).to_dense().numpy()
    n = x_dense.shape[1]
    for j in range(n):
        sims = []
        for i in range(n):
            if i == j:
                continue
            denom = np.linalg.norm(x_dense[:, i]) * np.linalg.norm(x_dense[:, j])
            sims.append((x_dense[:, i] @ x_dense[:, j] / denom if denom else 0.0, i))
        sims.sort(key=lambda t: -t[0])
        expected = np.zeros(n)
        for s, i in sims[:k]:
            if s > 0:
                expected[i] = s
        got = w[:, j]
        # ties at the k-th place may pick either item; compare the kept values and their total
        assert np.isclose(np.sort(got[got > 0]), np.sort(expected[expected > 0])).all()
        assert (got > 0).sum() == (expected > 0).sum()


def test_gfcf_is_the_linear_plus_ideal_low_pass_filter(x_dense):
    du, di = x_dense.sum(1), x_dense.sum(0)
    inv = lambda d: np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)  # noqa: E731
    r = inv(du)[:, None] * x_dense * inv(di)[None, :]
    _, _, vt = np.linalg.svd(r)
    rank, alpha = 3, 0.3
    v = vt[:rank].T
    expected = r.T @ r + alpha * (inv(di)[:, None] * v) @ (v.T * np.sqrt(di)[None, :])
    got = cf.gfcf(cf.gfcf_parts(_sparse(x_dense)), alpha, rank).numpy()
    assert np.allclose(got, expected, atol=1e-8)
    assert np.allclose(cf.gfcf(cf.gfcf_parts(_sparse(x_dense)), 0.0, rank).numpy(), r.T @ r, atol=1e-10)


def test_attrknn_scores_are_the_cosine_to_the_users_attribute_profile():
    s = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 1, 1]], dtype=np.float64)
    content = cf.content_rows(_sparse(s))
    idf = np.log(4 / s.sum(0))
    rows = s * idf
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    assert np.allclose(content.numpy(), rows)
    profile = InteractionIndex(torch.tensor([0, 0]), torch.tensor([0, 1]), 1, 4)
    scores = cf.ItemItemScorer(profile, cf.attrknn(content))(torch.tensor([0]))[0].double().numpy()
    p = rows[0] + rows[1]
    cos = rows @ p / np.linalg.norm(p)
    assert np.allclose(scores / np.linalg.norm(p), cos, atol=1e-6)


def test_ease_si_gives_a_cold_item_a_score_through_its_attributes(x_dense):
    side = np.zeros((7, 3))
    side[[0, 6], 0] = 1  # cold item 6 shares attribute 0 with item 0
    side[[1, 2], 1] = 1
    side[[3, 4, 5], 2] = 1
    content = cf.content_rows(_sparse(side))
    w = cf.ease_si(cf.gram(_sparse(x_dense)), content @ content.T, lam=3.0, beta=10.0)
    assert w[0, 6] > 0  # users of item 0 now reach item 6
    assert torch.allclose(cf.ease_si(cf.gram(_sparse(x_dense)), content @ content.T, 3.0, 0.0),
                          cf.ease(cf.gram(_sparse(x_dense)), 3.0))


def test_item_item_scorer_sums_the_rows_of_the_users_items_dense_and_sparse(x_dense):
    w = cf.ease(cf.gram(_sparse(x_dense)), 1.0)
    users, items = (torch.from_numpy(a) for a in np.nonzero(x_dense))
    profile = InteractionIndex(users, items, 12, 7)
    expected = torch.from_numpy(x_dense[[3, 5]]).float() @ w.float()
    assert torch.allclose(cf.ItemItemScorer(profile, w)(torch.tensor([3, 5])), expected, atol=1e-5)
    sparse = cf.ItemItemScorer(profile, w.to_sparse().coalesce())(torch.tensor([3, 5]))
    assert torch.allclose(sparse, expected, atol=1e-5)


def test_dense_methods_refuse_catalogues_above_the_limit(monkeypatch, x_dense):
    monkeypatch.setattr(cf, "MAX_DENSE_ITEMS", 5)
    with pytest.raises(ValueError, match="itemknn"):
        next(cf.fit_weights("ease", _sparse(x_dense)))
    params, make = next(cf.fit_weights("itemknn", _sparse(x_dense)))  # the scalable one still fits
    assert make().shape == (7, 7)


def test_content_methods_need_side_information(x_dense):
    with pytest.raises(ValueError, match="side information"):
        next(cf.fit_weights("attrknn", _sparse(x_dense), None))
