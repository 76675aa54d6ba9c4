"""Split interactions into train / valid / test (the evaluation protocol of DESIGN.md).

Order of operations: implicit positives (``rating >= rating_threshold`` when set), then the
min-count filters (users, then items, applied once each, not iterated to a fixpoint), then one of:

- ``loo``: leave-one-out by ``order`` — per user the last interaction is test, the second-to-last
  valid, users with fewer than 3 stay all-train; ties in ``order`` keep file (row) order because
  the sort is stable;
- ``random``: a seeded random holdout of each user's rows (``floor`` of the fractions);
- ``given``: a published split reproduced exactly (:func:`apply_given`; no filters, since they
  would change the split that was given);
- ``cold-items``: strict cold items (:func:`cold_items_split`): a seeded share of the items lose
  every train interaction, so a model can only place them through their attribute/KG edges.

Every function here is pure and vectorised; the stage reads files (:func:`read_split_file`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hetrec.data import schema
from hetrec.errors import HetrecError, where

METHODS = ("loo", "random", "given", "cold-items")
PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitConfig:
    rating_threshold: float | None = None  # keep ratings >= this as positives; None = every rating
    min_user: int = 0  # drop users with fewer interactions (after the threshold)
    min_item: int = 0  # drop items with fewer interactions (after the user filter)
    method: str = "loo"  # loo (by order) | random (for data without time) | given | cold-items
    valid_frac: float = 0.1  # random: share of each user's rows in valid; given: share carved from train
    test_frac: float = 0.1  # random: share of each user's rows in test
    seed: int = 0  # random / cold-items / carving: RNG seed
    cold_frac: float = 0.1  # cold-items: share of the eligible items made cold
    cold_min: int = 3  # cold-items: an item needs at least this many interactions to be eligible

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"split method {self.method!r}; use one of {METHODS}")
        if not (0 <= self.valid_frac and 0 <= self.test_frac and self.valid_frac + self.test_frac < 1):
            raise ValueError("valid_frac and test_frac must be >= 0 and sum to less than 1")
        if not (0 <= self.cold_frac <= 1) or self.cold_min < 1:
            raise ValueError("cold_frac must lie in [0, 1] and cold_min be >= 1")
        if self.method == "given" and (self.rating_threshold is not None or self.min_user or self.min_item):
            raise ValueError("a given split is reproduced as it is: drop --rating-threshold/--min-user/--min-item")


def read_split_file(path: str | os.PathLike) -> pd.DataFrame:
    """A split file ``user_id,item_id,part`` (index = data row, so row = index + 2); parts checked."""
    given = schema.read_csv(path, {"user_id": "int", "item_id": "int", "part": "str"})
    bad = ~given["part"].isin(PARTS).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise HetrecError(f"{where(path, i + 2, 'part')}: part '{given['part'].iloc[i]}' is not one of "
                          f"{', '.join(PARTS)}; fix the row")
    return given


def split_interactions(interactions: pd.DataFrame, cfg: SplitConfig = SplitConfig(),
                       given: pd.DataFrame | None = None) -> pd.DataFrame:
    """Filter and split; returns the kept rows (original index, original row order) plus column ``split``."""
    return split_with_stats(interactions, cfg, given)[0]


def split_with_stats(interactions: pd.DataFrame, cfg: SplitConfig = SplitConfig(),
                     given: pd.DataFrame | None = None, *, source: str = "split file") -> tuple[pd.DataFrame, dict]:
    """:func:`split_interactions` plus notes for the manifest (dropped pairs, carved valid rows, cold items).

    ``given`` (``user_id,item_id,part``, index = data row of ``source``) is needed by ``method="given"``.
    """
    df = interactions
    if cfg.rating_threshold is not None:
        df = df[df["rating"].to_numpy() >= cfg.rating_threshold]
    if cfg.min_user > 0:
        df = df[df.groupby("user_id")["user_id"].transform("size").to_numpy() >= cfg.min_user]
    if cfg.min_item > 0:
        df = df[df.groupby("item_id")["item_id"].transform("size").to_numpy() >= cfg.min_item]
    df = df.copy()
    users = df["user_id"].to_numpy()
    stats: dict = {}
    if cfg.method == "loo":
        split = _loo(users, df["order"].to_numpy())
    elif cfg.method == "random":
        split = _random(users, cfg.valid_frac, cfg.test_frac, cfg.seed)
    elif cfg.method == "given":
        if given is None:
            raise HetrecError("--split given needs --split-file PATH (user_id,item_id,part)")
        keep, split, stats = apply_given(df, given, valid_frac=cfg.valid_frac, seed=cfg.seed, source=source)
        df = df[keep].copy()
    else:
        split, stats = cold_items_split(df["item_id"].to_numpy(), users, cfg.cold_frac, cfg.cold_min, cfg.seed)
    df["split"] = split
    return df, stats


def _loo(users: np.ndarray, order: np.ndarray) -> np.ndarray:
    # stable sort by (user, order): ties in order keep their row order
    pos = np.lexsort((np.arange(len(users)), order, users))
    u_sorted = users[pos]
    size = pd.Series(u_sorted).groupby(u_sorted).transform("size").to_numpy()
    rank_from_end = pd.Series(u_sorted).groupby(u_sorted).cumcount(ascending=False).to_numpy()
    lab = np.full(len(users), "train", dtype=object)
    lab[(size >= 3) & (rank_from_end == 0)] = "test"
    lab[(size >= 3) & (rank_from_end == 1)] = "valid"
    split = np.empty(len(users), dtype=object)
    split[pos] = lab
    return split


def _per_user_rank(users: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random rank of each row within its user (0..size-1), and the user's size."""
    key = np.random.default_rng(seed).random(len(users))
    pos = np.lexsort((key, users))
    u_sorted = users[pos]
    g = pd.Series(u_sorted).groupby(u_sorted)
    rank, size = np.empty(len(users), np.int64), np.empty(len(users), np.int64)
    rank[pos], size[pos] = g.cumcount().to_numpy(), g.transform("size").to_numpy()
    return rank, size


def _random(users: np.ndarray, valid_frac: float, test_frac: float, seed: int) -> np.ndarray:
    rank, size = _per_user_rank(users, seed)
    n_test = np.floor(size * test_frac).astype(np.int64)
    n_valid = np.floor(size * valid_frac).astype(np.int64)
    split = np.full(len(users), "train", dtype=object)
    split[rank < n_test] = "test"
    split[(rank >= n_test) & (rank < n_test + n_valid)] = "valid"
    return split


def carve_valid(users: np.ndarray, valid_frac: float, seed: int) -> np.ndarray:
    """Mask of train rows moved to valid: ``floor(valid_frac * n)`` of each user's n rows, seeded,
    at most ``n - 1`` (a user keeps at least one train row, or it could not be scored)."""
    rank, size = _per_user_rank(users, seed)
    return rank < np.minimum(np.floor(size * valid_frac), size - 1)


def apply_given(df: pd.DataFrame, given: pd.DataFrame, *, valid_frac: float, seed: int,
                source: str = "split file") -> tuple[np.ndarray, np.ndarray, dict]:
    """Reproduce a given split: (mask of ``df`` rows listed, their parts, stats).

    Rating pairs the file does not list are dropped and counted (the published split left them out);
    a listed pair that is not a rating, a repeated pair, or a user with valid/test pairs and no train
    pair is an error naming the row of ``source``. Without any ``valid`` part, valid is carved from
    train per user (:func:`carve_valid`, seeded) and the count recorded as ``valid_carved``.
    """
    rows = given.index.to_numpy() + 2
    dup = given.duplicated(["user_id", "item_id"]).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise HetrecError(f"{where(source, rows[i])}: pair (user {given['user_id'].iloc[i]}, item "
                          f"{given['item_id'].iloc[i]}) is listed twice; keep one row per pair")
    ratings = pd.MultiIndex.from_arrays([df["user_id"].to_numpy(), df["item_id"].to_numpy()])
    pos = ratings.get_indexer(pd.MultiIndex.from_arrays([given["user_id"].to_numpy(), given["item_id"].to_numpy()]))
    if (pos < 0).any():
        i = int(np.flatnonzero(pos < 0)[0])
        raise HetrecError(f"{where(source, rows[i])}: pair (user {given['user_id'].iloc[i]}, item "
                          f"{given['item_id'].iloc[i]}) is not in the ratings ({int((pos < 0).sum())} such rows); "
                          "the split file must list rated pairs only")
    part = np.full(len(df), None, dtype=object)
    part[pos] = given["part"].to_numpy(dtype=object)
    keep = part != None  # noqa: E711  (element-wise on an object array)
    part = part[keep]
    users = df["user_id"].to_numpy()[keep]
    no_train = ~np.isin(given["user_id"].to_numpy(), users[part == "train"])
    if no_train.any():
        i = int(np.flatnonzero(no_train)[0])
        raise HetrecError(f"{where(source, rows[i])}: user {given['user_id'].iloc[i]} has valid/test pairs but "
                          "no train pair; give the user train pairs or remove its rows")
    stats = {"split_unlisted_dropped": int((~keep).sum())}
    if not (part == "valid").any():
        train = np.flatnonzero(part == "train")
        carved = train[carve_valid(users[train], valid_frac, seed)]
        part[carved] = "valid"
        stats["valid_carved"] = len(carved)
    return keep, part, stats


def cold_items_split(items: np.ndarray, users: np.ndarray, cold_frac: float, cold_min: int,
                     seed: int) -> tuple[np.ndarray, dict]:
    """Strict cold items: (split labels, stats with ``cold_items`` count and ``cold_item_ids``).

    Items with at least ``cold_min`` interactions are eligible (an item with one held-out interaction
    measures almost nothing); ``round(cold_frac * eligible)`` of them, a seeded sample, become cold:
    every interaction of the first half (in sampled order) goes to valid, of the rest to test; all
    other interactions are train. Users whose every item is cold have no train rows (counted).
    """
    uniq, counts = np.unique(items, return_counts=True)
    eligible = uniq[counts >= cold_min]
    n_cold = int(np.floor(cold_frac * len(eligible) + 0.5))
    cold = np.random.default_rng(seed).permutation(eligible)[:n_cold]
    split = np.full(len(items), "train", dtype=object)
    split[np.isin(items, cold[:n_cold // 2])] = "valid"
    split[np.isin(items, cold[n_cold // 2:])] = "test"
    stats = {"cold_items": n_cold, "cold_eligible_items": len(eligible),
             "cold_users_without_train": int(len(np.setdiff1d(users, users[split == "train"]))),
             "cold_item_ids": np.sort(cold).astype(np.int64).tolist()}
    return split, stats
