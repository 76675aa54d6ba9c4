"""After a pipeline ran: the comparison table of its finetune stages and the PNG plots."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from hetrec.artifacts import read_manifest
from hetrec.pipeline.kinds import RESULTS
from hetrec.pipeline.spec import Pipeline

TABLE_METRICS = ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20")  # the comparison table's columns


def comparison_rows(pipe: Pipeline, split: str = "test") -> list[dict]:
    """One row per finetune stage: its test metrics (from the evaluate stage's table when present)."""
    evaluated: dict[str, dict] = {}
    for name in pipe.names("evaluate"):
        path = pipe.stage_dir(name) / RESULTS
        if path.is_file():
            evaluated.update({r["run"]: r for r in json.loads(path.read_text()) if r.get("split", split) == split})
    rows = []
    for name in pipe.names("finetune"):
        directory = pipe.stage_dir(name)
        if not (directory / "manifest.json").is_file():
            continue
        manifest = read_manifest(directory)
        metrics = evaluated.get(name) or (manifest.get("metrics") or {}).get(split, {})
        row = {"method": name.removeprefix("finetune.")}  # the stage name says model and init
        row.update({k: float(metrics[k]) for k in TABLE_METRICS if isinstance(metrics.get(k), (int, float))})
        row["epochs"] = (manifest.get("training") or {}).get("epochs_run")
        rows.append(row)
    return rows


def write_plots(pipe: Pipeline, rows: list[dict]) -> list[Path]:
    """``<out>/training_curves.png`` (pretrain and finetune logs) and ``<out>/test_metrics.png``."""
    from hetrec.plots import metric_bars, training_curves

    groups: dict[str, dict[str, Any]] = {}
    for kind in ("pretrain", "finetune"):
        for name in pipe.names(kind):
            log = pipe.stage_dir(name) / "train_log.csv"
            if log.is_file() and len(frame := pd.read_csv(log)):  # most-popular trains nothing
                groups.setdefault(kind, {})[name.removeprefix(f"{kind}.")] = frame
    paths = [training_curves(groups, pipe.out / "training_curves.png")]
    if rows:
        paths.append(metric_bars(rows, pipe.out / "test_metrics.png",
                                 title=f"{pipe.name}: test metrics (full ranking)"))
    return paths
