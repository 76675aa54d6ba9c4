"""ML-100K quality and speed: most-popular, BPR-MF and LightGCN trained from scratch with `hetrec finetune`.

Builds the ML-100K graph (leave-one-out by time, implicit), trains each model with early stopping on
validation NDCG@10 (patience 10, dim 64) and prints test Hit@10, NDCG@10, MRR@10, Hit@20, NDCG@20 with
seconds per epoch and total wall time, plus the machine, versions and commit. Full ranking over all items,
train items masked (and the validation item on test): the protocol of the RecBole peers in
../shared/data/README.md.

    python bench/finetune_ml100k.py --data ../shared/data/ml-100k --work /tmp/bench_ft --threads 1
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import hetrec  # noqa: F401  (DGL shim before dgl)
import dgl
import torch

from hetrec.stages.build_graph import BuildGraphConfig
from hetrec.stages.build_graph import run as build_graph
from hetrec.stages.finetune import FinetuneConfig
from hetrec.stages.finetune import run as finetune

COLUMNS = ("hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20")
REFERENCE = {  # test split, same protocol (../shared/data/README.md); the paper's LightGCN row for context
    "RecBole BPR-MF": (0.1177, 0.0615, 0.0448, 0.1930, 0.0803, 0.29),
    "RecBole LightGCN": (0.0944, 0.0476, 0.0334, 0.1516, 0.0620, 2.72),
    "paper LightGCN": (0.151, 0.079, None, 0.224, 0.094, None),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k")
    p.add_argument("--work", type=Path, default=Path("/tmp/hetrec_bench_ft"))
    p.add_argument("--models", nargs="+", default=["popular", "mf", "lightgcn"])
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--mf-lr", type=float, default=None, help="MF learning rate (default: --lr)")
    p.add_argument("--reg", type=float, default=1e-4)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data.is_dir():
        sys.exit(f"{args.data}: ML-100K not found (see ../shared/data/README.md)")

    graph = args.work / "graph"
    if not graph.exists():
        t = time.perf_counter()
        build_graph(BuildGraphConfig(data=args.data, out=graph, dataset="ml-100k"))
        print(f"built {graph} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    rows = []
    for model in args.models:
        lr = args.mf_lr if model == "mf" and args.mf_lr else args.lr
        cfg = FinetuneConfig(graph=graph, out=args.work / model, model=model, dim=64, layers=args.layers, lr=lr,
                             reg=args.reg, batch_size=args.batch_size, epochs=args.epochs, patience=args.patience,
                             seed=args.seed, device=args.device, force=True)
        t = time.perf_counter()
        s = finetune(cfg)
        total = time.perf_counter() - t
        test = s["metrics"]["test"]
        rows.append([f"hetrec {model}", *(test[c] for c in COLUMNS),
                     f"{s['seconds_per_epoch']:.2f}" if s["epochs_run"] else "-",
                     f"{s['best_epoch']}/{s['epochs_run']}", f"{total:.1f}"])
        print(f"{model}: done in {total:.1f}s", file=sys.stderr)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}, device {args.device}; torch {torch.__version__}, "
          f"dgl {dgl.__version__}; commit {commit}; {time.strftime('%Y-%m-%d')}")
    print(f"settings: dim 64, layers {args.layers}, lr {args.lr}" + (f" (mf {args.mf_lr})" if args.mf_lr else "")
          + f", reg {args.reg}, batch {args.batch_size}, patience {args.patience}, seed {args.seed}")
    head = ["model", "Hit@10", "NDCG@10", "MRR@10", "Hit@20", "NDCG@20", "s/epoch", "best/epochs", "total s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else ("-" if v is None else str(v))  # noqa: E731
    for r in rows:
        print("| " + " | ".join(fmt(v) for v in r) + " |")
    for name, ref in REFERENCE.items():
        print("| " + " | ".join([name, *(fmt(v) for v in ref[:5]), fmt(ref[5]), "-", "-"]) + " |")


if __name__ == "__main__":
    main()
