"""BPR sampling against brute force: Python sets of each user's train items."""
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.errors import HetrecError
from hetrec.sampler.bpr import InteractionIndex, _exact_negatives, bpr_batches, sample_negatives

NUM_USERS, NUM_ITEMS = 12, 15
DENSE_USER, FREE_ITEM = 0, 7  # user 0 has every item except item 7


def _train():
    g = torch.Generator().manual_seed(3)
    users = torch.randint(1, NUM_USERS, (90,), generator=g)
    items = torch.randint(0, NUM_ITEMS, (90,), generator=g)
    dense = torch.tensor([i for i in range(NUM_ITEMS) if i != FREE_ITEM])
    users = torch.cat([users, torch.full_like(dense, DENSE_USER), users[:10]])  # the last 10 pairs are duplicates
    items = torch.cat([items, dense, items[:10]])
    return users, items


def _sets(users, items):
    sets = {u: set() for u in range(NUM_USERS)}
    for u, i in zip(users.tolist(), items.tolist()):
        sets[u].add(i)
    return sets


@pytest.fixture
def train():
    users, items = _train()
    return InteractionIndex(users, items, NUM_USERS, NUM_ITEMS), _sets(users, items)


def test_index_matches_python_sets(train):
    index, sets = train
    assert index.nnz == sum(len(s) for s in sets.values())  # duplicates collapsed
    for u in range(NUM_USERS):
        assert index.col[index.crow[u]:index.crow[u + 1]].tolist() == sorted(sets[u])
    uu, ii = torch.meshgrid(torch.arange(NUM_USERS), torch.arange(NUM_ITEMS), indexing="ij")
    got = index.contains(uu.reshape(-1), ii.reshape(-1)).tolist()
    want = [i in sets[u] for u, i in zip(uu.reshape(-1).tolist(), ii.reshape(-1).tolist())]
    assert got == want
    pos, items = index.rows_of(torch.tensor([3, 0, 3]))
    for p, user in enumerate([3, 0, 3]):
        assert items[pos == p].tolist() == sorted(sets[user])


def test_from_csr_and_to_device_roundtrip(train):
    index, _ = train
    shuffled = index.col.clone()
    for u in range(NUM_USERS):  # unsorted columns within rows are accepted
        a, b = index.crow[u], index.crow[u + 1]
        shuffled[a:b] = shuffled[a:b].flip(0)
    other = InteractionIndex.from_csr(index.crow, shuffled, NUM_ITEMS)
    assert torch.equal(other.keys, index.keys) and torch.equal(other.crow, index.crow)
    assert index.to("cpu") is index


def test_negatives_are_never_train_items(train):
    index, sets = train
    users = torch.arange(NUM_USERS).repeat(200)
    for max_tries in (10, 0):  # rejection path and exact fallback path
        neg = sample_negatives(index, users, torch.Generator().manual_seed(1), max_tries=max_tries)
        assert all(i not in sets[u] for u, i in zip(users.tolist(), neg.tolist()))
        assert int(neg.min()) >= 0 and int(neg.max()) < NUM_ITEMS


@pytest.mark.parametrize("how", ["rejection", "exact"])
def test_negatives_are_uniform_over_allowed_items(train, how):
    index, sets = train
    user = max(range(1, NUM_USERS), key=lambda u: len(sets[u]))  # most rejections among the random users
    allowed = sorted(set(range(NUM_ITEMS)) - sets[user])
    n = 30_000
    users = torch.full((n,), user)
    g = torch.Generator().manual_seed(7)
    neg = sample_negatives(index, users, g) if how == "rejection" else _exact_negatives(index, users, g)
    counts = torch.bincount(neg, minlength=NUM_ITEMS).double()
    assert counts[allowed].min() > 0 and counts.sum() == counts[allowed].sum()  # every allowed item, nothing else
    expected = n / len(allowed)
    chi2 = float(((counts[allowed] - expected) ** 2 / expected).sum())
    # df = len(allowed) - 1 <= 14; P(chi2 > 60) < 1e-6 for df = 14, so this only trips on real bias.
    assert chi2 < 60, chi2


def test_user_with_all_items_but_one_always_gets_it(train):
    index, _ = train
    users = torch.full((500,), DENSE_USER)
    for max_tries in (10, 0, 1):
        neg = sample_negatives(index, users, torch.Generator().manual_seed(0), max_tries=max_tries)
        assert neg.unique().tolist() == [FREE_ITEM]


def test_user_with_every_item_raises():
    users = torch.zeros(NUM_ITEMS, dtype=torch.long)
    index = InteractionIndex(users, torch.arange(NUM_ITEMS), 2, NUM_ITEMS)
    with pytest.raises(HetrecError, match="user 0 has interacted with all 15 items"):
        sample_negatives(index, torch.tensor([1, 0]))


def test_same_seed_same_samples(train):
    index, _ = train
    users = torch.arange(NUM_USERS).repeat(50)
    a = sample_negatives(index, users, torch.Generator().manual_seed(11))
    b = sample_negatives(index, users, torch.Generator().manual_seed(11))
    c = sample_negatives(index, users, torch.Generator().manual_seed(12))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_epoch_covers_each_interaction_exactly_once(train):
    index, sets = train
    batches = list(bpr_batches(index, 16, torch.Generator().manual_seed(5)))
    assert [len(b[0]) for b in batches] == [16] * (index.nnz // 16) + ([index.nnz % 16] if index.nnz % 16 else [])
    users = torch.cat([b[0] for b in batches])
    pos = torch.cat([b[1] for b in batches])
    neg = torch.cat([b[2] for b in batches])
    pairs = sorted(zip(users.tolist(), pos.tolist()))
    assert pairs == sorted((u, i) for u, s in sets.items() for i in s)  # each distinct pair exactly once
    assert all(i not in sets[u] for u, i in zip(users.tolist(), neg.tolist()))
    assert users.tolist() != sorted(users.tolist())  # shuffled, not in key order
    again = list(bpr_batches(index, 16, torch.Generator().manual_seed(5)))
    assert all(torch.equal(x, y) for b, c in zip(batches, again) for x, y in zip(b, c))


def test_bad_ids_are_rejected():
    with pytest.raises(ValueError, match="item ids"):
        InteractionIndex(torch.tensor([0]), torch.tensor([NUM_ITEMS]), NUM_USERS, NUM_ITEMS)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_agrees_with_cpu(train):
    index, sets = train
    cuda = index.to("cuda")
    users = torch.arange(NUM_USERS).repeat(100)
    neg = sample_negatives(cuda, users, torch.Generator("cuda").manual_seed(0)).cpu()
    assert all(i not in sets[u] for u, i in zip(users.tolist(), neg.tolist()))
    assert torch.equal(cuda.contains(users, neg).cpu(), index.contains(users, neg))
