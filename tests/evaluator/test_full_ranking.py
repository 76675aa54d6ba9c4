"""Full and sampled ranking: hand-computed tiny cases, ties, masks, several targets, chunking, brute force."""
from math import log2

import pytest
import torch

import hetrec  # noqa: F401
from hetrec.errors import HetrecError
from hetrec.evaluator.rank import evaluate, evaluate_sampled, full_ranking_topk
from hetrec.sampler.bpr import InteractionIndex


def table_scorer(table):
    """A callable scorer reading a fixed [num_users, num_items] score table."""
    table = torch.as_tensor(table, dtype=torch.float64)
    return lambda users: table[users]


def index_of(pairs, num_users, num_items):
    u = torch.tensor([p[0] for p in pairs], dtype=torch.long)
    i = torch.tensor([p[1] for p in pairs], dtype=torch.long)
    return InteractionIndex(u, i, num_users, num_items)


# Main hand case: 6 items, users 0, 2, 3 each with one target (leave-one-out).
SCORES = [
    [0.9, 0.5, 0.5, 0.1, 0.7, 0.5],  # u0: target 2 (0.5); item 0 excluded
    [0.0] * 6,                       # u1: not evaluated
    [0.1, 0.8, 0.3, 0.2, 0.0, 0.4],  # u2: target 1, but item 1 is excluded -> miss
    [0.3, 0.1, 0.9, 0.2, 0.8, 0.0],  # u3: target 4 (0.8); item 2 excluded
]
EXCLUDE = [(0, 0), (2, 1), (3, 2)]
TARGET = (torch.tensor([0, 2, 3]), torch.tensor([2, 1, 4]))


def test_hand_case_ties_mask_and_cutoffs():
    # u0: allowed items 1..5; strictly greater than 0.5: item 4 (item 0 is masked) -> 1; equal others: items 1, 5 -> 2;
    #     pessimistic rank = 1 + 2 + 1 = 4.
    # u2: target masked -> miss.   u3: item 2 (0.9) masked, nothing else above 0.8 -> rank 1.
    m = evaluate(table_scorer(SCORES), TARGET, index_of(EXCLUDE, 4, 6), num_items=6, ks=(1, 3, 5))
    expected = {
        "hit@1": 1 / 3, "mrr@1": 1 / 3, "ndcg@1": 1 / 3, "recall@1": 1 / 3,   # only u3
        "hit@3": 1 / 3, "mrr@3": 1 / 3, "ndcg@3": 1 / 3, "recall@3": 1 / 3,   # u0 at rank 4 is still out
        "hit@5": 2 / 3, "recall@5": 2 / 3,
        "mrr@5": (1 / 4 + 0 + 1) / 3,                                        # 0.416667
        "ndcg@5": (1 / log2(5) + 0 + 1) / 3,                                 # (0.430677 + 1) / 3 = 0.476892
        # top-1 lists: u0 -> 4, u2 -> 5 (0.4, item 1 masked), u3 -> 4  => {4, 5}
        "coverage@1": 2 / 6,
        # top-5 lists hold all 5 allowed items of each user: u0 {1..5}, u2 {0,2,3,4,5}, u3 {0,1,3,4,5} => all 6
        "coverage@5": 1.0,
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-6), key
    assert m["ndcg@5"] == pytest.approx(0.4768922, abs=1e-6)
    assert m["n_users"] == 3 and m["n_targets"] == 3 and m["protocol"] == "full"


def test_masked_target_is_a_miss_even_at_the_longest_cutoff():
    # 4 items, items 0 and 1 excluded, target 1: its score is masked, but at k = 4 every item "fits" in the list,
    # so only the explicit rule keeps it from counting as a hit at rank 4.
    m = evaluate(table_scorer([[0.4, 0.9, 0.2, 0.1]]), (torch.tensor([0]), torch.tensor([1])),
                 index_of([(0, 0), (0, 1)], 1, 4), num_items=4, ks=(4,))
    assert (m["hit@4"], m["mrr@4"], m["ndcg@4"], m["recall@4"]) == (0.0, 0.0, 0.0, 0.0)


def test_exclude_as_csr_tuple_equals_index():
    idx = index_of(EXCLUDE, 4, 6)
    a = evaluate(table_scorer(SCORES), TARGET, idx, num_items=6, ks=(1, 3, 5))
    b = evaluate(table_scorer(SCORES), TARGET, (idx.crow, idx.col), num_items=6, ks=(1, 3, 5))
    assert a == b


def test_ties_are_pessimistic_whatever_the_item_order():
    # Constant scores: the target ranks after every other allowed item. 6 items, 2 excluded -> rank 4.
    const = table_scorer([[0.3] * 6])
    excl = index_of([(0, 0), (0, 5)], 1, 6)
    m = evaluate(const, (torch.tensor([0]), torch.tensor([2])), excl, num_items=6, ks=(3, 4))
    assert (m["hit@3"], m["hit@4"], m["mrr@4"]) == (0.0, 1.0, 0.25)
    # Target tied for first with one other item: rank 2, never 1, whether the target's id is lower or higher.
    top_tie = table_scorer([[1.0, 1.0, 0.0, 0.0]])
    for target_item in (0, 1):
        m = evaluate(top_tie, (torch.tensor([0]), torch.tensor([target_item])), None, num_items=4, ks=(1, 2))
        assert (m["hit@1"], m["hit@2"], m["mrr@2"]) == (0.0, 1.0, 0.5)
        assert m["ndcg@2"] == pytest.approx(1 / log2(3))


def test_several_targets_per_user_recall_and_target_ties():
    scores = [
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2],  # u0: targets {1, 3, 6}, item 0 excluded -> ranks 1, 3, 6
        [0.5, 0.5, 0.5, 0.1, 0.9, 0.0, 0.0, 0.0],  # u1: targets {0, 2}, tied with each other and with item 1
    ]
    # u1: greater than 0.5: item 4 -> 1; equal non-target: item 1 -> 1; tied targets in id order:
    #     target 0 -> 1 + 1 + 0 + 1 = 3, target 2 -> 1 + 1 + 1 + 1 = 4.
    target = (torch.tensor([0, 0, 0, 1, 1, 0]), torch.tensor([1, 3, 6, 0, 2, 1]))  # (0, 1) twice: deduplicated
    m = evaluate(table_scorer(scores), target, index_of([(0, 0)], 2, 8), num_items=8, ks=(1, 3, 5))
    idcg2 = 1 + 1 / log2(3)                 # 1.630930
    idcg3 = 1 + 1 / log2(3) + 1 / log2(4)   # 2.130930
    u0_ndcg3 = (1 + 1 / log2(4)) / idcg3    # hits at ranks 1, 3 -> 1.5 / 2.130930 = 0.703918
    u1_ndcg3 = (1 / log2(4)) / idcg2        # hit at rank 3      -> 0.5 / 1.630930 = 0.306574
    u1_ndcg5 = (1 / log2(4) + 1 / log2(5)) / idcg2  # ranks 3, 4 -> 0.930677 / 1.630930 = 0.570642
    expected = {
        "hit@1": 0.5, "hit@3": 1.0, "hit@5": 1.0,
        "mrr@1": 0.5, "mrr@3": (1 + 1 / 3) / 2, "mrr@5": (1 + 1 / 3) / 2,
        "recall@1": (1 / 3 + 0) / 2,        # 0.166667
        "recall@3": (2 / 3 + 1 / 2) / 2,    # 0.583333
        "recall@5": (2 / 3 + 2 / 2) / 2,    # 0.833333 (u0's third target is at rank 6)
        "ndcg@1": (1 + 0) / 2,
        "ndcg@3": (u0_ndcg3 + u1_ndcg3) / 2,  # 0.505246
        "ndcg@5": (u0_ndcg3 + u1_ndcg5) / 2,  # 0.637280 (u0 gains nothing between 3 and 5)
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value, abs=1e-6), key
    assert m["ndcg@5"] == pytest.approx(0.6372799, abs=1e-6)
    assert m["n_users"] == 2 and m["n_targets"] == 5


def test_sparse_subset_restricts_to_sparse_targets():
    sparse = torch.zeros(6, dtype=torch.bool)
    sparse[[1, 2]] = True  # targets of u0 (item 2, rank 4) and u2 (item 1, masked) are sparse; u3's item 4 is not
    m = evaluate(table_scorer(SCORES), TARGET, index_of(EXCLUDE, 4, 6), num_items=6, ks=(1, 5),
                 sparse_items=sparse)
    assert m["n_sparse"] == 2 and m["n_users"] == 3
    assert m["sparse/hit@1"] == 0.0
    assert m["sparse/hit@5"] == pytest.approx(1 / 2)
    assert m["sparse/mrr@5"] == pytest.approx((1 / 4) / 2)
    assert m["sparse/ndcg@5"] == pytest.approx((1 / log2(5)) / 2)
    assert m["hit@5"] == pytest.approx(2 / 3)  # the overall figures are unchanged


def _random_case(seed, num_users=37, num_items=23, integer_scores=False):
    g = torch.Generator().manual_seed(seed)
    if integer_scores:  # small integer scores: many ties
        table = torch.randint(0, 4, (num_users, num_items), generator=g).double()
    else:
        table = torch.randn(num_users, num_items, generator=g, dtype=torch.float64)
    ex_u = torch.randint(0, num_users, (200,), generator=g)
    ex_i = torch.randint(0, num_items, (200,), generator=g)
    t_u = torch.cat([torch.arange(num_users), torch.randint(0, num_users, (40,), generator=g)])
    t_i = torch.randint(0, num_items, (t_u.numel(),), generator=g)
    return table, InteractionIndex(ex_u, ex_i, num_users, num_items), (t_u, t_i)


def _brute_force_hits(table, index, target, kmax):
    """Per-user pessimistic ranks by explicit Python sorting: key (-score, is_target, item id)."""
    excl = set(zip(index.row.tolist(), index.col.tolist()))
    targets = {}
    for u, i in zip(*(t.tolist() for t in target)):
        targets.setdefault(u, set()).add(i)
    users = sorted(targets)
    hits = torch.zeros(len(users), kmax, dtype=torch.bool)
    for r, u in enumerate(users):
        allowed = [i for i in range(table.shape[1]) if (u, i) not in excl]
        order = sorted(allowed, key=lambda i: (-float(table[u, i]), i in targets[u], i))
        for pos, i in enumerate(order[:kmax]):
            hits[r, pos] = i in targets[u]
    return hits, torch.tensor([len(targets[u]) for u in users])


@pytest.mark.parametrize("ks", [(1, 5, 10), (3, 20)])  # top-L shortcut (L < 23 items) and complete ranking
@pytest.mark.parametrize("integer_scores", [False, True])
def test_matches_brute_force_and_chunking_changes_nothing(integer_scores, ks):
    from hetrec.evaluator.metrics import compute_metrics

    table, index, target = _random_case(1, integer_scores=integer_scores)
    full = evaluate(table_scorer(table), target, index, num_items=23, ks=ks)
    for chunk in (1, 4, 7):
        assert evaluate(table_scorer(table), target, index, num_items=23, ks=ks, chunk_size=chunk) == full
    hits, n_pos = _brute_force_hits(table, index, target, max(ks))
    want = compute_metrics(hits, n_pos, ks)
    for key, value in want.items():
        assert full[key] == pytest.approx(value, abs=1e-12), key


def test_embedding_pair_equals_callable_and_topk_matches_sorting():
    g = torch.Generator().manual_seed(2)
    ue, ie = torch.randn(30, 8, generator=g), torch.randn(19, 8, generator=g)
    _, index, target = _random_case(2, num_users=30, num_items=19)
    a = evaluate((ue, ie), target, index, num_items=19, ks=(5,))
    b = evaluate(lambda u: ue[u] @ ie.T, target, index, num_items=19, ks=(5,))
    assert a == b
    users = torch.arange(30)
    top = full_ranking_topk((ue, ie), users, index, 7)
    assert torch.equal(top, full_ranking_topk((ue, ie), users, index, 7, chunk_size=4))
    excl = set(zip(index.row.tolist(), index.col.tolist()))
    scores = ue @ ie.T
    for u in range(30):
        allowed = [i for i in range(19) if (u, i) not in excl]
        want = sorted(allowed, key=lambda i: -float(scores[u, i]))[:7]
        assert top[u].tolist() == want + [-1] * (7 - len(want))


def test_topk_pads_users_with_few_allowed_items():
    excl = index_of([(0, 0), (0, 1), (0, 2)], 1, 4)
    top = full_ranking_topk(table_scorer([[0.4, 0.3, 0.2, 0.1]]), torch.tensor([0]), excl, 3, num_items=4)
    assert top.tolist() == [[3, -1, -1]]  # only item 3 is allowed; masked items never appear


def test_popularity_scorer_view_is_not_modified():
    pop = torch.tensor([5.0, 9.0, 1.0, 7.0])
    m = evaluate(lambda u: pop.expand(u.numel(), -1), (torch.tensor([0, 1]), torch.tensor([3, 1])),
                 index_of([(0, 1)], 2, 4), num_items=4, ks=(1, 2))
    # u0: item 1 masked, item 3 (7.0) is top -> rank 1; u1: item 1 (9.0) is top -> rank 1.
    assert m["hit@1"] == 1.0 and m["coverage@1"] == pytest.approx(2 / 4)
    assert pop.tolist() == [5.0, 9.0, 1.0, 7.0]


def test_nan_scores_and_bad_shapes_are_errors():
    with pytest.raises(HetrecError, match="NaN"):
        evaluate(table_scorer([[0.1, float("nan")]]), (torch.tensor([0]), torch.tensor([0])), None, num_items=2, ks=(1,))
    with pytest.raises(ValueError, match="shape"):
        evaluate(table_scorer([[0.1, 0.2]]), (torch.tensor([0]), torch.tensor([0])), None, num_items=3, ks=(1,))
    with pytest.raises(ValueError, match="cut-offs"):
        evaluate(table_scorer([[0.1, 0.2]]), (torch.tensor([0]), torch.tensor([0])), None, num_items=2, ks=(3,))


def test_sampled_negatives_avoid_excluded_items_and_targets():
    num_users, num_items = 20, 50
    _, index, _ = _random_case(4, num_users=num_users, num_items=num_items)
    t_u = torch.cat([torch.arange(num_users), torch.arange(num_users)])
    t_i = torch.cat([torch.arange(num_users) + 20, torch.arange(num_users) + 21])  # two targets per user
    keep = ~index.contains(t_u, t_i)
    target = (t_u[keep], t_i[keep])
    # Excluded items score 10, each user's second target (item u + 21) 10, the first (item u + 20) 5, all else 0:
    # a negative drawn from the excluded items, or the second target drawn against the first, would beat or tie
    # (a pessimistic miss) the target it is drawn for.
    table = torch.zeros(num_users, num_items, dtype=torch.float64)
    table[index.row, index.col] = 10.0
    first = target[1] == target[0] + 20
    table[target[0][first], target[1][first]] = 5.0
    table[target[0][~first], target[1][~first]] = 10.0
    m = evaluate_sampled(table_scorer(table), target, index, num_items=num_items, num_negatives=99, ks=(1, 10),
                         generator=torch.Generator().manual_seed(0))
    assert m["hit@1"] == 1.0 and m["mrr@10"] == 1.0 and m["protocol"] == "sampled-99"
    assert m["n_targets"] == int(keep.sum()) and "coverage@1" not in m


def test_sampled_ties_masks_and_seeds():
    # Constant scores: the target ties with all N negatives -> rank N + 1 (pessimistic).
    const = table_scorer(torch.full((3, 30), 0.5))
    target = (torch.tensor([0, 1, 2]), torch.tensor([4, 5, 6]))
    m = evaluate_sampled(const, target, None, num_items=30, num_negatives=9, ks=(9, 10),
                         generator=torch.Generator().manual_seed(0))
    assert (m["hit@9"], m["hit@10"], m["mrr@10"]) == (0.0, 1.0, pytest.approx(0.1))
    # A masked target is a miss even when it scores highest: u0's target 4 is excluded.
    top = torch.zeros(3, 30)
    top[[0, 1, 2], [4, 5, 6]] = 1.0
    m = evaluate_sampled(table_scorer(top), target, index_of([(0, 4)], 3, 30), num_items=30, num_negatives=9,
                         ks=(1,), generator=torch.Generator().manual_seed(0))
    assert m["hit@1"] == pytest.approx(2 / 3)
    # Same generator seed -> same figures; the random negatives matter for random scores.
    g = torch.Generator().manual_seed(9)
    rnd = table_scorer(torch.randn(3, 30, generator=g))
    runs = [evaluate_sampled(rnd, target, None, num_items=30, num_negatives=5, ks=(1, 3),
                             generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2, 3, 4)]
    assert runs[0] == runs[1]
    assert any(r != runs[0] for r in runs[2:])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g = torch.Generator().manual_seed(5)
    ue, ie = torch.randn(300, 16, generator=g), torch.randn(120, 16, generator=g)
    _, index, target = _random_case(5, num_users=300, num_items=120)
    cpu = evaluate((ue, ie), target, index, num_items=120, ks=(5, 20))
    gpu = evaluate((ue.cuda(), ie.cuda()), target, index.to("cuda"), num_items=120, ks=(5, 20), chunk_size=64)
    for key in cpu:
        assert gpu[key] == pytest.approx(cpu[key], abs=1e-6), key


def test_candidates_restrict_items_and_targets_by_hand():
    # Candidates = items {2, 3, 5}. u0's target 2 (0.5): among allowed candidates {2, 3, 5} only item 5 ties -> rank 2.
    # u2's target 1 is not a candidate: u2 is dropped. u3's target 4 is not a candidate: dropped.
    cand = torch.tensor([False, False, True, True, False, True])
    m = evaluate(table_scorer(SCORES), TARGET, index_of(EXCLUDE, 4, 6), num_items=6, ks=(1, 2), candidates=cand)
    assert m["n_users"] == 1 and m["n_targets"] == 1
    assert m["hit@1"] == 0.0 and m["hit@2"] == 1.0
    assert m["ndcg@2"] == pytest.approx(1 / log2(3))


def test_unscorable_items_never_count_as_found_and_never_fill_lists():
    # u3's target 4 scores 0.8 (rank 1) but the model has no score for item 4: a miss, not a lucky hit.
    unscorable = torch.tensor([False, False, False, False, True, False])
    m = evaluate(table_scorer(SCORES), TARGET, index_of(EXCLUDE, 4, 6), num_items=6, ks=(1, 5), unscorable=unscorable)
    assert m["hit@5"] == pytest.approx(1 / 3)  # only u0 (rank 4) remains a hit
    top = full_ranking_topk(table_scorer(SCORES), torch.tensor([3]), index_of(EXCLUDE, 4, 6), 5, num_items=6)
    assert 4 in top[0].tolist()  # without the mask item 4 is recommended ...
    m_cold = evaluate(lambda u: torch.zeros(len(u), 6), TARGET, None, num_items=6, ks=(1,),
                      unscorable=torch.ones(6, dtype=torch.bool))
    assert m_cold["coverage@1"] == 0.0  # ... with every item unscorable, no list holds anything


def test_sparse_user_slice_and_standard_error():
    # users 0 and 3 are sparse; u0 hits at rank 4 (ndcg@5 = 1/log2(5)), u3 at rank 1 (ndcg = 1).
    sparse_users = torch.tensor([True, False, False, True])
    m = evaluate(table_scorer(SCORES), TARGET, index_of(EXCLUDE, 4, 6), num_items=6, ks=(5,),
                 sparse_users=sparse_users)
    assert m["n_sparse_users"] == 2
    assert m["sparse_user/ndcg@5"] == pytest.approx((1 / log2(5) + 1) / 2)
    per_user = torch.tensor([1 / log2(5), 0.0, 1.0], dtype=torch.float64)
    assert m["se/ndcg@5"] == pytest.approx(float(per_user.std() / 3 ** 0.5))
    none = evaluate(table_scorer(SCORES), TARGET, index_of(EXCLUDE, 4, 6), num_items=6, ks=(5,),
                    sparse_users=torch.zeros(4, dtype=torch.bool))
    assert none["n_sparse_users"] == 0 and "sparse_user/ndcg@5" not in none


def test_sampled_protocol_never_credits_an_unscorable_target():
    # u3's target 4 outscores every allowed item, so it is a hit among any sampled negatives -- unless unscorable
    unscorable = torch.tensor([False, False, False, False, True, False])
    args = (table_scorer(SCORES), TARGET, index_of(EXCLUDE, 4, 6))
    plain = evaluate_sampled(*args, num_items=6, num_negatives=2, ks=(1, 3),
                             generator=torch.Generator().manual_seed(0))
    masked = evaluate_sampled(*args, num_items=6, num_negatives=2, ks=(1, 3),
                              generator=torch.Generator().manual_seed(0), unscorable=unscorable)
    assert plain["hit@1"] >= 1 / 3 and masked["hit@3"] == pytest.approx(plain["hit@3"] - 1 / 3)
