"""BPR training triples: a device-side index of each user's train items and uniform negative sampling.

Why an index rather than a Python set per user: membership tests and negative draws run for millions of
(user, item) pairs per epoch, on the device the model trains on. The index keeps the train pairs as sorted
int64 keys ``user * num_items + item`` so that a membership test is one ``torch.searchsorted`` and a CSR
(``crow``/``col``) view gives each user's items for masking in full-ranking evaluation.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from hetrec.errors import HetrecError


class InteractionIndex:
    """Distinct (user, item) pairs as a CSR on one device, with a vectorised membership test.

    Duplicate pairs are collapsed (implicit feedback: an item is either a train item of the user or not), so an
    epoch of :func:`bpr_batches` covers each distinct pair once.

    Args:
        users: LongTensor[nnz] user ids in ``[0, num_users)``.
        items: LongTensor[nnz] item ids in ``[0, num_items)``.
        num_users: number of users (rows of the CSR).
        num_items: number of items (the key stride, and the range negatives are drawn from).
        device: where the index lives; defaults to the device of ``users``.

    Attributes:
        keys: LongTensor[nnz] sorted ``user * num_items + item``.
        crow: LongTensor[num_users + 1] row pointers; ``col[crow[u]:crow[u+1]]`` are user u's items, ascending.
        row, col: LongTensor[nnz] the user and item of each stored pair (COO view, in key order).
        degree: LongTensor[num_users] number of distinct items per user.
    """

    def __init__(self, users: Tensor, items: Tensor, num_users: int, num_items: int, *,
                 device: torch.device | str | None = None) -> None:
        users = torch.as_tensor(users, dtype=torch.long)
        items = torch.as_tensor(items, dtype=torch.long, device=users.device)
        if users.shape != items.shape or users.dim() != 1:
            raise ValueError(f"users and items must be 1-D of equal length, got {tuple(users.shape)} and {tuple(items.shape)}")
        if num_users <= 0 or num_items <= 0:
            raise ValueError(f"num_users and num_items must be positive, got {num_users} and {num_items}")
        if users.numel() and (int(users.min()) < 0 or int(users.max()) >= num_users):
            raise ValueError(f"user ids must lie in [0, {num_users}), got range [{int(users.min())}, {int(users.max())}]")
        if items.numel() and (int(items.min()) < 0 or int(items.max()) >= num_items):
            raise ValueError(f"item ids must lie in [0, {num_items}), got range [{int(items.min())}, {int(items.max())}]")
        device = torch.device(device) if device is not None else users.device
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self.keys = torch.unique(users.to(device) * num_items + items.to(device))  # sorted, distinct
        self.row = torch.div(self.keys, num_items, rounding_mode="floor")
        self.col = self.keys - self.row * num_items
        self.degree = torch.bincount(self.row, minlength=num_users)
        self.crow = torch.zeros(num_users + 1, dtype=torch.long, device=device)
        torch.cumsum(self.degree, 0, out=self.crow[1:])

    @classmethod
    def from_csr(cls, crow: Tensor, col: Tensor, num_items: int) -> "InteractionIndex":
        """Build from a CSR (row pointers ``crow[num_users + 1]``, column ids ``col``); columns need not be sorted."""
        crow = torch.as_tensor(crow, dtype=torch.long)
        num_users = crow.numel() - 1
        rows = torch.repeat_interleave(torch.arange(num_users, device=crow.device), crow.diff())
        return cls(rows, torch.as_tensor(col, dtype=torch.long, device=crow.device), num_users, num_items)

    @property
    def device(self) -> torch.device:
        return self.keys.device

    @property
    def nnz(self) -> int:
        return self.keys.numel()

    def to(self, device: torch.device | str) -> "InteractionIndex":
        """A copy on ``device`` (``self`` when already there), so callers can write ``index = index.to(dev)``."""
        device = torch.device(device)
        if device == self.device:
            return self
        other = object.__new__(InteractionIndex)
        other.num_users, other.num_items = self.num_users, self.num_items
        for name in ("keys", "row", "col", "degree", "crow"):
            setattr(other, name, getattr(self, name).to(device))
        return other

    def contains(self, users: Tensor, items: Tensor) -> Tensor:
        """BoolTensor (shape of ``users``): whether each (user, item) pair is in the index; on the index's device."""
        q = users.to(self.device, torch.long) * self.num_items + items.to(self.device, torch.long)
        if self.nnz == 0:
            return torch.zeros_like(q, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, q).clamp_max_(self.nnz - 1)
        return self.keys[pos] == q

    def rows_of(self, users: Tensor) -> tuple[Tensor, Tensor]:
        """The stored items of ``users`` as COO ``(positions into users, items)``, for masking a score block.

        Vectorised CSR gather: one ``repeat_interleave``, no loop over users.
        """
        users = users.to(self.device, torch.long)
        start, count = self.crow[users], self.degree[users]
        total = int(count.sum())
        pos = torch.repeat_interleave(torch.arange(users.numel(), device=self.device), count, output_size=total)
        first = torch.cumsum(count, 0) - count  # where each user's run starts in the output
        shift = torch.repeat_interleave(start - first, count, output_size=total)
        return pos, self.col[torch.arange(total, device=self.device) + shift]

    def __repr__(self) -> str:
        return (f"InteractionIndex(num_users={self.num_users}, num_items={self.num_items}, "
                f"nnz={self.nnz}, device={self.device})")


def _exact_negatives(index: InteractionIndex, users: Tensor, generator: torch.Generator | None) -> Tensor:
    """Exact uniform draw over each user's non-interacted items, without rejection.

    Draw r ~ U{0, ..., num_items - deg(u) - 1} and return the r-th allowed item. With the user's sorted items
    c_0 < c_1 < ..., the r-th allowed item is r + j where j = #{i : c_i - i <= r}; ``c_i - i`` is
    non-decreasing within a user, so j is one searchsorted over keys ``u * num_items + (c_i - i)``.
    """
    dev = index.device
    free = (index.num_items - index.degree[users]).to(torch.float64)
    u = torch.rand(users.numel(), generator=generator, device=dev, dtype=torch.float64)
    r = torch.minimum((u * free).long(), free.long() - 1)
    rank_in_row = torch.arange(index.nnz, device=dev) - index.crow[index.row]
    shifted = index.row * index.num_items + (index.col - rank_in_row)
    j = torch.searchsorted(shifted, users * index.num_items + r, right=True) - index.crow[users]
    return r + j


def sample_negatives(index: InteractionIndex, users: Tensor, generator: torch.Generator | None = None,
                     max_tries: int = 10) -> Tensor:
    """One negative per entry of ``users``: uniform over the items that user has not interacted with.

    Vectorised rejection sampling: draw every position at once, re-draw only the rejected positions, and loop
    over rounds (never over users). Positions still rejected after ``max_tries`` rounds (users who interacted
    with most of the catalogue) get an exact draw from :func:`_exact_negatives`, so the result is always
    uniform and always valid.

    Args:
        index: train pairs; negatives are drawn on ``index.device``.
        users: LongTensor[n] user ids (any device; the result is on ``index.device``).
        generator: a ``torch.Generator`` on ``index.device`` for reproducible draws; ``None`` uses torch's global RNG.
        max_tries: rejection rounds before the exact fallback.

    Raises:
        HetrecError: a user has interacted with every item, so no negative exists.
    """
    users = users.to(index.device, torch.long)
    if users.numel() == 0:
        return users.clone()
    full = index.degree[users] >= index.num_items
    if bool(full.any()):
        u = int(users[full][0])
        raise HetrecError(f"user {u} has interacted with all {index.num_items} items, so no negative item exists; "
                          "drop such users from training or add items")
    neg = torch.randint(index.num_items, users.shape, generator=generator, device=index.device)
    todo = torch.nonzero(index.contains(users, neg)).squeeze(1)
    for _ in range(max_tries):
        if todo.numel() == 0:
            return neg
        neg[todo] = torch.randint(index.num_items, todo.shape, generator=generator, device=index.device)
        todo = todo[index.contains(users[todo], neg[todo])]
    if todo.numel():
        neg[todo] = _exact_negatives(index, users[todo], generator)
    return neg


def bpr_batches(index: InteractionIndex, batch_size: int, generator: torch.Generator | None = None, *,
                shard: tuple[int, int] | None = None) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """One epoch of BPR triples ``(users, pos, neg)``: every distinct train pair exactly once, shuffled.

    Negatives are sampled per batch with :func:`sample_negatives`; all tensors are on ``index.device``. The last
    batch may be smaller. Same generator state -> same epoch.

    ``shard=(rank, world)`` (data-parallel training, hetrec/trainer/distributed.py): the global batch is drawn in
    full, negatives included, so the generator advances exactly as in one process, and this rank gets the slice
    ``[rank::world]`` of it: the ranks' slices are disjoint and together are the global batch (a slice may be
    empty when the last batch has fewer triples than ranks).
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise ValueError(f"shard must be (rank, world) with 0 <= rank < world, got {shard}")
    perm = torch.randperm(index.nnz, generator=generator, device=index.device)
    for start in range(0, index.nnz, batch_size):
        sel = perm[start:start + batch_size]
        users, pos = index.row[sel], index.col[sel]
        neg = sample_negatives(index, users, generator)
        if shard is not None:
            users, pos, neg = (t[shard[0]::shard[1]] for t in (users, pos, neg))
        yield users, pos, neg
