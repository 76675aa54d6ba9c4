"""Benchmark data-parallel training: 1 process vs ``torchrun --nproc-per-node 2`` on this CPU, side by side.

Fine-tuning (LightGCN, BPR, full-graph propagation per step): training triples per second. Sampled pretraining
(R-GCN, ``--mode sampled``, DGL neighbour blocks per rank): BPR seed triples per second (each triple seeds its
user, positive and negative item, plus the sharded KG sample). Each configuration runs ``--epochs`` epochs in a
fresh process group; the figure is the median over epochs 2.. of the train-log seconds (epoch 1 is warm-up),
validation excluded. Every worker runs with OMP_NUM_THREADS=1.

    hetrec build-graph --dataset ml-100k --data ../shared/data/ml-100k --out /tmp/ml100k-graph
    python bench/distributed.py --graph /tmp/ml100k-graph
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def run(kind: str, procs: int, graph: str, epochs: int, out: Path) -> dict:
    args = (["finetune", "--model", "lightgcn", "--batch-size", "2048", "--lr", "1e-2"] if kind == "finetune" else
            ["pretrain", "--method", "rgcn", "--mode", "sampled", "--fanouts", "10,10", "--batch-size", "4096"])
    launcher = [sys.executable, "-m", "hetrec"] if procs == 1 else \
        [str(Path(sys.executable).with_name("torchrun")), "--nnodes", "1", "--nproc-per-node", str(procs),
         "--master-addr", "127.0.0.1", "--master-port", "29533", "-m", "hetrec"]
    cmd = launcher + args + ["--graph", graph, "--out", str(out), "--epochs", str(epochs), "--patience", "100",
                             "--device", "cpu", "--seed", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    log = pd.read_csv(out / "train_log.csv")
    col = "seconds" if "seconds" in log else "train_s"
    sec = statistics.median(log[col].iloc[1:]) if len(log) > 1 else float(log[col].iloc[0])
    n = json.loads((Path(graph) / "manifest.json").read_text())["splits"]["train"]
    val = log[[c for c in log if c.endswith("ndcg@10")][0]].iloc[-1]
    return {"s/epoch": sec, "rate": n / sec, "val_ndcg@10": float(val)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", required=True)
    ap.add_argument("--epochs", type=int, default=4)
    a = ap.parse_args()
    import torch

    import hetrec  # noqa: F401
    import dgl

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible "
          f"(sched_getaffinity: {len(os.sched_getaffinity(0))}), shared with other jobs; torch {torch.__version__}, "
          f"DGL {dgl.__version__}, commit {commit}, OMP_NUM_THREADS=1 per process")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, unit in (("finetune", "triples/s"), ("pretrain", "seed triples/s")):
            base = None
            for procs in (1, 2):
                r = run(kind, procs, a.graph, a.epochs, Path(tmp) / f"{kind}{procs}")
                base = base or r["rate"]
                rows.append((f"{'LightGCN finetune' if kind == 'finetune' else 'R-GCN sampled pretrain'}", procs,
                             r["s/epoch"], f"{r['rate']:,.0f} {unit}", r["rate"] / base, r["val_ndcg@10"]))
    print("| workload | processes | s/epoch (median) | throughput | speed-up | val NDCG@10 after the epochs |")
    print("|---|---|---|---|---|---|")
    for w, p, s, t, x, v in rows:
        print(f"| {w} | {p} | {s:.2f} | {t} | {x:.2f}× | {v:.4f} |")


if __name__ == "__main__":
    main()
