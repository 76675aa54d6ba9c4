"""RNS on a planted graph: the per-relation reward must tell an informative relation from a noise relation,
and filtering must then beat keeping every neighbour.

96 items in 4 genres (``has_genre``: the informative relation, genre = item % 4) and 4 noise values assigned
at random (``has_noise``); 80 users in 4 groups, each rating 8 items, ~90% from its group's genre (6 train,
1 valid, 1 test), drawn with a long tail: the r-th item of a genre with weight 1 / r. Built directly as a
GraphArtifact (as test_ramgnn's user-attribute case does): the synth stage of conftest.py cannot plant a
relation's informativeness. Each pretraining run takes ~1.5 s (12 runs).

Why this graph is the fair test of the claim "RAM-GNN with RNS beats it without" and the previous one was not.
The previous graph (48 items, 40 users, uniform popularity: every item had ~5 train raters) left nothing for
neighbours to add: ranking the user's genre first, at random within it, has expected val NDCG@10 0.487, both
models' best val NDCG@10 was above it (0.518 with RNS, 0.532 without: best-of-30 epochs on 40 users), and
removing the noise relation from the graph altogether, which is what a perfect filter does, gave 0.522:
no filter could beat keeping the noise there, and the gap measured only selection noise. Attribute neighbours
matter for items with little interaction data, so RNS can only pay off on a graph with a long tail; here the
graph without the noise relation does beat the graph with it (``clean`` below: 0.368 vs 0.341), and the test
asserts that headroom before asking RNS to take it. This is the first long-tail variant tried, and the old
code also beat no-RNS on it (0.328 vs 0.312, on 2 of 4 seeds). Known limit: a uniformly sparse variant (160
users × 4 ratings, 96 items) has headroom too (0.175 without the noise relation vs 0.142 with it) but RNS does
not take it (0.13 before and after the fixes): with ~2 raters per item the embeddings barely separate the
genres, so the reward has no signal to tell the relations apart (genre z ≈ 1).
"""
import numpy as np
import pandas as pd
import pytest

import hetrec  # noqa: F401  (before dgl)
import dgl
from hetrec.graph.artifact import GraphArtifact
from hetrec.pretrain import ramgnn
from hetrec.pretrain.config import PretrainConfig

SEEDS = (0, 1, 2, 3)
EPOCHS = 30


def _planted(seed: int, n_users=80, n_items=96, groups=4, per_user=8, noise_values=4, p_in=0.9, pop=1.0,
             noise=True) -> GraphArtifact:
    rng = np.random.default_rng(seed)
    items = np.arange(n_items)
    genre = items % groups
    noise_of = rng.integers(noise_values, size=n_items)  # pure noise: independent of genre and of users
    weight = (1.0 + items // groups) ** -pop  # long tail: the r-th item of a genre is drawn ∝ 1 / r
    pairs = []
    for u in range(n_users):
        own, other = items[genre == u % groups], items[genre != u % groups]
        n_in = rng.binomial(per_user, p_in)
        chosen = np.concatenate([rng.choice(own, n_in, replace=False, p=weight[own] / weight[own].sum()),
                                 rng.choice(other, per_user - n_in, replace=False,
                                            p=weight[other] / weight[other].sum())])
        rng.shuffle(chosen)
        pairs += [(u, i) for i in chosen]
    u, i = map(np.array, zip(*pairs))
    split = np.array((["train"] * (per_user - 2) + ["valid", "test"]) * n_users)
    tr = split == "train"
    edges = {("user", "rates", "item"): (u[tr], i[tr]), ("item", "rated_by", "user"): (i[tr], u[tr]),
             ("item", "has_genre", "genre"): (items, genre), ("genre", "genre_of", "item"): (genre, items)}
    nodes = {"user": n_users, "item": n_items, "genre": groups}
    if noise:  # noise=False: the same graph without the noise relation (what a perfect filter would leave)
        edges |= {("item", "has_noise", "noise"): (items, noise_of), ("noise", "noise_of", "item"): (noise_of, items)}
        nodes["noise"] = noise_values
    g = dgl.heterograph(edges, num_nodes_dict=nodes)
    splits = pd.DataFrame({"user": u, "item": i, "rating": np.ones(len(u), np.float32), "split": split})
    return GraphArtifact(path=None, graph=g, manifest={}, item_type="item", splits=splits, id_maps={},
                         items=pd.DataFrame({"node_id": items}), fingerprint=f"planted-{seed}")


@pytest.fixture(scope="module")
def runs():
    """Per seed: (final thresholds, best val NDCG@10 with RNS, without (rns=False), without RNS on the graph
    without the noise relation)."""
    out = {}
    for seed in SEEDS:
        art = _planted(seed)
        base = dict(method="ramgnn", dim=16, epochs=EPOCHS, batch_size=64, lr=0.01, patience=EPOCHS, neighbors=4,
                    seed=seed)
        with_rns = ramgnn.pretrain(art, PretrainConfig(**base, rns=True), "cpu")
        without = ramgnn.pretrain(art, PretrainConfig(**base, rns=False), "cpu")
        clean = ramgnn.pretrain(_planted(seed, noise=False), PretrainConfig(**base, rns=False), "cpu")
        final = {r["relation"]: r["threshold"] for r in with_rns.extra_files["thresholds.csv"]}
        out[seed] = (final, with_rns.best["val_ndcg@10"], without.best["val_ndcg@10"], clean.best["val_ndcg@10"])
    return out


def test_noise_relation_keeps_fewer_neighbours_than_informative(runs):
    """Final thresholds (keep fractions), per seed genre / noise: 1.00/0.16, 1.00/0.02, 1.00/0.20, 0.92/0.02
    (mean 0.98 > 0.10): every seed's noise threshold ends below 0.375, where a relation keeps at most 1 of its
    4 draws per item (round(t · 4) ≤ 1), and two end at ε, where it keeps none. Seeds 4-7 (not run here):
    0.96/0.08, 0.96/0.44, 0.96/0.16, 1.00/0.20, so "below 0.375" is asserted on 3 of 4 seeds, not all.

    Before the reward asked for significance (z > 1) and the similarity loss was detached from the embeddings
    (hetrec/pretrain/rns.py says why), the noise relation's reward was a coin flip biased towards it and its
    threshold froze near its start: 0.92/0.92, 0.92/0.50, 0.96/0.76, 0.50/0.46 on this graph (mean 0.85 vs
    0.66); on the previous uniform 48-item graph 1.00/0.72, 0.96/0.50, 1.00/0.52, 0.44/0.46. Under the older
    reward ("kept distance fell since last epoch") both thresholds moved in lockstep with the global embedding
    drift (seed 0: 0.28 / 0.24, seed 1: 0.24 / 0.28 after 20 epochs).
    """
    genre = [runs[s][0]["has_genre"] for s in SEEDS]
    noise = [runs[s][0]["has_noise"] for s in SEEDS]
    assert np.mean(genre) > np.mean(noise) + 0.15, (genre, noise)
    assert sum(g > n for g, n in zip(genre, noise)) >= 3, (genre, noise)
    assert sum(n < 0.375 for n in noise) >= 3, noise  # the noise relation keeps at most 1 of 4 draws


def test_noise_relation_hurts_without_filtering(runs):
    """The headroom RNS is asked to take: without RNS, the graph without the noise relation (what a perfect
    filter leaves) beats the graph with it; mean best val NDCG@10 0.368 vs 0.341 (per seed clean / noisy
    0.370/0.263, 0.368/0.379, 0.387/0.379, 0.349/0.343). On the previous uniform graph it did not (0.522 vs
    0.532), which is why no RNS could beat no-RNS there."""
    clean = np.mean([runs[s][3] for s in SEEDS])
    noisy = np.mean([runs[s][2] for s in SEEDS])
    assert clean > noisy, (clean, noisy)


def test_rns_beats_no_rns_on_mean_validation_ndcg(runs):
    """Mean over 4 seeds (a single small graph is too noisy): RAM-GNN with RNS > RAM-GNN with rns=False.

    Mean best val NDCG@10 0.360 with RNS vs 0.341 without (per seed 0.285/0.263, 0.407/0.379, 0.381/0.379,
    0.367/0.343: RNS ahead on every seed; seeds 4-7, not run here: 0.357 vs 0.343, ahead on 3), closing ~70% of
    the gap to the graph without the noise relation (0.368). Before the reward and similarity-loss fixes:
    0.328 vs 0.312 (ahead on 2 of 4 seeds; clean 0.355).
    """
    with_rns = np.mean([runs[s][1] for s in SEEDS])
    without = np.mean([runs[s][2] for s in SEEDS])
    assert with_rns > without, (with_rns, without)
    assert sum(runs[s][1] > runs[s][2] for s in SEEDS) >= 3, [(runs[s][1], runs[s][2]) for s in SEEDS]
