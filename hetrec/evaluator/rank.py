"""Full-ranking (and sampled) top-K evaluation: chunks of users x all items, masked, ranked on the scores' device.

Protocol (docs/architecture.md, DESIGN "Evaluation protocol"): every target is ranked against all items except
the user's excluded ones (train items; for test also the validation item). The loop runs over user chunks only.

Tie policy (pessimistic, deterministic): a target ranks after every non-target item with an equal score, so a
constant scorer earns no credit. With score s_t, the rank of target t of user u is

    rank_t = #{j allowed: s_j > s_t} + #{j allowed, j not a target of u: s_j == s_t} + #{targets t' of u with s_t' == s_t, t' < t} + 1

(targets tied with each other take consecutive ranks in item-id order). For one target this is
"strictly greater + equal others + 1". A target that is itself excluded is a miss (it is still counted in n_pos).
Hit/NDCG/MRR/Recall come from these ranks; ``coverage@k`` comes from ``torch.topk`` lists, whose order among
tied items is torch's, so under heavy ties the two views can differ slightly.

Cost: the counts above only matter when rank_t <= K, so they are taken over each user's top-L scores
(L = K + the most targets any user has): if s_t > v_L (the L-th largest score) every item scoring >= s_t is in the
top L and the counts are exact; otherwise at least L items score >= s_t, so rank_t >= L - n_targets + 1 > K, a miss.
One ``torch.topk`` per chunk thus serves both the ranks and the coverage lists.
"""
from __future__ import annotations

from typing import Callable, Iterable, Union

import torch
from torch import Tensor

from hetrec.errors import HetrecError
from hetrec.evaluator.metrics import catalog_coverage, compute_metrics, ndcg_at_k
from hetrec.sampler.bpr import InteractionIndex, sample_negatives

ScoreFn = Callable[[Tensor], Tensor]
Scorer = Union[ScoreFn, tuple[Tensor, Tensor]]
Exclude = Union[InteractionIndex, tuple[Tensor, Tensor], None]
_MISS = 1 << 62  # rank given to targets that cannot be retrieved


def dot_scorer(user_emb: Tensor, item_emb: Tensor) -> ScoreFn:
    """Score function ``users -> user_emb[users] @ item_emb.T`` on the embeddings' device.

    It sets ``fresh_scores = True``: its output is a new tensor, so masking may write into it without a copy
    (a callable without that attribute is assumed to return shared memory, e.g. an expanded popularity vector).
    """
    if user_emb.dim() != 2 or item_emb.dim() != 2 or user_emb.shape[1] != item_emb.shape[1]:
        raise ValueError(f"embeddings must be [n, d] with equal d, got {tuple(user_emb.shape)} and {tuple(item_emb.shape)}")

    def score(users: Tensor) -> Tensor:
        return user_emb[users.to(user_emb.device)] @ item_emb.T

    score.fresh_scores = True  # type: ignore[attr-defined]
    return score


def as_score_fn(scorer: Scorer) -> ScoreFn:
    """Accept a ``(user_emb, item_emb)`` pair or a callable ``user_ids -> scores[n, num_items]``."""
    if isinstance(scorer, tuple):
        return dot_scorer(*scorer)
    if callable(scorer):
        return scorer
    raise TypeError(f"scorer must be (user_emb, item_emb) or a callable, got {type(scorer).__name__}")


def as_index(exclude: Exclude, num_users: int, num_items: int, device: torch.device) -> InteractionIndex:
    """Normalise ``exclude`` (an InteractionIndex, a ``(crow, col)`` CSR, or None) to an InteractionIndex."""
    if exclude is None:
        empty = torch.empty(0, dtype=torch.long, device=device)
        return InteractionIndex(empty, empty, num_users, num_items)
    if isinstance(exclude, tuple):
        exclude = InteractionIndex.from_csr(exclude[0], exclude[1], num_items)
    if exclude.num_items != num_items:
        raise ValueError(f"exclude index has {exclude.num_items} items but num_items={num_items}")
    if exclude.num_users < num_users:
        raise ValueError(f"exclude index covers {exclude.num_users} users but user ids go up to {num_users - 1}")
    return exclude


def _scores(score_fn: ScoreFn, users: Tensor, num_items: int) -> Tensor:
    s = score_fn(users)
    if s.dim() != 2 or s.shape != (users.numel(), num_items):
        raise ValueError(f"score function returned shape {tuple(s.shape)}, expected ({users.numel()}, {num_items})")
    if not s.is_floating_point():
        s = s.to(torch.float32)
    return s


def _check_nan(values: Tensor) -> None:
    """Raise on NaN. Callers pass top-k values: ``torch.topk`` ranks NaN above everything, so a row with any NaN
    shows one there, and the full score block need not be scanned."""
    if bool(torch.isnan(values).any()):
        raise HetrecError("the model produced NaN scores (training diverged); lower the learning rate or check the inputs")


def _masked_scores(score_fn: ScoreFn, users: Tensor, index: InteractionIndex, num_items: int,
                   blocked: Tensor | None = None) -> Tensor:
    """Scores of a user chunk with excluded items (and ``blocked`` items, for everyone) set to -inf.

    The scorer's own tensor is never modified.
    """
    s = _scores(score_fn, users, num_items)
    if not getattr(score_fn, "fresh_scores", False):
        s = s.clone()
    pos, items = index.rows_of(users)
    s[pos.to(s.device), items.to(s.device)] = float("-inf")
    if blocked is not None:
        s[:, blocked.to(s.device)] = float("-inf")
    return s


def _blocked(num_items: int, candidates: Tensor | None, unscorable: Tensor | None) -> Tensor | None:
    """Items no user may be shown: outside the candidate set, or without a score from this model."""
    out = None
    for mask, flip in ((candidates, True), (unscorable, False)):
        if mask is None:
            continue
        mask = torch.as_tensor(mask).cpu()
        if mask.dtype != torch.bool or mask.shape != (num_items,):
            raise ValueError(f"candidates/unscorable must be BoolTensor[{num_items}], got {mask.dtype} {tuple(mask.shape)}")
        mask = ~mask if flip else mask
        out = mask if out is None else out | mask
    return out


def full_ranking_topk(scorer: Scorer, users: Tensor, exclude: Exclude, k: int, *,
                      num_items: int | None = None, chunk_size: int = 4096) -> Tensor:
    """Top-k item ids per user, excluded items masked: LongTensor[n, k] on the scores' device.

    Args:
        scorer: ``(user_emb[U, d], item_emb[I, d])`` or a callable ``user_ids[n] -> scores[n, I]``.
        users: LongTensor[n] user ids to rank for.
        exclude: per-user items never to recommend (InteractionIndex, ``(crow, col)`` CSR, or None).
        k: list length. Users with fewer than k allowed items get ``-1`` in the tail.
        num_items: I; inferred from ``item_emb`` when a pair is given.
        chunk_size: users per score block (memory ~ chunk_size x I floats).
    """
    if num_items is None:
        if not isinstance(scorer, tuple):
            raise ValueError("num_items is required when scorer is a callable")
        num_items = scorer[1].shape[0]
    if not 1 <= k <= num_items:
        raise ValueError(f"k={k} must lie in [1, num_items={num_items}]")
    score_fn = as_score_fn(scorer)
    users = torch.as_tensor(users, dtype=torch.long)
    index = as_index(exclude, int(users.max()) + 1 if users.numel() else 1, num_items, users.device)
    out = []
    for start in range(0, users.numel(), chunk_size):
        chunk = users[start:start + chunk_size]
        s = _masked_scores(score_fn, chunk, index, num_items)
        index = index.to(s.device)
        values, top = torch.topk(s, k, dim=1)
        _check_nan(values)
        invalid = index.contains(chunk.to(s.device)[:, None].expand_as(top), top)
        out.append(top.masked_fill_(invalid, -1))
    if not out:
        return torch.empty(0, k, dtype=torch.long)
    return torch.cat(out)


def _dedupe_targets(target: tuple[Tensor, Tensor], num_items: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Distinct targets sorted by (user, item): ``(target_users, target_items, users, row_of_target)``."""
    t_users = torch.as_tensor(target[0], dtype=torch.long)
    t_items = torch.as_tensor(target[1], dtype=torch.long, device=t_users.device)
    if t_users.shape != t_items.shape or t_users.dim() != 1:
        raise ValueError(f"target users and items must be 1-D of equal length, got {tuple(t_users.shape)} and {tuple(t_items.shape)}")
    if t_items.numel() and (int(t_items.min()) < 0 or int(t_items.max()) >= num_items):
        raise ValueError(f"target item ids must lie in [0, {num_items})")
    if t_users.numel() and int(t_users.min()) < 0:
        raise ValueError("target user ids must be non-negative")
    keys = torch.unique(t_users * num_items + t_items).cpu()  # bookkeeping on CPU; scores stay on their device
    tu = torch.div(keys, num_items, rounding_mode="floor")
    users, row = torch.unique(tu, return_inverse=True)
    return tu, keys - tu * num_items, users, row


def _target_ranks(top_vals: Tensor, rows: Tensor, st: Tensor, items: Tensor, complete: bool) -> Tensor:
    """Pessimistic 1-based rank of each target (module docstring), from its user's top-L scores.

    Args:
        top_vals: [c, L] each chunk user's L largest masked scores, descending.
        rows: [T] the target's row in ``top_vals`` (ascending); st: [T] its masked score; items: [T] its id.
        complete: L == num_items, so the counts are exact for every target.
    Returns ranks, with ``_MISS`` where the rank provably exceeds L - (targets per user) >= K.
    """
    tv = top_vals[rows]
    greater = (tv > st[:, None]).sum(1)
    equal = (tv == st[:, None]).sum(1)
    # Runs of targets of one user sharing a score, ordered by item id: run length and position in the run.
    order = torch.argsort(items, stable=True)
    order = order[torch.argsort(st[order], stable=True)]
    order = order[torch.argsort(rows[order], stable=True)]
    r_s, s_s = rows[order], st[order]
    new = torch.ones_like(r_s, dtype=torch.bool)
    new[1:] = (r_s[1:] != r_s[:-1]) | (s_s[1:] != s_s[:-1])
    idx = torch.arange(r_s.numel(), device=rows.device)
    run_start = torch.cummax(torch.where(new, idx, torch.zeros_like(idx)), 0).values
    run_id = torch.cumsum(new.long(), 0) - 1
    run_len = torch.bincount(run_id)[run_id]
    pos_in_run = torch.empty_like(idx)
    tied = torch.empty_like(idx)
    pos_in_run[order], tied[order] = idx - run_start, run_len
    ranks = greater + (equal - tied) + pos_in_run + 1
    if not complete:
        ranks[st <= tv[:, -1]] = _MISS
    return ranks


def _hits(rows: Tensor, ranks: Tensor, n_rows: int, k: int) -> Tensor:
    hits = torch.zeros(n_rows, k, dtype=torch.bool)
    ok = ranks <= k
    hits[rows[ok], ranks[ok] - 1] = True
    return hits


def _metrics_with_sparse(rows: Tensor, ranks: Tensor, items: Tensor, n_rows: int, ks: tuple[int, ...],
                         sparse_items: Tensor | None, num_items: int, row_users: Tensor | None = None,
                         sparse_users: Tensor | None = None) -> dict:
    """Metrics over all query rows with the standard error of NDCG (``se/ndcg@k``), plus ``sparse/...`` over
    rows restricted to their sparse-item targets and ``sparse_user/...`` over the rows of sparse users."""
    kmax = max(ks)
    hits, n_pos = _hits(rows, ranks, n_rows, kmax), torch.bincount(rows, minlength=n_rows)
    out: dict = compute_metrics(hits, n_pos, ks)
    for k in ks:
        per_user = ndcg_at_k(hits, n_pos, k)
        if per_user.numel() > 1:
            out[f"se/ndcg@{k}"] = float(per_user.std() / per_user.numel() ** 0.5)
    if sparse_users is not None and row_users is not None:
        su = torch.as_tensor(sparse_users).cpu()
        if su.dtype != torch.bool or su.dim() != 1:
            raise ValueError(f"sparse_users must be a 1-D BoolTensor, got {su.dtype} {tuple(su.shape)}")
        if row_users.numel() and int(row_users.max()) >= su.numel():
            raise ValueError(f"sparse_users covers {su.numel()} users but user ids go up to {int(row_users.max())}")
        sel = su[row_users.cpu()]
        if bool(sel.any()):  # an empty slice has no metrics, only its count
            out.update({f"sparse_user/{name}": v for name, v in compute_metrics(hits[sel], n_pos[sel], ks).items()})
        out["n_sparse_users"] = int(sel.sum())
    if sparse_items is not None:
        sp = torch.as_tensor(sparse_items).cpu()
        if sp.dtype != torch.bool or sp.shape != (num_items,):
            raise ValueError(f"sparse_items must be a BoolTensor[{num_items}], got {sp.dtype} {tuple(sp.shape)}")
        sp = sp[items]
        keep_rows, sp_rows = torch.unique(rows[sp], return_inverse=True)
        n_sp = keep_rows.numel()
        sp_metrics = compute_metrics(_hits(sp_rows, ranks[sp], n_sp, kmax), torch.bincount(sp_rows, minlength=n_sp), ks)
        out.update({f"sparse/{name}": v for name, v in sp_metrics.items()})
        out["n_sparse"] = int(n_sp)
    return out


def _check_ks(ks: Iterable[int], limit: int, what: str) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1 or max(ks) > limit:
        raise ValueError(f"cut-offs {ks} must lie in [1, {what}={limit}]")
    return ks


def evaluate(scorer: Scorer, target: tuple[Tensor, Tensor], exclude: Exclude, *, num_items: int,
             ks: Iterable[int] = (10, 20, 50), sparse_items: Tensor | None = None,
             sparse_users: Tensor | None = None, candidates: Tensor | None = None,
             unscorable: Tensor | None = None, chunk_size: int = 4096) -> dict:
    """Full-ranking metrics: each user's targets ranked against every non-excluded item.

    Args:
        scorer: ``(user_emb, item_emb)`` or callable ``user_ids -> scores[n, num_items]`` (user ids arrive as a CPU
            LongTensor; ranking runs on the device of the returned scores).
        target: ``(users, items)`` LongTensors; one per user for leave-one-out, several allowed (duplicates dropped).
        exclude: items to mask per user: train items (for test, build the index from train + validation pairs).
        num_items: catalogue size I.
        ks: cut-offs, each <= I.
        sparse_items: optional BoolTensor[I] marking items with few train interactions; adds ``sparse/<metric>@k``
            over users with a sparse target, only those targets counting as relevant, and ``n_sparse``.
        sparse_users: optional BoolTensor[U] marking users with few train interactions; adds
            ``sparse_user/<metric>@k`` over those users and ``n_sparse_users``.
        candidates: optional BoolTensor[I], the items that compete (e.g. the cold items): the others are never
            ranked and targets outside the set are dropped (users left without a target are not evaluated).
        unscorable: optional BoolTensor[I], items the model has no score for (an ID embedding of an item
            without train interactions): they rank last, so such a target is a miss, never a lucky guess.

    Returns:
        ``{"hit@k", "ndcg@k", "mrr@k", "recall@k", "coverage@k"} for k in ks``, ``n_users``, ``n_targets``,
        ``protocol: "full"`` (and the sparse keys). Float metrics are means over users.
    """
    ks = _check_ks(ks, num_items, "num_items")
    kmax = max(ks)
    score_fn = as_score_fn(scorer)
    blocked = _blocked(num_items, candidates, unscorable)
    if candidates is not None:
        t_items = torch.as_tensor(target[1], dtype=torch.long)
        inside = torch.as_tensor(candidates).cpu()[t_items.cpu()].to(t_items.device)
        target = (torch.as_tensor(target[0])[inside], t_items[inside])
    tu, ti, users, row = _dedupe_targets(target, num_items)
    index = as_index(exclude, int(users.max()) + 1 if users.numel() else 1, num_items, tu.device)
    masked = index.contains(tu, ti).cpu()
    n_pos = torch.bincount(row, minlength=users.numel())
    depth = min(num_items, kmax + (int(n_pos.max()) if n_pos.numel() else 0))  # L of the module docstring
    bounds = torch.searchsorted(row, torch.arange(0, users.numel() + chunk_size, chunk_size)).tolist()
    ranks, tops = torch.empty_like(row), []
    for c, start in enumerate(range(0, users.numel(), chunk_size)):
        chunk = users[start:start + chunk_size]
        s = _masked_scores(score_fn, chunk, index, num_items, blocked)
        index = index.to(s.device)
        top_vals, top = torch.topk(s, depth, dim=1)
        _check_nan(top_vals)
        top = top[:, :kmax]
        invalid = index.contains(chunk.to(s.device)[:, None].expand_as(top), top) | torch.isneginf(top_vals[:, :kmax])
        tops.append(top.masked_fill_(invalid, -1).cpu())
        a, b = bounds[c], bounds[c + 1]
        rows, items = (row[a:b] - start).to(s.device), ti[a:b].to(s.device)
        ranks[a:b] = _target_ranks(top_vals, rows, s[rows, items], items, depth == num_items).cpu()
    ranks[masked] = _MISS
    if blocked is not None:
        ranks[blocked[ti]] = _MISS  # an item without a score is never found, whatever ties say
    out = _metrics_with_sparse(row, ranks, ti, users.numel(), ks, sparse_items, num_items, users, sparse_users)
    top_all = torch.cat(tops) if tops else torch.empty(0, kmax, dtype=torch.long)
    for k in ks:
        out[f"coverage@{k}"] = catalog_coverage(top_all[:, :k], num_items)
    out.update(n_users=int(users.numel()), n_targets=int(tu.numel()), protocol="full")
    return out


def evaluate_sampled(scorer: Scorer, target: tuple[Tensor, Tensor], exclude: Exclude, *, num_items: int,
                     num_negatives: int = 99, ks: Iterable[int] = (10, 20, 50), generator: torch.Generator | None = None,
                     sparse_items: Tensor | None = None, sparse_users: Tensor | None = None,
                     unscorable: Tensor | None = None, chunk_size: int = 4096) -> dict:
    """Sampled protocol: each target ranked among itself and ``num_negatives`` random items (pessimistic ties).

    Negatives are uniform, with replacement, over items that are neither excluded for the user nor any of the
    user's targets; they are drawn on the exclude index's device, so ``generator`` must live there (CPU unless the
    caller moved the index). Each target is one query with one relevant item, so metrics average over targets
    (== users for leave-one-out). A masked target is a miss. No coverage (lists of random candidates say nothing
    about the catalogue). Returns the metric keys of :func:`evaluate` without ``coverage@k``, plus
    ``protocol: "sampled-<N>"``.
    """
    ks = _check_ks(ks, num_negatives + 1, "num_negatives + 1")
    score_fn = as_score_fn(scorer)
    blocked = _blocked(num_items, None, unscorable)
    tu, ti, users, row = _dedupe_targets(target, num_items)
    index = as_index(exclude, int(users.max()) + 1 if users.numel() else 1, num_items, tu.device)
    dev = index.device
    avoid = InteractionIndex(torch.cat([index.row, tu.to(dev)]), torch.cat([index.col, ti.to(dev)]),
                             index.num_users, num_items)
    neg = sample_negatives(avoid, tu.to(dev).repeat_interleave(num_negatives), generator).view(-1, num_negatives)
    masked = index.contains(tu, ti).cpu()
    bounds = torch.searchsorted(row, torch.arange(0, users.numel() + chunk_size, chunk_size)).tolist()
    ranks = torch.empty_like(row)
    for c, start in enumerate(range(0, users.numel(), chunk_size)):
        s = _scores(score_fn, users[start:start + chunk_size], num_items)
        a, b = bounds[c], bounds[c + 1]
        rows = (row[a:b] - start).to(s.device)
        st = s[rows, ti[a:b].to(s.device)]
        sn = s[rows[:, None], neg[a:b].to(s.device)]
        if blocked is not None:  # an unscorable negative ranks below every target (as in full ranking)
            sn = sn.masked_fill(blocked.to(s.device)[neg[a:b].to(s.device)], float("-inf"))
        _check_nan(st)
        _check_nan(sn)
        ranks[a:b] = ((sn > st[:, None]).sum(1) + (sn == st[:, None]).sum(1) + 1).cpu()
    ranks[masked] = _MISS
    if blocked is not None:
        ranks[blocked[ti]] = _MISS  # an item without a score is never found
    queries = torch.arange(tu.numel())
    out = _metrics_with_sparse(queries, ranks, ti.cpu(), tu.numel(), ks, sparse_items, num_items, tu.cpu(), sparse_users)
    out.update(n_users=int(users.numel()), n_targets=int(tu.numel()), protocol=f"sampled-{num_negatives}")
    return out
