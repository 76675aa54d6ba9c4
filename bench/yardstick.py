"""The yardstick: every method side by side on a split that can see side information work, over seeds of the split.

For each seed it builds the graph (``--split random|cold-items|loo``), then runs every method named in
``--methods`` through the real stages (``pretrain``, ``finetune``) and scores the test split with ``evaluate``:
for a cold-items split both with candidates = the cold items (strict cold start) and = all items. It prints
one table per candidate set: mean ± std over seeds of Recall@20, NDCG@20, Hit@10, NDCG@10, the mean standard
error of NDCG@20 within a seed (per-user spread), users evaluated, and seconds per epoch / fit. Rows are
appended to ``--json`` as they finish, so an interrupted run keeps what it measured (``--reuse`` skips them).

    python bench/yardstick.py --dataset kg --data ../shared/data/lastfm-kg --split random --seeds 0,1,2 \\
        --work /tmp/ys/lastfm --json docs/results/lastfm-warm.jsonl
    python bench/yardstick.py --dataset kg --data ../shared/data/lastfm-kg --split cold-items --seeds 0,1,2 ...

A method is ``MODEL`` (a finetune model), ``MODEL+cl`` (SimGCL weight 0.1), ``MODEL+kg`` (joint KG loss 0.1),
``MODEL+drop`` (ID dropout 0.5), ``MODEL+kgcl`` (KG-view contrastive weight 0.1, edge drop 0.2),
``MODEL+rel`` (the relation encoder: a trainable W_r per relation), ``MODEL+att`` (KGAT's attention encoder), ``MODEL+att+transr`` (KGAT's TransR as the joint KG loss, 0.1),
or ``PRETRAIN>MODEL[+...]`` (finetune from that pretraining, e.g. ``kgat>lightgcn``). Nothing is tuned on test:
closed forms pick their grid point on validation, GNNs early-stop on validation, every other setting is fixed.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import hetrec
from hetrec import report
from hetrec.pretrain.config import PretrainConfig
from hetrec.stages import build_graph, evaluate, finetune, pretrain

DEFAULT_METHODS = ("popular,ease,itemknn,gfcf,attrknn,ease-si,mf,lightgcn,lightgcn-attr,lightgcn-attr+cl,"
                   "rgcn>lightgcn,kgat>lightgcn,ramgnn>lightgcn,rgcn>lightgcn-attr+cl,kgat>lightgcn-attr+cl,"
                   "ramgnn>lightgcn-attr+cl")
COLUMNS = ("recall@20", "ndcg@20", "hit@10", "ndcg@10")
VARIANTS = {"cl": {"cl_weight": 0.1}, "kg": {"kg_weight": 0.1}, "drop": {"id_dropout": 0.5},
            "kgcl": {"kgcl_weight": 0.1}, "rel": {"encoder": "relation"}, "att": {"encoder": "attention"},
            "transr": {"kg_weight": 0.1, "kg_loss": "transr"}}


def parse(method: str) -> tuple[str | None, str, dict]:
    """``kgat>lightgcn-attr+cl`` -> ("kgat", "lightgcn-attr", {"cl_weight": 0.1})."""
    pre, _, rest = method.rpartition(">")
    model, *variants = rest.split("+")
    options = {}
    for v in variants:
        options.update(VARIANTS[v])
    return pre or None, model, options


def run_seed(args, seed: int, methods: list[str], done: set, out_rows: list) -> None:
    work = Path(args.work) / f"seed{seed}"
    graph = work / "graph"
    if not graph.exists():
        build_graph.run(build_graph.BuildGraphConfig(
            data=Path(args.data), out=graph, dataset=args.dataset, split=args.split, seed=seed,
            valid_frac=args.valid_frac, test_frac=args.test_frac, cold_frac=args.cold_frac))
    candidates = ("cold", "all") if args.split == "cold-items" else ("all",)
    pretrained: dict[str, Path] = {}
    for method in methods:
        if all((method, seed, c) in done for c in candidates):
            continue
        pre, model, options = parse(method)
        t0 = time.perf_counter()
        init, pre_s = None, 0.0
        if pre is not None:
            if pre not in pretrained:
                out = work / f"pretrain.{pre}"
                if not out.exists():
                    t1 = time.perf_counter()
                    pretrain.run(pretrain.PretrainStageConfig(graph=graph, out=out, device="cpu", pretrain=PretrainConfig(
                        method=pre, seed=seed, lr=args.pretrain_lr, patience=args.pretrain_patience)))
                    pre_s = time.perf_counter() - t1
                pretrained[pre] = out
            init = pretrained[pre]
        run_dir = work / method.replace(">", "_")
        if not run_dir.exists():
            summary = finetune.run(finetune.FinetuneConfig(graph=graph, out=run_dir, model=model, init=init,
                                                           seed=seed, device="cpu", patience=args.patience,
                                                           **options))
        else:
            summary = None
        wall = time.perf_counter() - t0
        manifest = json.loads((run_dir / "manifest.json").read_text())
        training = manifest.get("training", {})
        for cand in candidates:
            rows = evaluate.run(evaluate.EvaluateConfig(runs=[run_dir], ks=(10, 20), candidates=cand, device="cpu"))
            m = rows[0]
            row = {"method": method, "seed": seed, "candidates": cand, "n_users": m["n_users"],
                   "n_targets": m["n_targets"], "n_candidates": m["n_candidates"],
                   "se/ndcg@20": m.get("se/ndcg@20"), "epochs": training.get("epochs_run"),
                   "s_per_epoch": training.get("seconds_per_epoch"), "fit_s": training.get("fit_seconds"),
                   "pretrain_s": round(pre_s, 2), "wall_s": round(wall, 2) if summary else None,
                   "chosen": (manifest.get("closed_form") or {}).get("chosen"),
                   "val_ndcg@10": ((manifest.get("metrics") or {}).get("val") or {}).get("ndcg@10"),
                   **{k: m.get(k) for k in COLUMNS},
                   **{f"sparse_user/{k}": m.get(f"sparse_user/{k}") for k in ("ndcg@20",)},
                   "n_sparse_users": m.get("n_sparse_users")}
            out_rows.append(row)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(row) + "\n")
        print(f"seed {seed} {method}: " + ", ".join(
            f"{r['candidates']} ndcg@20 {r['ndcg@20']:.4f}" for r in out_rows[-len(candidates):]), flush=True)


def picked_on_validation(rows: list[dict], choices: list[str], work: str | None) -> list[dict]:
    """Per seed and candidate set, the row of the method among ``choices`` with the best validation NDCG@10 (what
    a user tuning on validation would ship), renamed ``valid-pick``. A row without ``val_ndcg@10`` (written before
    the field existed) takes it from its run's manifest under ``work``."""
    def val(r: dict) -> float:
        if r.get("val_ndcg@10") is None and work:
            manifest = Path(work) / f"seed{r['seed']}" / r["method"].replace(">", "_") / "manifest.json"
            r["val_ndcg@10"] = json.loads(manifest.read_text())["metrics"]["val"]["ndcg@10"]
        return r["val_ndcg@10"]

    out = []
    for seed, cand in dict.fromkeys((r["seed"], r["candidates"]) for r in rows):
        pool = [r for r in rows if r["seed"] == seed and r["candidates"] == cand and r["method"] in choices]
        if len(pool) == len(choices):
            best = max(pool, key=val)
            out.append({**best, "method": "valid-pick", "picked": best["method"]})
            print(f"seed {seed} {cand}: validation picks {best['method']} (val ndcg@10 {val(best):.4f})")
    return out


def table(rows: list[dict], methods: list[str], cand: str) -> list[dict]:
    out = []
    for method in methods:
        rs = [r for r in rows if r["method"] == method and r["candidates"] == cand]
        if not rs:
            continue
        line = {"method": method, "seeds": len(rs)}
        for k in COLUMNS:
            vals = [r[k] for r in rs if r[k] is not None]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            line[k] = f"{statistics.mean(vals):.4f} ± {sd:.4f}" if vals else "-"
        se = [r["se/ndcg@20"] for r in rs if r.get("se/ndcg@20") is not None]
        line["SE ndcg@20"] = f"{statistics.mean(se):.4f}" if se else "-"
        sp = [r["sparse_user/ndcg@20"] for r in rs if r.get("sparse_user/ndcg@20") is not None]
        line["sparse-user ndcg@20"] = f"{statistics.mean(sp):.4f}" if sp else "-"
        line["users"] = round(statistics.mean(r["n_users"] for r in rs))
        spe = [r["s_per_epoch"] for r in rs if r.get("s_per_epoch")]
        fit = [r["fit_s"] for r in rs if r.get("fit_s")]
        line["s/epoch (fit s)"] = (f"{statistics.mean(spe):.2f}" if spe else f"{statistics.mean(fit):.1f} fit" if fit
                                   else "-")
        out.append(line)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="random", choices=("random", "cold-items", "loo"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default=DEFAULT_METHODS)
    p.add_argument("--work", default=None, help="run directories (required unless --markdown)")
    p.add_argument("--json", default=None, help="append result rows (JSON lines) here")
    p.add_argument("--reuse", action="store_true", help="skip (method, seed) rows already in --json")
    p.add_argument("--valid-frac", type=float, default=0.1)
    p.add_argument("--test-frac", type=float, default=0.2)
    p.add_argument("--cold-frac", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--pretrain-lr", type=float, default=5e-3)
    p.add_argument("--pretrain-patience", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--markdown", action="store_true", help="only print the tables of --json as markdown and exit")
    p.add_argument("--select", default=None,
                   help="methods (comma-separated) among which a 'valid-pick' row takes, per seed, the one with the "
                        "best validation NDCG@10 (--markdown)")
    args = p.parse_args()
    if args.markdown:
        rows = [json.loads(line) for line in Path(args.json).read_text().splitlines() if line.strip()]
        methods = [m for m in args.methods.split(",") if m] if args.methods != DEFAULT_METHODS else \
            list(dict.fromkeys(r["method"] for r in rows))
        if args.select:
            rows += picked_on_validation(rows, args.select.split(","), args.work)
            methods.append("valid-pick")
        for cand in dict.fromkeys(r["candidates"] for r in rows):
            lines = table(rows, methods, cand)
            print(f"\ncandidates = {cand}\n")
            print("| " + " | ".join(lines[0]) + " |")
            print("|" + "---|" * len(lines[0]))
            for line in lines:
                print("| " + " | ".join(str(v) for v in line.values()) + " |")
        return
    if not args.work:
        p.error("--work is required to run methods")
    torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    rows: list[dict] = []
    done: set = set()
    if args.reuse and args.json and Path(args.json).exists():
        rows = [json.loads(line) for line in Path(args.json).read_text().splitlines() if line.strip()]
        done = {(r["method"], r["seed"], r["candidates"]) for r in rows}
    for seed in (int(s) for s in args.seeds.split(",")):
        run_seed(args, seed, methods, done, rows)
    print(f"\n{args.dataset} {args.data} split={args.split}; hetrec {hetrec.__version__}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {args.threads} threads")
    for cand in ("cold", "all") if args.split == "cold-items" else ("all",):
        report.table(table(rows, methods, cand), title=f"test, candidates = {cand}; mean ± std over seeds")


if __name__ == "__main__":
    main()
