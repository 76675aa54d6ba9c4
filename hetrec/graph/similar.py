"""Item–item kNN on attribute profiles (e.g. tag counts): the optional ``similar`` relation.

Why: books that share few raters but many tags get a direct path, which helps cold items.
Cosine on the sparse item × value matrix, brute force in sklearn (chunked, so memory stays
bounded); the result is symmetrised and never pairs an item with itself.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors


def knn_pairs(item_idx: np.ndarray, value_idx: np.ndarray, weight: np.ndarray, *,
              num_items: int, num_values: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric kNN edges between items from their weighted profiles.

    Args:
        item_idx, value_idx, weight: one entry per (item node id, value node id, weight) [E].
        num_items, num_values: matrix shape.
        k: neighbours per item (before symmetrising); pairs with zero similarity are dropped.

    Returns:
        ``(src, dst, similarity)`` sorted by (src, dst), both directions present, no self pairs.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if k <= 0 or len(item_idx) == 0:
        return empty
    profiles = sp.csr_matrix((weight.astype(np.float64), (item_idx, value_idx)), shape=(num_items, num_values))
    profiles.sum_duplicates()
    rows = np.flatnonzero(profiles.getnnz(axis=1) > 0)  # items without a profile have no neighbours
    if len(rows) < 2:
        return empty
    sub = profiles[rows]
    n_query = min(k + 1, len(rows))
    nn = NearestNeighbors(n_neighbors=n_query, metric="cosine", algorithm="brute").fit(sub)
    dist, nbr = nn.kneighbors(sub)
    own = np.arange(len(rows))[:, None]
    not_self = nbr != own
    # keep the first k non-self neighbours per row (self may sit anywhere among ties)
    rank = np.cumsum(not_self, axis=1)
    keep = not_self & (rank <= k) & (dist < 1.0 - 1e-9)
    r, c = np.nonzero(keep)
    src, dst, sim = rows[r], rows[nbr[r, c]], (1.0 - dist[r, c])
    src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    sim = np.concatenate([sim, sim])
    key = src * num_items + dst
    key, first = np.unique(key, return_index=True)  # sorted by (src, dst); a pair found both ways once
    return (key // num_items).astype(np.int64), (key % num_items).astype(np.int64), sim[first].astype(np.float32)
