"""Stage ``pretrain``: a graph artifact -> node embeddings from one pretraining method (R-GCN, KGAT, RAM-GNN).

Writes one atomic directory: ``embeddings.pt`` (docs/architecture.md, read by ``finetune --init``),
``train_log.csv`` (one row per epoch), any method-specific tables as CSV, and ``manifest.json`` with the graph
fingerprint under ``inputs`` so finetune can refuse embeddings made on another graph.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from hetrec.artifacts import atomic_dir, claim_output, file_fingerprint, write_manifest
from hetrec.device import resolve_device, seed_everything
from hetrec.errors import HetrecError
from hetrec.pretrain.common import check_config
from hetrec.pretrain.config import PretrainConfig
from hetrec.trainer import distributed

STAGE = "pretrain"
EMBEDDINGS, LOG = "embeddings.pt", "train_log.csv"


@dataclass(frozen=True)
class PretrainStageConfig:
    graph: Path  # build-graph artifact directory
    out: Path  # artifact directory to write
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # method and its options
    device: str = "auto"  # auto | cpu | cuda
    force: bool = False  # replace an existing --out

    def resolved(self) -> dict:
        """Settings that shape the embeddings (paths, device and --force excluded)."""
        d = dataclasses.asdict(self.pretrain)
        d["fanouts"] = list(d["fanouts"])
        return d


def _methods() -> dict:
    from hetrec.pretrain import PRETRAIN

    return PRETRAIN


def _rows(tables: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    bad = [name for name in tables if not name.endswith(".csv") or "/" in name or name in (LOG,)]
    if bad:
        raise ValueError(f"extra files must be plain *.csv names other than {LOG}, got {bad}")
    return {name: pd.DataFrame(rows) for name, rows in tables.items()}


def _check_embeddings(emb: dict, artifact, dim: int, method: str) -> None:
    """The contract finetune relies on: a [num_nodes, dim] table for every node type."""
    node = emb.get("node") if isinstance(emb, dict) else None
    if not isinstance(node, dict):
        raise RuntimeError(f"pretrain method {method!r} returned no embeddings['node'] dict")
    for t in artifact.graph.ntypes:
        x = node.get(t)
        if x is None or tuple(x.shape) != (artifact.graph.num_nodes(t), dim) or not bool(torch.isfinite(x).all()):
            raise RuntimeError(f"pretrain method {method!r}: embeddings['node'][{t!r}] is missing, "
                               f"mis-shaped or not finite (expected [{artifact.graph.num_nodes(t)}, {dim}])")


@distributed.launched  # under torchrun: data-parallel over ranks, rank 0 writes (hetrec/trainer/distributed.py)
def run(cfg: PretrainStageConfig, *, log: Callable[[str], None] | None = None) -> dict:
    """Pretrain, then write the artifact; returns a summary (best validation metrics, epochs, wall time)."""
    say = log or (lambda _m: None)
    methods = _methods()
    pc = cfg.pretrain
    if pc.method not in methods:
        raise HetrecError(f"--method {pc.method}: unknown; use one of {', '.join(methods)}")
    check_config(pc)
    with distributed.main_only(claim_output(cfg.out, stage=STAGE, force=cfg.force, inputs=(cfg.graph,))):
        return _run(cfg, pc, methods, say)


def _run(cfg: PretrainStageConfig, pc: PretrainConfig, methods: dict, say: Callable[[str], None]) -> dict:
    from hetrec.graph.artifact import load_graph_artifact

    out = Path(cfg.out)
    artifact = load_graph_artifact(cfg.graph)
    device = resolve_device(cfg.device)
    seed_everything(pc.seed, device)
    say(f"pretraining {pc.method} ({pc.mode}, dim {pc.dim}, {pc.layers} layers) on {cfg.graph} [{device}] ...")
    t0 = time.perf_counter()
    result = methods[pc.method](artifact, pc, device, say)
    wall = time.perf_counter() - t0
    if result.embeddings is None:
        raise HetrecError(f"{pc.method}: no validation run happened (--epochs {pc.epochs}); nothing to keep")
    result = result.to(torch.device("cpu"))
    _check_embeddings(result.embeddings, artifact, pc.dim, pc.method)
    extra = _rows(result.extra_files)
    train_s = [r.get("train_s", 0.0) for r in result.history]
    summary = {"out": str(out), "method": pc.method, "mode": pc.mode, "device": str(device),
               "epochs_run": len(result.history), "best_epoch": result.best.get("epoch"),
               "seconds_per_epoch": sum(train_s) / len(train_s) if train_s else 0.0, "wall_s": round(wall, 3),
               "best": result.best}
    if not distributed.is_main():
        return summary
    with atomic_dir(out, force=cfg.force, stage=STAGE, inputs=(cfg.graph,)) as tmp:
        torch.save(result.embeddings, tmp / EMBEDDINGS)
        pd.DataFrame(result.history).to_csv(tmp / LOG, index=False)
        for name, frame in extra.items():
            frame.to_csv(tmp / name, index=False)
        node = result.embeddings["node"]
        write_manifest(tmp, stage=STAGE, config=cfg.resolved(), inputs={"graph": artifact.fingerprint},
                       counts={"nodes": {t: int(x.shape[0]) for t, x in node.items()}, "dim": pc.dim},
                       metrics=result.best, seed=pc.seed, device=str(device), method=pc.method,
                       item_type=artifact.item_type, paths={"graph": str(Path(cfg.graph).resolve())},
                       training={k: summary[k] for k in ("epochs_run", "best_epoch", "seconds_per_epoch")},
                       files=[EMBEDDINGS, LOG, *extra], embeddings_sha=file_fingerprint(tmp / EMBEDDINGS),
                       wall_s=round(wall, 3))
    say(f"wrote {out} ({summary['epochs_run']} epochs, best {summary['best_epoch']}, {wall:.1f}s)")
    return summary
