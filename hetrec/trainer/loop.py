"""The BPR fine-tuning loop: one explicit epoch loop shared by every recommender.

Why full-graph propagation per step: the train graph fits on the device, so each mini-batch of BPR triples
recomputes all user/item embeddings with one ``model(graph)`` call and back-propagates through the whole
propagation (LightGCN's original recipe). Validation runs every ``eval_every`` epochs with full ranking;
early stopping watches validation NDCG@10 and keeps a copy of the best weights.

Resumability: the loop's mutable state (:class:`LoopState`) is plain data and the caller's ``on_epoch`` hook
checkpoints it at every epoch boundary, together with the RNG states; an interrupted epoch restarts from its
beginning, so a resumed run replays exactly the batches an uninterrupted one would have drawn.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

import torch
from torch import Tensor, nn

from hetrec.errors import HetrecError
from hetrec.model.loss import bpr_loss
from hetrec.model.protocol import Recommender
from hetrec.sampler.bpr import InteractionIndex, bpr_batches
from hetrec.trainer import distributed
from hetrec.trainer.early_stop import EarlyStopping

MONITOR = "ndcg@10"  # validation metric for early stopping and best-model selection


@dataclass(frozen=True)
class LoopConfig:
    epochs: int = 300  # upper bound; early stopping usually ends sooner
    batch_size: int = 2048  # BPR triples per optimiser step
    lr: float = 1e-3  # Adam learning rate
    reg: float = 1e-4  # weight of model.reg_loss (L2 of the batch's layer-0 embeddings / batch size)
    patience: int = 10  # validations without improvement of val NDCG@10 before stopping
    eval_every: int = 1  # validate every N epochs (and after the last epoch)


@dataclass
class LoopState:
    """What the loop carries between epochs; ``state_dict`` holds only tensors and plain data."""

    patience: int = 10
    epoch: int = 0  # epochs completed
    stopper: EarlyStopping = field(default=None)  # type: ignore[assignment]
    history: list[dict] = field(default_factory=list)
    best_model: dict[str, Tensor] | None = None  # CPU copy of the best weights
    best_metrics: dict = field(default_factory=dict)
    stopped: bool = False  # early stopping fired

    def __post_init__(self) -> None:
        if self.stopper is None:
            self.stopper = EarlyStopping(patience=self.patience)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "early_stopping": self.stopper.state_dict(), "history": self.history,
                "best_model": self.best_model, "best_metrics": self.best_metrics, "stopped": self.stopped}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.history, self.stopped = int(state["epoch"]), list(state["history"]), bool(state["stopped"])
        self.stopper.load_state_dict(state["early_stopping"])
        self.best_model, self.best_metrics = state["best_model"], dict(state["best_metrics"])


Validate = Callable[[Tensor, Tensor], dict]
Progress = Callable[[str, int], ContextManager[Callable[..., None]]]


def _cpu_copy(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@torch.no_grad()
def embeddings(model: nn.Module, graph: Any) -> tuple[Tensor, Tensor]:
    """Final ``(user_emb, item_emb)`` in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    try:
        user_emb, item_emb = model(graph)
    finally:
        model.train(was_training)
    return user_emb.detach(), item_emb.detach()


def train_epoch(model: Recommender, graph: Any, index: InteractionIndex, optimizer: torch.optim.Optimizer,
                cfg: LoopConfig, generator: torch.Generator, *, epoch: int,
                on_batch: Callable[[int, int], None] | None = None, shard: tuple[int, int] | None = None) -> float:
    """One pass over the distinct train pairs in shuffled BPR mini-batches; returns the mean loss per triple.

    ``shard=(rank, world)``: data-parallel (hetrec/trainer/distributed.py); this rank trains on its slice of each
    global batch, weighted so that the gradients averaged over ranks equal the global batch's gradient.
    """
    model.train()
    if shard is not None:
        distributed.broadcast_parameters(model)  # every rank steps from rank 0's weights
    total = torch.zeros((), dtype=torch.float64, device=index.device)
    count = 0
    for b, (users, pos, neg) in enumerate(bpr_batches(index, cfg.batch_size, generator, shard=shard)):
        if on_batch is not None:
            on_batch(epoch, b)
        user_emb, item_emb = model(graph)
        u = user_emb[users]
        pos_scores = (u * item_emb[pos]).sum(-1)
        neg_scores = (u * item_emb[neg]).sum(-1)
        loss = bpr_loss(pos_scores, neg_scores)
        if cfg.reg:
            loss = loss + cfg.reg * model.reg_loss(users, pos, neg)
        aux = getattr(model, "aux_loss", None)  # e.g. a contrastive regulariser (hetrec/model/contrastive.py)
        if aux is not None:
            loss = loss + aux(graph, users, pos)
        weight = 1.0 if shard is None else shard[1] * users.numel() / min(cfg.batch_size, index.nnz - b * cfg.batch_size)
        optimizer.zero_grad(set_to_none=True)
        (loss * weight).backward()
        optimizer.step()
        if users.numel():
            total += loss.detach().to(torch.float64) * users.numel()
            count += users.numel()
    if shard is not None:
        total, count = distributed.sum_over_ranks(total, torch.tensor(count))
    mean = float(total) / max(float(count), 1)
    if not math.isfinite(mean):
        raise HetrecError(f"training diverged in epoch {epoch} (loss {mean}); lower --lr or raise --reg")
    return mean


def fit(model: Recommender, graph: Any, index: InteractionIndex, validate: Validate | None, cfg: LoopConfig, *,
        optimizer: torch.optim.Optimizer, generator: torch.Generator, state: LoopState | None = None,
        on_epoch: Callable[[LoopState], None] | None = None, on_batch: Callable[[int, int], None] | None = None,
        progress: Progress | None = None, shard: tuple[int, int] | None = None) -> LoopState:
    """Train until ``cfg.epochs`` or early stopping; returns the state with the best weights (CPU copy).

    Args:
        model: a :class:`hetrec.model.protocol.Recommender` (an ``nn.Module``), already on the training device.
        graph: the train heterograph handed to ``model`` (CPU, per docs/architecture.md).
        index: train (user, item) pairs on the training device; the source of BPR triples.
        validate: ``(user_emb, item_emb) -> metrics`` containing ``ndcg@10``; None = no validation
            (the last weights are the best).
        optimizer: built over ``model.parameters()`` (its state is part of the checkpoint).
        generator: on ``index.device``; drives shuffling and negatives.
        state: a restored :class:`LoopState` to continue from (resume); None starts at epoch 1.
        on_epoch: called after every completed epoch (the stage checkpoints here).
        on_batch: called as ``on_batch(epoch, batch)`` before each step (tests inject interrupts here).
        progress: ``hetrec.report.progress``-like factory for a bar over epochs; None = silent.
        shard: ``(rank, world)`` under torchrun (``distributed.shard()``): train on this rank's slice of every batch.
    """
    if cfg.epochs < 0 or cfg.batch_size <= 0 or cfg.eval_every <= 0 or cfg.patience <= 0:
        raise ValueError(f"invalid loop config {cfg}")
    state = state or LoopState(patience=cfg.patience)
    bar = progress("training", cfg.epochs) if progress is not None else nullcontext(lambda *a, **k: None)
    with bar as advance:
        if state.epoch:
            advance(state.epoch, info=_info(state))
        while state.epoch < cfg.epochs and not state.stopped:
            epoch = state.epoch + 1
            t0 = time.perf_counter()
            steps = getattr(advance, "steps", None)  # a terminal bar's second row: batches, then validation
            n_batches = -(-index.nnz // cfg.batch_size)

            def each_batch(ep: int, b: int) -> None:
                if on_batch is not None:
                    on_batch(ep, b)
                if steps is not None:
                    steps(f"epoch {ep} batches", b, n_batches)

            loss = train_epoch(model, graph, index, optimizer, cfg, generator, epoch=epoch, on_batch=each_batch,
                               shard=shard)
            if steps is not None:
                steps("validating", 0, 1)
            row: dict = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - t0}
            if validate is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                t1 = time.perf_counter()
                metrics = validate(*embeddings(model, graph))
                row["eval_seconds"] = time.perf_counter() - t1
                row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
                if state.stopper.step(float(metrics[MONITOR]), epoch):
                    state.best_model, state.best_metrics = _cpu_copy(model), dict(metrics)
                state.stopped = state.stopper.should_stop
            elif validate is None:
                state.best_model = _cpu_copy(model)
            state.history.append(row)
            state.epoch = epoch
            advance(1, info=_info(state))
            if on_epoch is not None:
                on_epoch(state)
    if state.best_model is None:  # no epoch ran (epochs=0) or no validation happened
        state.best_model = _cpu_copy(model)
    return state


def _info(state: LoopState) -> str:
    if not state.history:
        return ""
    row = state.history[-1]
    text = f"loss {row['loss']:.4f}"
    if f"val_{MONITOR}" in row:
        text += f"  val {MONITOR} {row[f'val_{MONITOR}']:.4f}"
    if state.stopper.best is not None:
        text += f"  best {state.stopper.best:.4f} @ {state.stopper.best_epoch}"
    return text
