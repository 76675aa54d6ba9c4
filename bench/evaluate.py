"""Benchmark full-ranking evaluation at Goodbooks-10k scale: 53,424 users x 10,000 items, d = 64, top-50.

Random embeddings and a random exclude set of ~112 items per user (Goodbooks' mean train history), one
leave-one-out target per user. Times ``full_ranking_topk`` (score, mask, top-k) and ``evaluate`` (that plus
pessimistic target ranks, metrics and coverage) on CPU and, when present, CUDA: one warm-up, then the median of
the repeats, with the device synchronised around each run.

    python bench/evaluate.py [--repeats 3] [--chunk-size 4096] [--users 53424] [--items 10000]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import time
from importlib import metadata
from pathlib import Path

import torch

import hetrec  # noqa: F401  (before anything that imports dgl)
from hetrec.evaluator.rank import evaluate, full_ranking_topk
from hetrec.sampler.bpr import InteractionIndex


def _machine() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {torch.get_num_threads()} threads"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _time(fn, device: torch.device, repeats: int) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=53_424)
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--history", type=int, default=112, help="excluded items per user (random)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk-size", type=int, default=4096)
    args = p.parse_args()

    g = torch.Generator().manual_seed(0)
    user_emb = torch.randn(args.users, args.dim, generator=g)
    item_emb = torch.randn(args.items, args.dim, generator=g)
    ex_users = torch.arange(args.users).repeat_interleave(args.history)
    ex_items = torch.randint(0, args.items, (ex_users.numel(),), generator=g)
    exclude = InteractionIndex(ex_users, ex_items, args.users, args.items)
    users = torch.arange(args.users)
    targets = (users, torch.randint(0, args.items, (args.users,), generator=g))

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        ue, ie, ex = user_emb.to(dev), item_emb.to(dev), exclude.to(dev)
        t_topk = _time(lambda: full_ranking_topk((ue, ie), users, ex, args.k, chunk_size=args.chunk_size), dev,
                       args.repeats)
        t_eval = _time(lambda: evaluate((ue, ie), targets, ex, num_items=args.items, ks=(10, 20, args.k),
                                        chunk_size=args.chunk_size), dev, args.repeats)
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else _machine()
        rows.append((dev.type, name, t_topk, t_eval))

    print(f"full ranking: {args.users:,} users x {args.items:,} items, d={args.dim}, top-{args.k}, "
          f"~{args.history} excluded/user, chunk {args.chunk_size}, median of {args.repeats} after 1 warm-up")
    print(f"torch {torch.__version__}, dgl {metadata.version('dgl')}, hetrec commit {_commit()}, "
          f"python {platform.python_version()}")
    print()
    print("| device | machine | full_ranking_topk (s) | evaluate (s) | users/s (evaluate) |")
    print("|---|---|---:|---:|---:|")
    for dev, name, t_topk, t_eval in rows:
        print(f"| {dev} | {name} | {t_topk:.3f} | {t_eval:.3f} | {args.users / t_eval:,.0f} |")


if __name__ == "__main__":
    main()
