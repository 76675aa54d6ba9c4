"""The evaluation protocol on a graph artifact: which items are masked, which compete, which slices are reported.

Shared by ``finetune`` (validation and final metrics), ``evaluate`` and pretraining's early stopping, so every
number hetrec prints follows one protocol (DESIGN "Evaluation protocol"): full ranking over all items with the
user's train items masked (for test also the validation items); optional candidate sets (``cold``: only items
without train interactions, the strict cold-start protocol); items a model cannot score rank last; slices of
sparse items and sparse users; the standard error of NDCG.
"""
from __future__ import annotations

import torch
from torch import Tensor

from hetrec.errors import HetrecError
from hetrec.sampler.bpr import InteractionIndex

SPLITS = {"val": "valid", "test": "test"}  # CLI name -> split label in splits.parquet
PROTOCOLS = ("full", "sampled")
SPARSE_THRESHOLD = 5  # an item is "sparse" with <= this many train interactions
SPARSE_USER_THRESHOLD = 5  # a user is "sparse" with <= this many train interactions
CANDIDATES = ("all", "cold")  # which items compete: every unseen item, or only items without train interactions


def cold_items(artifact, train_index: InteractionIndex | None = None) -> Tensor:
    """BoolTensor[I]: items without any train interaction (all of a cold-items split's held-out items)."""
    train = train_index or InteractionIndex(*artifact.pairs("train"), artifact.num_users, artifact.num_items)
    return torch.bincount(train.col.cpu(), minlength=artifact.num_items) == 0


def candidates_of(artifact) -> str:
    """The candidate set a graph's own protocol ranks: ``cold`` for a ``--split cold-items`` build (its validation
    and test items are all cold: fine-tuning selects and reports on the strict cold-start ranking), else ``all``."""
    return "cold" if artifact.manifest.get("dataset", {}).get("split") == "cold-items" else "all"


def evaluate_embeddings(artifact, user_emb: Tensor, item_emb: Tensor, split: str, **options) -> dict:
    """:func:`evaluate_scores` of dot-product scores, on the embeddings' device."""
    return evaluate_scores(artifact, (user_emb, item_emb), split, device=user_emb.device, **options)


def evaluate_scores(artifact, scorer, split: str, *, device: torch.device | str = "cpu",
                    ks: tuple[int, ...] = (10, 20, 50), protocol: str = "full", num_negatives: int = 99,
                    sparse_threshold: int = SPARSE_THRESHOLD, sparse_user_threshold: int = SPARSE_USER_THRESHOLD,
                    candidates: str = "all", unscorable: Tensor | None = None,
                    train_index: InteractionIndex | None = None, seed: int = 0) -> dict:
    """Metrics of a scorer on ``split`` (``val``/``test``) under the DESIGN protocol.

    scorer: ``(user_emb, item_emb)`` or a callable ``user ids -> scores [n, I]``. candidates: ``all`` ranks every
    unseen item; ``cold`` ranks only the items without train interactions (the strict cold-start protocol) and
    keeps only targets among them. unscorable: BoolTensor[I] of items the model cannot score (they rank last).
    ``train_index`` (train pairs, any device) saves rebuilding it per call. Cut-offs larger than the candidate
    count are dropped (tiny graphs).
    """
    from hetrec.evaluator.rank import evaluate, evaluate_sampled

    dev = torch.device(device)
    n_u, n_i = artifact.num_users, artifact.num_items
    train = (train_index or InteractionIndex(*artifact.pairs("train"), n_u, n_i)).to(dev)
    if split == "val":
        exclude = train
    elif split == "test":
        vu, vi = artifact.pairs("valid")
        exclude = InteractionIndex(torch.cat([train.row, vu.to(dev)]), torch.cat([train.col, vi.to(dev)]), n_u, n_i)
    else:
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    if candidates not in CANDIDATES:
        raise HetrecError(f"--candidates {candidates}: use one of {', '.join(CANDIDATES)}")
    cand = None
    if candidates == "cold":
        cand = cold_items(artifact, train)
        if not bool(cand.any()):
            raise HetrecError(f"{artifact.path}: every item has train interactions, so there are no cold items to "
                              "rank; build the graph with --split cold-items")
    n_cand = int(cand.sum()) if cand is not None else n_i
    target = artifact.pairs(SPLITS[split])
    ks = tuple(k for k in ks if k <= (n_cand if protocol == "full" else num_negatives + 1))
    if not ks:
        raise HetrecError(f"every cut-off exceeds the {n_cand} candidates; pass a smaller --k")
    sparse = torch.bincount(train.col.cpu(), minlength=n_i) <= sparse_threshold
    sparse_users = torch.bincount(train.row.cpu(), minlength=n_u) <= sparse_user_threshold
    if protocol == "full":
        out = evaluate(scorer, target, exclude, num_items=n_i, ks=ks, sparse_items=sparse, sparse_users=sparse_users,
                       candidates=cand, unscorable=unscorable)
    elif protocol == "sampled":
        if cand is not None:
            raise HetrecError("--protocol sampled ranks random items; use --protocol full with --candidates cold")
        _check_candidates(exclude, target, n_i, num_negatives)
        gen = torch.Generator(device=dev).manual_seed(seed)
        out = evaluate_sampled(scorer, target, exclude, num_items=n_i, num_negatives=num_negatives,
                               ks=ks, generator=gen, sparse_items=sparse, sparse_users=sparse_users,
                               unscorable=unscorable)
    else:
        raise HetrecError(f"--protocol {protocol}: use one of {', '.join(PROTOCOLS)}")
    out.update(sparse_threshold=sparse_threshold, sparse_user_threshold=sparse_user_threshold,
               candidates=candidates, n_candidates=n_cand)
    return out


def _check_candidates(exclude: InteractionIndex, target: tuple[Tensor, Tensor], n_items: int, n_neg: int) -> None:
    """Sampled protocol: every target user needs ``n_neg`` distinct unmasked non-target items, else negatives
    repeat and every cut-off ranks the same short list (equal metrics at every K)."""
    users = target[0].to(exclude.row.device)
    if users.numel() == 0:
        return
    n = exclude.num_users
    masked = torch.bincount(exclude.row, minlength=n) + torch.bincount(users, minlength=n)
    fewest = n_items - int(masked[users].max())
    if n_neg > fewest:
        raise HetrecError(f"--num-negatives {n_neg}: a user has only {fewest} candidate items (the catalogue minus "
                          f"their masked and target items); use at most {fewest} or --protocol full")
