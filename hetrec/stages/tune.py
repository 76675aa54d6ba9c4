"""``finetune --tune``: train a BPR model at every point of a small grid, keep the one validation likes best.

Why a directory of real runs: each grid point is an ordinary ``finetune`` run in ``.<out>.tune/<point>/`` (with its
own per-epoch checkpoint), so an interrupted tune loses at most one epoch: rerunning the same command reuses the
finished points and resumes the interrupted one. When every point is done, the winner's files are copied into
``--out`` atomically, its manifest keeps the requested configuration (``tune: true``) and records every point's
validation NDCG@10 and the chosen one, and the tune directory is removed. Nothing is ever picked on test.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

from hetrec.artifacts import MANIFEST, atomic_dir, write_manifest
from hetrec.errors import HetrecError

__all__ = ["GRIDS", "tune_dir", "tune"]

_RATES = (1e-3, 5e-3, 1e-2)
GRIDS: dict[str, list[dict]] = {
    "lightgcn": [{"lr": r} for r in _RATES],
    "mf": [{"lr": r} for r in _RATES],
    "ramgnn": [{"lr": r} for r in _RATES],
    # the regularisers of the inductive model, each on or off at the weight the benchmarks fixed in advance
    "lightgcn-attr": [{"cl_weight": c, "kgcl_weight": k, "kg_weight": g}
                      for c in (0.0, 0.1) for k in (0.0, 0.1) for g in (0.0, 0.1)],
}
COPIED = ("checkpoint.pt", "final_embeddings.pt", "train_log.csv", "metrics.json")


def tune_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.parent / f".{out.name}.tune"


def _name(point: dict) -> str:
    return "_".join(f"{k}={v:g}" for k, v in point.items())


def tune(cfg, run: Callable, *, log: Callable[[str], None] | None = None, progress=None) -> dict:
    """Run ``run(cfg at each grid point)`` (``finetune.run`` without ``tune``), then write the winner to
    ``cfg.out``; returns the winner's summary with ``tune`` (grid and choice) added."""
    from hetrec.stages.finetune import STAGE, partial_dir

    say = log or (lambda _m: None)
    grid = GRIDS.get(cfg.model)
    if grid is None:
        raise HetrecError(f"--tune: no grid for --model {cfg.model}; tunable: {', '.join(GRIDS)} "
                          "(closed forms always pick their grid point on validation)")
    work = tune_dir(cfg.out)
    work.mkdir(parents=True, exist_ok=True)
    points, best = [], None
    for k, point in enumerate(grid):
        out = work / _name(point)
        if (out / MANIFEST).is_file():
            summary = {"metrics": json.loads((out / "metrics.json").read_text())}
            say(f"tune {k + 1}/{len(grid)} {point}: reused {out}")
        else:
            say(f"tune {k + 1}/{len(grid)} {point}")
            summary = run(replace(cfg, tune=False, out=out, force=False, resume=partial_dir(out).is_dir(),
                                  **point), log=log, progress=progress)
        score = summary["metrics"]["val"].get("ndcg@10", float("nan"))
        points.append({**point, "val_ndcg@10": score})
        if best is None or score > best[0]:
            best = (score, point, out)
    score, point, winner = best
    if len({p["val_ndcg@10"] for p in points}) == 1:
        say(f"tune: validation cannot tell the grid points apart (all {score:.4f}); keeping the first")
    manifest = json.loads((winner / MANIFEST).read_text())
    with atomic_dir(cfg.out, force=cfg.force, stage=STAGE, inputs=(cfg.graph, cfg.init)) as tmp:
        for name in COPIED:
            shutil.copy2(winner / name, tmp / name)
        extra = {k: v for k, v in manifest.items()
                 if k not in ("schema_version", "stage", "fingerprint", "config", "inputs", "versions", "created",
                              "counts", "metrics")}
        write_manifest(tmp, stage=STAGE, config=cfg.resolved(), inputs=manifest["inputs"], counts=manifest["counts"],
                       metrics=manifest["metrics"], **extra,
                       tune={"grid": points, "chosen": point, "selected_on": "val ndcg@10"})
    shutil.rmtree(work, ignore_errors=True)
    say(f"wrote {cfg.out} (tuned on validation: {point}, val ndcg@10 {score:.4f})")
    return {**manifest.get("training", {}), "out": str(cfg.out), "model": cfg.model, "device": manifest.get("device"),
            "wall_s": manifest.get("wall_s"), "metrics": manifest["metrics"], "tune": {"grid": points, "chosen": point}}
