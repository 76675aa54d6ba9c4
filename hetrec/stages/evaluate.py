"""Stage ``evaluate``: score finished runs on the validation or test split, side by side.

Protocol (DESIGN "Evaluation protocol", hetrec/evaluator/protocol.py): full ranking over all items; validation
masks the user's train items, test masks train items and the validation item. ``sampled`` ranks each target among N random
negatives instead (reported as ``sampled-N``: its figures are not comparable with full ranking).
Results are written beside each run as ``metrics_<split>.json`` (``metrics_<split>_sampled-N.json``)
through a temp file and ``os.replace``, so a reader never sees half a file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hetrec.artifacts import hold_lock, read_manifest, write_json
from hetrec.errors import HetrecError
from hetrec.sampler.bpr import InteractionIndex

from hetrec.evaluator.protocol import (CANDIDATES, PROTOCOLS, SPARSE_THRESHOLD, SPARSE_USER_THRESHOLD, SPLITS,
                                      evaluate_scores)


@dataclass(frozen=True)
class EvaluateConfig:
    runs: list[Path] = field(default_factory=list)  # finetune run directories
    split: str = "test"  # val | test
    ks: tuple[int, ...] = (10, 20, 50)  # cut-offs
    protocol: str = "full"  # full | sampled
    num_negatives: int = 99  # sampled protocol: negatives per target
    sparse_threshold: int = SPARSE_THRESHOLD  # sparse slice: target items with <= N train interactions
    sparse_user_threshold: int = SPARSE_USER_THRESHOLD  # sparse-user slice: users with <= N train interactions
    candidates: str = "all"  # all | cold (rank only items without train interactions)
    seed: int = 0  # sampled protocol: negative draws
    device: str = "auto"  # auto | cpu | cuda
    graph: Path | None = None  # override the graph path recorded in each run's manifest


def _check(cfg: EvaluateConfig) -> None:
    if not cfg.runs:
        raise HetrecError("no --run given; pass one or more finetune run directories")
    if cfg.split not in SPLITS:
        raise HetrecError(f"--split {cfg.split}: use val or test")
    if cfg.protocol not in PROTOCOLS:
        raise HetrecError(f"--protocol {cfg.protocol}: use one of {', '.join(PROTOCOLS)}")
    if not cfg.ks or min(cfg.ks) < 1:
        raise HetrecError(f"--k {' '.join(map(str, cfg.ks))}: cut-offs must be positive")
    from hetrec.checks import NONNEG_INT, POSITIVE_INT, SEED, numbers

    numbers(cfg, {"num_negatives": POSITIVE_INT, "sparse_threshold": NONNEG_INT, "sparse_user_threshold": NONNEG_INT,
                  "seed": SEED})
    if cfg.candidates not in CANDIDATES:
        raise HetrecError(f"--candidates {cfg.candidates}: use one of {', '.join(CANDIDATES)}")


def load_run(run: Path, graph: Path | None = None, graphs: dict | None = None) -> tuple[dict, Any, Any, Tensor | None]:
    """A finished finetune run: ``(manifest, graph artifact, scorer, unscorable)``, each checked against the others.

    scorer: ``(user_emb, item_emb)`` or a callable (see :func:`load_scorer`), on the CPU.

    graph: override the graph path the run recorded; graphs: a cache path -> artifact shared across runs.
    """
    from hetrec.graph.artifact import load_graph_artifact

    run = Path(run)
    if not run.is_dir():
        raise HetrecError(f"--run {run}: no such directory; pass a `hetrec finetune --out` directory")
    manifest = read_manifest(run, stage="finetune")
    recorded = (manifest.get("paths") or {}).get("graph") or manifest.get("config", {}).get("graph")
    if graph is None and not recorded:
        raise HetrecError(f"{run}/manifest.json records no graph path; pass --graph DIR")
    graph_path = Path(graph or recorded)
    graphs = {} if graphs is None else graphs
    if str(graph_path) not in graphs:
        graphs[str(graph_path)] = load_graph_artifact(graph_path)
    artifact = graphs[str(graph_path)]
    if artifact.fingerprint != manifest["inputs"].get("graph"):
        raise HetrecError(f"--run {run}: trained on graph {manifest['inputs'].get('graph')}, but {graph_path} "
                          f"is {artifact.fingerprint}; pass the run's graph with --graph")
    scorer, unscorable = load_scorer(run, artifact)
    return manifest, artifact, scorer, unscorable


def load_scorer(run: Path, artifact, device: torch.device | str = "cpu"):
    """``(scorer, unscorable)`` from a run's ``final_embeddings.pt`` (see docs/architecture.md, "Run artifact").

    Dot-product runs store ``user``/``item`` tables; item–item runs (closed forms) store ``item_item`` (dense)
    or ``item_item_indices``/``item_item_values`` (sparse) and score a user's train row with them. Either may
    store ``unscorable``: the items the model has no score for.
    """
    from hetrec.model.closed_form import ItemItemScorer

    emb_file = Path(run) / "final_embeddings.pt"
    if not emb_file.is_file():
        raise HetrecError(f"{emb_file}: missing; the run is incomplete, rerun finetune with --force")
    emb = torch.load(emb_file, map_location="cpu", weights_only=True)
    n_u, n_i = artifact.num_users, artifact.num_items
    unscorable = emb.get("unscorable")
    if unscorable is not None and tuple(unscorable.shape) != (n_i,):
        raise HetrecError(f"{emb_file}: 'unscorable' does not match the graph's {n_i} items; rerun finetune")
    if "item_item" in emb or "item_item_indices" in emb:
        if "item_item" in emb:
            w = emb["item_item"]
        else:
            w = torch.sparse_coo_tensor(emb["item_item_indices"], emb["item_item_values"], (n_i, n_i)).coalesce()
        if tuple(w.shape) != (n_i, n_i):
            raise HetrecError(f"{emb_file}: item-item weights do not match the graph's {n_i} items; rerun finetune")
        profile = InteractionIndex(*artifact.pairs("train"), n_u, n_i)
        return ItemItemScorer(profile, w.to(device)), unscorable
    user, item = emb.get("user"), emb.get("item")
    if user is None or item is None or user.shape[0] != n_u or item.shape[0] != n_i:
        raise HetrecError(f"{emb_file}: tables do not match the graph's {n_u} users and "
                          f"{n_i} items; rerun finetune")
    return (user.to(device), item.to(device)), unscorable


def _read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def run(cfg: EvaluateConfig) -> list[dict]:
    """One row per run (``run``, ``model``, ``init``, ``protocol``, metrics); writes metrics JSON beside each run."""
    from hetrec.device import resolve_device

    _check(cfg)
    device = resolve_device(cfg.device)
    graphs: dict = {}
    manifest_text = {Path(r): _read_or_none(Path(r) / "manifest.json") for r in cfg.runs}  # before loading
    loaded = [(Path(r), *load_run(Path(r), cfg.graph, graphs)) for r in cfg.runs]  # validate all before writing
    rows = []
    for run_dir, manifest, artifact, scorer, unscorable in loaded:
        scorer = tuple(t.to(device) for t in scorer) if isinstance(scorer, tuple) else scorer.to(device)
        metrics = evaluate_scores(artifact, scorer, cfg.split, device=device, ks=cfg.ks, protocol=cfg.protocol,
                                  num_negatives=cfg.num_negatives, sparse_threshold=cfg.sparse_threshold,
                                  sparse_user_threshold=cfg.sparse_user_threshold, candidates=cfg.candidates,
                                  unscorable=unscorable, seed=cfg.seed)
        suffix = ("" if cfg.protocol == "full" else f"_{metrics['protocol']}") + \
            ("" if cfg.candidates == "all" else f"_{cfg.candidates}")
        with hold_lock(run_dir):  # a finetune --force of this run waits its turn instead of replacing it under us
            if (run_dir / "manifest.json").read_text() != manifest_text[run_dir]:
                raise HetrecError(f"{run_dir} was replaced while it was being evaluated; evaluate it again")
            write_json(run_dir / f"metrics_{cfg.split}{suffix}.json", metrics)
        init = (manifest.get("paths") or {}).get("init")
        rows.append({"run": run_dir, "model": manifest["config"].get("model"),
                     "init": Path(init).name if init else "none", "split": cfg.split, **metrics})
    return rows
