"""Metrics against hand-computed values (RecBole definitions)."""
from math import log2

import pytest
import torch

import hetrec  # noqa: F401
from hetrec.evaluator.metrics import (catalog_coverage, compute_metrics, hit_at_k, mrr_at_k, ndcg_at_k,
                                      recall_at_k)

# Three users, K = 5.
#   u0: hits at ranks 2 and 5, n_pos = 2
#   u1: hit at rank 1,          n_pos = 1
#   u2: no hit,                 n_pos = 3
HITS = torch.tensor([[0, 1, 0, 0, 1],
                     [1, 0, 0, 0, 0],
                     [0, 0, 0, 0, 0]], dtype=torch.bool)
N_POS = torch.tensor([2, 1, 3])


def test_per_user_values_by_hand():
    # hit@2: u0 (rank 2), u1 (rank 1) hit; u2 does not.
    assert hit_at_k(HITS, 2).tolist() == [1.0, 1.0, 0.0]
    assert hit_at_k(HITS, 1).tolist() == [0.0, 1.0, 0.0]
    # mrr@5: first hit at rank 2 -> 1/2; rank 1 -> 1; none -> 0.
    assert mrr_at_k(HITS, 5).tolist() == [0.5, 1.0, 0.0]
    # recall@5: u0 2 of 2, u1 1 of 1, u2 0 of 3; recall@2: u0 1 of 2.
    assert recall_at_k(HITS, N_POS, 5).tolist() == [1.0, 1.0, 0.0]
    assert recall_at_k(HITS, N_POS, 2).tolist() == [0.5, 1.0, 0.0]
    # ndcg@5, u0: DCG = 1/log2(3) + 1/log2(6) = 0.630930 + 0.386853 = 1.017783,
    #             IDCG (min(2, 5) = 2 ideal hits) = 1 + 1/log2(3) = 1.630930  -> 0.624051
    # ndcg@2, u0: DCG = 1/log2(3) = 0.630930, IDCG = 1.630930 -> 0.386853
    nd5 = ndcg_at_k(HITS, N_POS, 5)
    nd2 = ndcg_at_k(HITS, N_POS, 2)
    assert nd5.tolist() == pytest.approx([0.6240505, 1.0, 0.0], abs=1e-6)
    assert nd2.tolist() == pytest.approx([0.3868528, 1.0, 0.0], abs=1e-6)


def test_ndcg_ideal_is_capped_at_k():
    # n_pos = 3 but k = 2: IDCG = 1 + 1/log2(3) (two ideal slots), so two hits in two slots is a perfect 1.0,
    # while recall@2 = 2/3 (RecBole divides by all positives).
    hits = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    n_pos = torch.tensor([3])
    assert ndcg_at_k(hits, n_pos, 2).item() == pytest.approx(1.0)
    assert recall_at_k(hits, n_pos, 2).item() == pytest.approx(2 / 3)
    # k = 3: DCG = 1 + 1/log2(3); IDCG = 1 + 1/log2(3) + 1/2 = 2.130930 -> 1.630930 / 2.130930 = 0.765361
    assert ndcg_at_k(hits, n_pos, 3).item() == pytest.approx(0.7653606, abs=1e-6)


def test_compute_metrics_means_by_hand():
    m = compute_metrics(HITS, N_POS, ks=(1, 2, 5))
    expected = {
        "hit@1": 1 / 3, "mrr@1": 1 / 3, "ndcg@1": 1 / 3, "recall@1": 1 / 3,       # only u1 hits at rank 1
        "hit@2": 2 / 3,                                                          # u0, u1
        "mrr@2": (1 / 2 + 1) / 3,                                                # 0.5
        "ndcg@2": (0.3868528 + 1) / 3,                                           # 0.462284
        "recall@2": (1 / 2 + 1 + 0) / 3,                                         # 0.5
        "hit@5": 2 / 3, "mrr@5": 0.5,
        "ndcg@5": (0.6240505 + 1) / 3,                                           # 0.541350
        "recall@5": (1 + 1 + 0) / 3,
    }
    assert set(m) == set(expected)
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-6), key
    # The hand numbers are consistent with the closed forms.
    assert m["ndcg@2"] == pytest.approx((1 / log2(3) / (1 + 1 / log2(3)) + 1) / 3)


def test_cutoff_and_positive_count_are_checked():
    with pytest.raises(ValueError, match="cut-off"):
        compute_metrics(HITS, N_POS, ks=(6,))
    with pytest.raises(ValueError, match="n_pos"):
        compute_metrics(HITS, torch.tensor([2, 0, 3]), ks=(1,))


def test_catalog_coverage_counts_distinct_items_ignoring_padding():
    top = torch.tensor([[0, 1], [1, 2], [-1, 3]])
    assert catalog_coverage(top, 10) == pytest.approx(4 / 10)      # {0, 1, 2, 3}
    assert catalog_coverage(top[:, :1], 10) == pytest.approx(2 / 10)  # {0, 1}; -1 is padding
