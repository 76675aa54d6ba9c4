"""What every pretraining method shares: config checks, global node ids, KG triples with corrupted tails,
neighbour-sampled blocks, the validation signal and the epoch loop with early stopping.

Why global ids: a batch mixes node types (users, items, attribute values, as heads and tails of KG triples).
Numbering all nodes in ``graph.ntypes`` order lets one ``torch.unique`` turn a mixed batch into per-type seed
lists whose concatenation is in the same order, so a model's per-type outputs concatenate into one table that
the batch indexes directly, in full-graph and in sampled mode alike.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import hetrec  # noqa: F401  (DGL shim before dgl)
import dgl
import torch
from torch import Tensor

from hetrec.errors import HetrecError
from hetrec.evaluator.rank import evaluate
from hetrec.graph import relations as R
from hetrec.pretrain.config import PretrainConfig, PretrainResult
from hetrec.sampler.bpr import InteractionIndex
from hetrec.trainer import distributed
from hetrec.trainer.early_stop import EarlyStopping

Log = Callable[[str], None]
MODES = ("full", "sampled")


def check_config(cfg: PretrainConfig) -> tuple[int, ...]:
    """Refuse settings no method can run with; returns the per-layer fanouts (one value broadcasts; all in full mode)."""
    from hetrec.checks import NONNEG_INT, POSITIVE_INT, SEED, numbers

    numbers(cfg, {**{name: POSITIVE_INT for name in ("dim", "layers", "epochs", "batch_size", "kg_batch_size",
                                                     "patience", "eval_every", "neighbors")},
                  "num_bases": NONNEG_INT, "seed": SEED, "lr": {"min": 0, "min_open": True},
                  "reg": {"min": 0}, "kg_weight": {"min": 0}, "sim_weight": {"min": 0},
                  "rns_epsilon": {"min": 0}})
    if cfg.mode not in MODES:
        raise HetrecError(f"--mode {cfg.mode}: expected full or sampled")
    fanouts = tuple(int(f) for f in cfg.fanouts)
    if len(fanouts) == 1:
        fanouts = fanouts * cfg.layers
    if cfg.mode == "full":  # fanouts only matter when sampling
        return (-1,) * cfg.layers
    if len(fanouts) != cfg.layers or any(f < 1 and f != -1 for f in fanouts):
        raise HetrecError(f"--fanouts {','.join(map(str, cfg.fanouts))}: give one positive value (or -1 = all) "
                          f"per layer ({cfg.layers} layers)")
    return fanouts


@dataclass(frozen=True)
class NodeSpace:
    """Global node numbering: type k occupies ``[offsets[k], offsets[k + 1])`` in ``graph.ntypes`` order."""

    ntypes: tuple[str, ...]
    offsets: Tensor  # [len(ntypes) + 1] int64, CPU

    @classmethod
    def of(cls, graph: dgl.DGLGraph) -> "NodeSpace":
        counts = torch.tensor([graph.num_nodes(t) for t in graph.ntypes], dtype=torch.int64)
        return cls(tuple(graph.ntypes), torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]))

    @property
    def num_nodes(self) -> int:
        return int(self.offsets[-1])

    def offset(self, ntype: str) -> int:
        return int(self.offsets[self.ntypes.index(ntype)])

    def to_global(self, ntype: str, ids: Tensor) -> Tensor:
        return ids + self.offset(ntype)

    def split(self, table: Tensor) -> dict[str, Tensor]:
        """A [num_nodes, d] global table back into per-type tables."""
        return {t: table[int(self.offsets[k]):int(self.offsets[k + 1])] for k, t in enumerate(self.ntypes)}

    def seeds(self, global_ids: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """Distinct nodes of a mixed batch as per-type local ids, and each entry's row in the concatenation.

        ``torch.unique`` sorts, and global ids are grouped by type in ``ntypes`` order, so concatenating
        per-type outputs for ``seeds`` in ``ntypes`` order gives rows ``inverse`` indexes.
        """
        uniq, inverse = torch.unique(global_ids.cpu(), return_inverse=True)
        bounds = torch.searchsorted(uniq, self.offsets).tolist()
        seeds = {t: uniq[bounds[k]:bounds[k + 1]] - int(self.offsets[k]) for k, t in enumerate(self.ntypes)}
        return seeds, inverse.to(global_ids.device)


@dataclass(frozen=True)
class Triples:
    """(head, relation, tail) in global ids, with each relation's tail type range for corruption.

    ``relations[r]`` is the canonical etype of relation id r; ``tail_lo``/``tail_n`` give the first global id
    and the size of relation r's tail type; ``keys`` are sorted ``(r * N + h) * N + t`` for membership tests.
    """

    head: Tensor
    rel: Tensor
    tail: Tensor
    relations: tuple[tuple[str, str, str], ...]
    tail_lo: Tensor
    tail_n: Tensor
    keys: Tensor
    num_nodes: int

    def __len__(self) -> int:
        return self.head.numel()

    def to(self, device: torch.device | str) -> "Triples":
        mv = {k: getattr(self, k).to(device) for k in ("head", "rel", "tail", "tail_lo", "tail_n", "keys")}
        return Triples(relations=self.relations, num_nodes=self.num_nodes, **mv)

    def contains(self, head: Tensor, rel: Tensor, tail: Tensor) -> Tensor:
        n = self.num_nodes
        q = (rel * n + head) * n + tail
        pos = torch.searchsorted(self.keys, q).clamp_max_(self.keys.numel() - 1)
        return self.keys[pos] == q


def triples(graph: dgl.DGLGraph, space: NodeSpace, item_type: str, *, user_item: bool = False) -> Triples:
    """Every edge of every relation as a (head=src, relation, tail=dst) triple in global ids.

    ``user_item=False`` keeps only the knowledge-graph relations (attributes, ``similar``): the link-prediction
    term of R-GCN. ``user_item=True`` adds interactions and behaviours: KGAT's collaborative knowledge graph.
    """
    skip = set() if user_item else set(R.user_item_etypes(graph.canonical_etypes, item_type))
    rels = tuple(c for c in graph.canonical_etypes if c not in skip and graph.num_edges(c) > 0)
    heads, tails, ids = [], [], []
    for r, c in enumerate(rels):  # a loop over relations, not edges
        s, d = graph.edges(etype=c)
        heads.append(space.to_global(c[0], s.long()))
        tails.append(space.to_global(c[2], d.long()))
        ids.append(torch.full_like(s, r, dtype=torch.int64))
    cat = lambda xs: torch.cat(xs) if xs else torch.empty(0, dtype=torch.int64)  # noqa: E731
    head, tail, rel = cat(heads), cat(tails), cat(ids)
    n = space.num_nodes
    return Triples(head=head, rel=rel, tail=tail, relations=rels,
                   tail_lo=torch.tensor([space.offset(c[2]) for c in rels], dtype=torch.int64),
                   tail_n=torch.tensor([graph.num_nodes(c[2]) for c in rels], dtype=torch.int64),
                   keys=torch.unique((rel * n + head) * n + tail), num_nodes=n)


def corrupt_tails(kg: Triples, head: Tensor, rel: Tensor, generator: torch.Generator | None = None,
                  max_tries: int = 5) -> Tensor:
    """A random tail of the relation's tail type for each (head, rel), re-drawn while the triple is true.

    Vectorised rejection over rounds; a triple still true after ``max_tries`` (a head linked to almost every
    node of the tail type, e.g. a gender) keeps its last draw.
    """
    def draw(r: Tensor) -> Tensor:
        u = torch.rand(r.shape, generator=generator, device=r.device)
        return kg.tail_lo[r] + (u * kg.tail_n[r]).long().clamp_max_(kg.tail_n[r] - 1)

    tail = draw(rel)
    todo = torch.nonzero(kg.contains(head, rel, tail)).squeeze(1)
    for _ in range(max_tries):
        if todo.numel() == 0:
            break
        tail[todo] = draw(rel[todo])
        todo = todo[kg.contains(head[todo], rel[todo], tail[todo])]
    return tail


def _slice(parts: tuple[Tensor, ...], shard: tuple[int, int] | None) -> tuple[Tensor, ...]:
    """This rank's ``[rank::world]`` slice of a batch drawn in full on every rank (data-parallel training)."""
    return parts if shard is None else tuple(p[shard[0]::shard[1]] for p in parts)


def kg_batches(kg: Triples, batch_size: int, generator: torch.Generator | None = None, *,
               shard: tuple[int, int] | None = None):
    """One epoch of ``(head, rel, tail, corrupted_tail)`` batches: every triple once, shuffled
    (``shard=(rank, world)``: this rank's slice of each batch, as ``bpr_batches``)."""
    perm = torch.randperm(len(kg), generator=generator, device=kg.head.device)
    for start in range(0, len(kg), batch_size):
        sel = perm[start:start + batch_size]
        h, r, t = kg.head[sel], kg.rel[sel], kg.tail[sel]
        yield _slice((h, r, t, corrupt_tails(kg, h, r, generator)), shard)


def kg_sample(kg: Triples, size: int, generator: torch.Generator | None = None, *,
              shard: tuple[int, int] | None = None):
    """``size`` triples drawn uniformly with replacement, with corrupted tails (for a joint CF + KG step)."""
    sel = torch.randint(len(kg), (size,), generator=generator, device=kg.head.device)
    h, r, t = kg.head[sel], kg.rel[sel], kg.tail[sel]
    return _slice((h, r, t, corrupt_tails(kg, h, r, generator)), shard)


def train_index(artifact, device: torch.device | str = "cpu") -> InteractionIndex:
    users, items = artifact.pairs("train")
    return InteractionIndex(users, items, artifact.num_users, artifact.num_items, device=device)


def validate(artifact, user_emb: Tensor, item_emb: Tensor, exclude: InteractionIndex) -> dict:
    """Validation metrics of dot-product scores, full ranking with train items masked (the early-stop signal).

    On a ``--split cold-items`` graph the candidates are the cold items (every validation target is one), as in
    fine-tuning: ranked among all items, an untrained cold item scores ~0 for every method and stops training early.
    """
    cand = None
    if artifact.manifest.get("dataset", {}).get("split") == "cold-items":
        cand = torch.bincount(exclude.col.cpu(), minlength=artifact.num_items) == 0
    metrics = evaluate((user_emb, item_emb), artifact.pairs("valid"), exclude, num_items=artifact.num_items,
                       ks=(10, 20), candidates=cand)
    return {k: metrics[k] for k in ("ndcg@10", "hit@10", "ndcg@20", "hit@20", "mrr@10")}


def detach_cpu(tree):
    """Deep copy of a nested dict of tensors, detached and on CPU (the kept best embeddings)."""
    if isinstance(tree, dict):
        return {k: detach_cpu(v) for k, v in tree.items()}
    return tree.detach().to("cpu", copy=True) if torch.is_tensor(tree) else copy.deepcopy(tree)


def fit(cfg: PretrainConfig, artifact, *, train_epoch: Callable[[int], dict],
        user_item: Callable[[], tuple[Tensor, Tensor]], export: Callable[[], dict], device: torch.device,
        log: Log | None = None) -> PretrainResult:
    """The epoch loop every method shares: train, validate every ``eval_every`` epochs, keep the best export.

    ``train_epoch(epoch)`` runs one epoch and returns its loss terms; ``user_item()`` gives the current user and
    item embeddings scored by dot product; ``export()`` the embeddings dict to keep when validation improves.
    Both run under ``torch.no_grad``. Stops after ``patience`` evaluations without a validation NDCG@10 gain.
    """
    say = log or (lambda _m: None)
    stop = EarlyStopping(patience=cfg.patience)
    exclude = train_index(artifact, device)
    history: list[dict] = []
    best_export, best_row = None, {}
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        row = {"epoch": epoch, **distributed.mean_over_ranks({k: float(v) for k, v in train_epoch(epoch).items()})}
        row["train_s"] = round(time.perf_counter() - t0, 3)
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            with torch.no_grad():  # torchrun: rank 0 validates, every rank gets its metrics (same stop decision)
                metrics = distributed.on_main(lambda: validate(artifact, *user_item(), exclude))()
                row.update({f"val_{k}": v for k, v in metrics.items()})
                if stop.step(row["val_ndcg@10"], epoch):
                    best_export, best_row = detach_cpu(export()), dict(row)
        history.append(row)
        say(f"epoch {epoch:3d}  " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()
                                              if k not in ("epoch", "train_s") and isinstance(v, float))
            + f"  ({row['train_s']:.1f}s)")
        if stop.should_stop:
            say(f"early stop: no validation NDCG@10 gain for {cfg.patience} evaluations")
            break
    best = {k: v for k, v in best_row.items() if k.startswith("val_")}
    best["epoch"] = stop.best_epoch
    best["epochs_run"] = len(history)
    return PretrainResult(embeddings=best_export, history=history, best=best)
