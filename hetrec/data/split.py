"""Split interactions into train / valid / test (the evaluation protocol of DESIGN.md).

Order of operations: implicit positives (``rating >= rating_threshold`` when set), then the
min-count filters (users, then items, applied once each, not iterated to a fixpoint), then
either leave-one-out by ``order`` — per user the last interaction is test, the
second-to-last valid, users with fewer than 3 stay all-train; ties in ``order`` keep file
(row) order because the sort is stable — or a seeded random holdout of each user's rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("loo", "random")


@dataclass(frozen=True)
class SplitConfig:
    rating_threshold: float | None = None  # keep ratings >= this as positives; None = every rating
    min_user: int = 0  # drop users with fewer interactions (after the threshold)
    min_item: int = 0  # drop items with fewer interactions (after the user filter)
    method: str = "loo"  # loo (by order) | random (for data without time)
    valid_frac: float = 0.1  # random: share of each user's rows in valid
    test_frac: float = 0.1  # random: share of each user's rows in test
    seed: int = 0  # random: RNG seed

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"split method {self.method!r}; use one of {METHODS}")
        if not (0 <= self.valid_frac and 0 <= self.test_frac and self.valid_frac + self.test_frac < 1):
            raise ValueError("valid_frac and test_frac must be >= 0 and sum to less than 1")


def split_interactions(interactions: pd.DataFrame, cfg: SplitConfig = SplitConfig()) -> pd.DataFrame:
    """Filter and split; returns the kept rows (original index, original row order) plus column ``split``."""
    df = interactions
    if cfg.rating_threshold is not None:
        df = df[df["rating"].to_numpy() >= cfg.rating_threshold]
    if cfg.min_user > 0:
        df = df[df.groupby("user_id")["user_id"].transform("size").to_numpy() >= cfg.min_user]
    if cfg.min_item > 0:
        df = df[df.groupby("item_id")["item_id"].transform("size").to_numpy() >= cfg.min_item]
    df = df.copy()
    split = np.full(len(df), "train", dtype=object)
    users = df["user_id"].to_numpy()
    if cfg.method == "loo":
        # stable sort by (user, order): ties in order keep their row order
        pos = np.lexsort((np.arange(len(df)), df["order"].to_numpy(), users))
        u_sorted = users[pos]
        size = pd.Series(u_sorted).groupby(u_sorted).transform("size").to_numpy()
        rank_from_end = pd.Series(u_sorted).groupby(u_sorted).cumcount(ascending=False).to_numpy()
        lab = np.full(len(df), "train", dtype=object)
        lab[(size >= 3) & (rank_from_end == 0)] = "test"
        lab[(size >= 3) & (rank_from_end == 1)] = "valid"
        split[pos] = lab
    else:
        rng = np.random.default_rng(cfg.seed)
        key = rng.random(len(df))
        pos = np.lexsort((key, users))
        u_sorted = users[pos]
        g = pd.Series(u_sorted).groupby(u_sorted)
        size = g.transform("size").to_numpy()
        rank = g.cumcount().to_numpy()
        n_test = np.floor(size * cfg.test_frac).astype(np.int64)
        n_valid = np.floor(size * cfg.valid_frac).astype(np.int64)
        lab = np.full(len(df), "train", dtype=object)
        lab[rank < n_test] = "test"
        lab[(rank >= n_test) & (rank < n_test + n_valid)] = "valid"
        split[pos] = lab
    df["split"] = split
    return df
