"""A tiny two-community interaction graph built in memory with the graph builder.

Users 0..19 rate only items 0..29 and users 20..39 only items 30..59, so a model that learns
anything ranks a user's own community first; each user's last two ratings are valid and test.
"""
import numpy as np
import pandas as pd
import pytest

import hetrec  # noqa: F401  (DGL shim)
from hetrec.data.dataset import Dataset
from hetrec.data.split import SplitConfig, split_interactions
from hetrec.graph.build import build_graph

N_USERS, N_ITEMS, PER_USER = 40, 60, 12


def community_interactions(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(N_USERS):
        half = N_ITEMS // 2 * (u >= N_USERS // 2)
        items = rng.choice(N_ITEMS // 2, PER_USER, replace=False) + half
        rows += [(u, int(i), 5.0, t) for t, i in enumerate(items)]
    u, i, r, t = zip(*rows)
    return pd.DataFrame({"user_id": np.array(u, np.int64), "item_id": np.array(i, np.int64),
                         "rating": np.array(r, np.float32), "order": np.array(t, np.int64)})


@pytest.fixture(scope="session")
def tiny_built():
    inter = community_interactions()
    ds = Dataset(name="communities", item_type="item", interactions=inter,
                 items=pd.DataFrame({"item_id": np.arange(N_ITEMS, dtype=np.int64),
                                     "title": [f"item {i}" for i in range(N_ITEMS)]}),
                 users=pd.DataFrame({"user_id": np.arange(N_USERS, dtype=np.int64)}))
    return build_graph(ds, split_interactions(inter, SplitConfig()))
