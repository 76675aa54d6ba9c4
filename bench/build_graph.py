"""Benchmark ``build-graph``: wall time and peak RSS on ML-100K and a full-scale Goodbooks directory.

Each run is a fresh subprocess (so peak RSS, from getrusage, is the build's own); one warm-up
run fills the file cache, then the median wall time of ``--repeats`` runs is reported.

    python bench/build_graph.py                                  # ML-100K from ../shared/data
    hetrec synth --out /tmp/gb_full                              # ~6M ratings, ~45 s
    python bench/build_graph.py --goodbooks /tmp/gb_full [--similar-k 10]
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

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "data" / "ml-100k"

CHILD = r"""
import json, resource, sys, time
import hetrec
from hetrec.stages.build_graph import BuildGraphConfig, run
kind, data, out, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t = time.perf_counter()
art = run(BuildGraphConfig(data=data, out=out, dataset=kind, similar_k=k, force=True))
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "ratings": len(art.splits), "users": art.num_users, "items": art.num_items,
                  "edges": int(art.graph.num_edges()), "splits": art.manifest["splits"]}))
"""


def one_run(kind: str, data: Path, similar_k: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-c", CHILD, kind, str(data), str(Path(tmp) / "g"), str(similar_k)],
                           capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"build-graph failed on {data}:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(name: str, kind: str, data: Path, similar_k: int, repeats: int) -> dict:
    one_run(kind, data, similar_k)  # warm-up (file cache, imports)
    runs = [one_run(kind, data, similar_k) for _ in range(repeats)]
    last = runs[-1]
    return {"workload": name, "similar_k": similar_k, "ratings": last["ratings"], "users": last["users"],
            "items": last["items"], "edges": last["edges"],
            "wall_s (median)": round(statistics.median(r["wall_s"] for r in runs), 2),
            "peak RSS MB": round(max(r["peak_rss_mb"] for r in runs)), "_splits": last["splits"]}


def machine() -> str:
    import dgl
    import torch

    import hetrec  # noqa: F401

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"dgl {dgl.__version__}, commit {commit}")


def main() -> None:
    import hetrec  # noqa: F401
    from hetrec import report

    if not sys.argv[1:] and not ML100K.is_dir():
        sys.exit(f"nothing to measure: {ML100K} is absent and no --goodbooks given")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--goodbooks", type=Path, help="full-scale Goodbooks directory (e.g. from `hetrec synth`)")
    p.add_argument("--similar-k", type=int, default=0, help="also build the kNN 'similar' relation")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    rows = []
    if ML100K.is_dir():
        row = measure("ML-100K", "ml-100k", ML100K, 0, args.repeats)
        assert (row["ratings"], row["users"], row["items"]) == (100_000, 943, 1682), row
        rows.append(row)
    else:
        report.message(f"skipping ML-100K: {ML100K} not present")
    if args.goodbooks:
        rows.append(measure(f"Goodbooks ({args.goodbooks.name})", "goodbooks", args.goodbooks, 0, args.repeats))
        if args.similar_k:
            rows.append(measure(f"Goodbooks ({args.goodbooks.name})", "goodbooks", args.goodbooks, args.similar_k,
                                args.repeats))
    for r in rows:
        report.message(f"{r['workload']} splits: {r.pop('_splits')}")
    # markdown, so it pastes into docs/benchmarks.md; load average shows whether the machine was shared
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"build-graph, median of {args.repeats} runs after 1 warm-up; {machine()}; load average {load}\n")
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
