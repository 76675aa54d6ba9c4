"""What every pretraining method takes and returns (the stage and the methods share it)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class PretrainConfig:
    """Options of ``hetrec pretrain``; defaults live here once. Method-specific fields say which method reads them."""

    method: str = "rgcn"              # rgcn | kgat | ramgnn
    dim: int = 64                     # embedding size of every node type
    layers: int = 2                   # message-passing layers
    epochs: int = 50                  # upper bound; early stopping usually ends sooner
    batch_size: int = 4096            # BPR triples (and KG triples) per step
    lr: float = 1e-3
    reg: float = 1e-4                 # L2 on the batch's embeddings
    patience: int = 5                 # evaluations without validation NDCG@10 gain before stopping
    eval_every: int = 1               # epochs between validation evaluations
    mode: str = "full"                # full: one full-graph propagation per step; sampled: DGL neighbor blocks
    fanouts: tuple[int, ...] = (10, 10)  # neighbours per layer in sampled mode
    seed: int = 0
    kg_weight: float = 1.0            # R-GCN: weight of the link-prediction (KG) term next to BPR
    # R-GCN
    num_bases: int = 0                # basis decomposition: 0 = one weight per relation
    # KGAT
    kg_batch_size: int = 4096         # TransR triples per KG step
    # RAM-GNN
    compose: str = "corr"             # add | mul | corr (circular correlation)
    attention: bool = True            # relation-level attention (False = the RAM-RNS ablation)
    rns: bool = True                  # reinforced neighbor sampler (False = the RAM-rel ablation)
    sim_weight: float = 0.1           # lambda of the similarity loss
    rns_epsilon: float = 0.02         # bandit step for the per-relation top-k thresholds
    neighbors: int = 10               # same-value neighbours sampled per relation per item


@dataclass
class PretrainResult:
    """``embeddings`` follows the init contract of docs/architecture.md: ``{"node": {ntype: layer-0 Tensor},
    "final": {ntype: Tensor}, "relation": {name: Tensor}, "modules": {...}, "method", "dim"}``."""

    embeddings: dict
    history: list[dict] = field(default_factory=list)   # one row per epoch: loss terms, val metrics, seconds
    best: dict = field(default_factory=dict)            # best validation metrics and epoch
    extra_files: dict[str, list[dict]] = field(default_factory=dict)  # e.g. {"thresholds.csv": rows}

    def to(self, device: torch.device) -> "PretrainResult":
        move = lambda d: {k: (move(v) if isinstance(v, dict) else v.to(device) if torch.is_tensor(v) else v)  # noqa: E731
                          for k, v in d.items()}
        return PretrainResult(move(self.embeddings), self.history, self.best, self.extra_files)
