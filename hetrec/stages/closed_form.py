"""Stage ``finetune`` for the closed forms (EASE, ItemKNN, GF-CF, attrknn, EASE-SI): fit every grid point, score
it on validation, keep the best. Split from :mod:`hetrec.stages.finetune`, which trains the BPR models."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from hetrec.artifacts import atomic_dir, file_fingerprint, write_json, write_manifest
from hetrec.errors import HetrecError
from hetrec.evaluator.protocol import candidates_of, evaluate_scores
from hetrec.sampler.bpr import InteractionIndex
from hetrec.stages.finetune import EMBEDDINGS, LOG, METRICS, STAGE, FinetuneConfig, unscorable_items

__all__ = ["run_closed_form"]


def run_closed_form(cfg: FinetuneConfig, artifact, device: torch.device, say: Callable[[str], None]) -> dict:
    """Fit a closed-form item–item model: every grid point scored on validation NDCG@10, the best one kept.

    No epochs, no checkpoint to resume: a fit takes seconds. The grid, each point's validation metrics and the
    chosen point go into the manifest; ``final_embeddings.pt`` stores the item–item weights.
    """
    from hetrec.graph.matrices import interaction_matrix, item_side_matrix
    from hetrec.model.closed_form import ItemItemScorer, fit_weights

    n_u, n_i = artifact.num_users, artifact.num_items
    train = InteractionIndex(*artifact.pairs("train"), n_u, n_i, device=device)
    unscorable = unscorable_items(cfg.model, artifact, train)
    t0 = time.perf_counter()
    try:
        x = interaction_matrix(artifact.graph, artifact.item_type, device)
        side = None
        if cfg.model in ("attrknn", "ease-si"):
            side, _ = item_side_matrix(artifact.graph, artifact.item_type, device)
        points = list(fit_weights(cfg.model, x, side))
    except ValueError as e:
        raise HetrecError(f"--model {cfg.model}: {e}") from None
    has_valid = len(artifact.pairs("valid")[0]) > 0
    grid_log, best, best_w = [], None, None
    for params, make in points:
        t1 = time.perf_counter()
        w = make()
        fit_s = time.perf_counter() - t1
        score = float("nan")
        if has_valid and len(points) > 1:
            val = evaluate_scores(artifact, ItemItemScorer(train, w), "val", device=device, ks=(10, 20),
                                  candidates=candidates_of(artifact),
                                  train_index=train, unscorable=unscorable)
            score = val["ndcg@10"]
        grid_log.append({**params, "val_ndcg@10": score, "fit_seconds": round(fit_s, 3)})
        say(f"  {cfg.model} {params}: val ndcg@10 {score:.4f} ({fit_s:.1f}s)")
        if best is None or score > best:
            best, best_w, best_params = score, w, params
    scorer = ItemItemScorer(train, best_w)
    metrics = {split: evaluate_scores(artifact, scorer, split, device=device, train_index=train, unscorable=unscorable,
                                      candidates=candidates_of(artifact))
               for split in ("val", "test")}
    wall = time.perf_counter() - t0
    w = best_w.to("cpu", torch.float32)
    stored = ({"item_item_indices": w.indices(), "item_item_values": w.values()} if w.is_sparse
              else {"item_item": w})
    with atomic_dir(cfg.out, force=cfg.force, stage=STAGE, inputs=(cfg.graph,)) as tmp:
        torch.save({**stored, "unscorable": unscorable}, tmp / EMBEDDINGS)
        pd.DataFrame(grid_log).to_csv(tmp / LOG, index=False)
        write_json(tmp / METRICS, metrics)
        write_manifest(tmp, stage=STAGE, config=cfg.resolved(), inputs={"graph": artifact.fingerprint, "init": None},
                       counts={"users": n_u, "items": n_i, "train_pairs": train.nnz, "parameters": 0},
                       metrics=metrics, seed=cfg.seed, device=str(device), item_type=artifact.item_type,
                       paths={"graph": str(Path(cfg.graph).resolve()), "init": None},
                       closed_form={"grid": grid_log, "chosen": best_params, "selected_on": "val ndcg@10"},
                       training={"epochs_run": 0, "best_epoch": 0, "stopped_early": False, "resumed_from": None,
                                 "seconds_per_epoch": 0.0, "fit_seconds": round(wall, 3)},
                       embeddings_sha=file_fingerprint(tmp / EMBEDDINGS), wall_s=round(wall, 3))
    say(f"wrote {cfg.out} ({cfg.model} {best_params}, {wall:.1f}s)")
    return {"out": str(cfg.out), "model": cfg.model, "device": str(device), "epochs_run": 0, "best_epoch": 0,
            "stopped_early": False, "resumed_from": None, "seconds_per_epoch": 0.0, "wall_s": wall,
            "chosen": best_params, "metrics": metrics}
