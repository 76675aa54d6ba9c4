"""Pretraining on ML-100K, then LightGCN fine-tuned from it: does pretraining help, and what does it cost?

For each seed and method (rgcn, kgat, and ramgnn when registered) it runs `pretrain`, then
`finetune --model lightgcn --init <pretrain>`, plus `finetune --init none`, all through the real stages, and
prints test Hit@10 / NDCG@10 / Hit@20 / NDCG@20 / MRR@10 (mean ± std over seeds) with the pretraining wall time.

    python bench/pretrain.py --data ../shared/data/ml-100k --seeds 0,1,2 --threads 1

A method may carry PretrainConfig overrides after a colon, for ablations:
``ramgnn:attention=false`` (RAM-RNS), ``ramgnn:rns=false`` (RAM-rel), ``ramgnn:compose=add``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import subprocess
import tempfile

from pathlib import Path

import torch

import hetrec
from hetrec import report
from hetrec.pretrain import PRETRAIN
from hetrec.pretrain.config import PretrainConfig
from hetrec.stages import build_graph, finetune, pretrain

METRICS = ("hit@10", "ndcg@10", "hit@20", "ndcg@20", "mrr@10")
REPO = Path(__file__).resolve().parents[1]


def mean_std(values: list[float]) -> str:
    if not values:
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {sd:.4f}"


def parse_method(spec: str) -> tuple[str, dict]:
    """``ramgnn:attention=false,compose=add`` -> ("ramgnn", {"attention": False, "compose": "add"})."""
    name, _, rest = spec.partition(":")
    types = {f.name: f.type for f in dataclasses.fields(PretrainConfig)}
    overrides = {}
    for item in filter(None, rest.split("+")):
        key, _, value = item.partition("=")
        kind = types[key]
        overrides[key] = (value.lower() in ("1", "true", "yes")) if kind in (bool, "bool") else \
            int(value) if kind in (int, "int") else float(value) if kind in (float, "float") else value
    return name, overrides


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-100k")
    ap.add_argument("--work", type=Path, default=None, help="Directory for artifacts (default: a temporary one).")
    ap.add_argument("--methods", default=",".join(m for m in ("rgcn", "kgat", "ramgnn") if m in PRETRAIN))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default).")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--pt-epochs", type=int, default=40)
    ap.add_argument("--pt-lr", type=float, default=5e-3)
    ap.add_argument("--pt-batch", type=int, default=4096)
    ap.add_argument("--pt-patience", type=int, default=5)
    ap.add_argument("--ft-epochs", type=int, default=300)
    ap.add_argument("--ft-lr", type=float, default=1e-3)
    ap.add_argument("--ft-patience", type=int, default=10)
    ap.add_argument("--ft-model", default="lightgcn", help="Finetune model: lightgcn | ramgnn | mf.")
    ap.add_argument("--reuse", action="store_true", help="Reuse pretraining artifacts already in --work.")
    ap.add_argument("--no-baseline", action="store_true", help="Skip finetune --init none.")
    ap.add_argument("--json", type=Path, default=None, help="Also write the per-seed results here.")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    methods = methods if args.no_baseline else [*methods, "none"]
    seeds = [int(s) for s in args.seeds.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-pretrain-"))
    graph = work / "graph"
    if not graph.exists():
        build_graph.run(build_graph.BuildGraphConfig(data=args.data, out=graph, dataset="ml-100k"))

    results: dict[str, dict[str, list[float]]] = {}
    for seed in seeds:
        for method in methods:
            row = results.setdefault(method, {m: [] for m in (*METRICS, "pretrain_s", "val_ndcg@10", "epochs")})
            init = None
            if method != "none":
                init = work / f"pt-{method.replace(':', '-').replace('=', '_')}-{seed}"
                name, overrides = parse_method(method)
                cfg = PretrainConfig(method=name, dim=args.dim, epochs=args.pt_epochs, lr=args.pt_lr,
                                     batch_size=args.pt_batch, patience=args.pt_patience, seed=seed, **overrides)
                if args.reuse and (init / "manifest.json").exists():
                    m = json.loads((init / "manifest.json").read_text())
                    s = {"best": m["metrics"], "epochs_run": m["training"]["epochs_run"], "wall_s": m["wall_s"]}
                else:
                    s = pretrain.run(pretrain.PretrainStageConfig(graph=graph, out=init, pretrain=cfg,
                                                                  device=args.device, force=True), log=report.message)
                row["pretrain_s"].append(s["wall_s"])
                row["val_ndcg@10"].append(s["best"]["val_ndcg@10"])
                row["epochs"].append(s["epochs_run"])
            ft = finetune.run(finetune.FinetuneConfig(graph=graph, out=work / f"ft-{args.ft_model}-{method.replace(':', '-').replace('=', '_')}-{seed}",
                                                      init=init, model=args.ft_model,
                                                      dim=args.dim, lr=args.ft_lr, epochs=args.ft_epochs,
                                                      patience=args.ft_patience, seed=seed, device=args.device,
                                                      force=True))
            for m in METRICS:
                row[m].append(ft["metrics"]["test"][m])
            report.message(f"seed {seed} {method}: " + " ".join(f"{m} {row[m][-1]:.4f}" for m in METRICS))
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))

    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    title = (f"ML-100K LOO test, {args.ft_model} finetuned from each pretraining ({len(seeds)} seeds); "
             f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
             f"{torch.__version__}, dgl {__import__('dgl').__version__}, hetrec {hetrec.__version__} @ {commit}")
    rows = [{"init": m, **{k: mean_std(r[k]) for k in METRICS},
             "pretrain val ndcg@10": mean_std(r["val_ndcg@10"]),
             "pretrain epochs": mean_std(r["epochs"]).replace(".0000", ""),
             "pretrain s": mean_std(r["pretrain_s"])} for m, r in results.items()]
    print(title)  # a markdown table, ready for docs/benchmarks.md
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
