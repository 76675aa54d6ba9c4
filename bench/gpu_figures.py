"""Every GPU figure of the project, one step at a time; ``bench/gpu.sh`` runs the steps under their own timeouts.

Steps (each writes ``WORK/results/<step>.json``; ``table`` reads them all and prints one table):

    env                 torch / CUDA / GPU name
    data                ``cli.py synth`` (Goodbooks scale x --scale) -> ``cli.py build-graph``
    kernels             ms per LightGCN propagation layer (hetrec's ``propagate``, both directions) next to a bare
                        ``torch.sparse.mm`` (cuSPARSE on CUDA) of the same CSR matrices, forward and forward+backward
    finetune            ``cli.py finetune --model lightgcn`` for --ft-epochs epochs
    evaluate            ``cli.py evaluate`` of that run (full ranking of every test user)
    pretrain-METHOD     ``cli.py pretrain --method METHOD --mode sampled`` for --pt-epochs epochs (rgcn|kgat|ramgnn)
    table               the table (also written to OUT/gpu_figures.md and .json)

The CLI commands run in this process (``cli.main``), so ``torch.cuda.max_memory_allocated`` gives each step's peak
GPU memory. A dry run on CPU: ``bash bench/gpu.sh --device cpu --scale 0.05``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import warnings  # noqa: E402

import torch  # noqa: E402

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

import hetrec  # noqa: E402,F401  (DGL shim before dgl)

FULL = {"users": 53424, "books": 10000, "ratings": 6_000_000, "tags": 34252}
METHODS = ("rgcn", "kgat", "ramgnn")
STEPS = ("pytest", "data", "kernels", "finetune", "evaluate", *(f"pretrain-{m}" for m in METHODS))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int = 10, warmup: int = 2) -> tuple[float, float]:
    """Median and standard error of ``fn()``'s wall time in ms (device synchronised around each run)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(1e3 * (time.perf_counter() - t0))
    se = statistics.stdev(times) / len(times) ** 0.5 if len(times) > 1 else 0.0
    return statistics.median(times), se


def layer_timings(graph, item_type: str, dim: int, device: torch.device, repeats: int = 10) -> dict:
    """One LightGCN layer (items -> users and users -> items) through hetrec vs bare ``torch.sparse.mm``.

    Bare forward: two CSR SpMMs with precomputed values; bare backward adds the two transposed SpMMs, the least
    any propagation can cost. hetrec's path reads the cached RelationIndex and normalisation like LightGCN does.
    """
    from hetrec.graph.adjacency import gcn_values, relation_index
    from hetrec.model.conv import propagate
    from hetrec.model.lightgcn import interaction_relations

    rates, rated_by = interaction_relations(graph, item_type)
    g_items, g_users = graph[rates], graph[rated_by]
    iu, ii = relation_index(g_users, device), relation_index(g_items, device)
    gen = torch.Generator().manual_seed(0)
    xu = torch.randn(iu.num_dst, dim, generator=gen).to(device).requires_grad_()
    xi = torch.randn(ii.num_dst, dim, generator=gen).to(device).requires_grad_()
    csr = lambda crow, col, v, shape: torch.sparse_csr_tensor(crow, col, v, size=shape)  # noqa: E731
    au = csr(iu.crow, iu.src, gcn_values(iu, "both"), (iu.num_dst, iu.num_src))
    ai = csr(ii.crow, ii.src, gcn_values(ii, "both"), (ii.num_dst, ii.num_src))
    aut = csr(iu.t_crow, iu.t_col, gcn_values(iu, "both")[iu.t_pos], (iu.num_src, iu.num_dst))
    ait = csr(ii.t_crow, ii.t_col, gcn_values(ii, "both")[ii.t_pos], (ii.num_src, ii.num_dst))
    gu, gi = torch.randn_like(xu), torch.randn_like(xi)

    def bare_fwd():
        with torch.no_grad():
            torch.sparse.mm(au, xi), torch.sparse.mm(ai, xu)

    def bare_fwd_bwd():
        with torch.no_grad():
            torch.sparse.mm(au, xi), torch.sparse.mm(ai, xu)
            torch.sparse.mm(aut, gu), torch.sparse.mm(ait, gi)

    def hetrec_fwd():
        with torch.no_grad():
            propagate(g_users, xi, norm="both"), propagate(g_items, xu, norm="both")

    def hetrec_fwd_bwd():
        u, i = propagate(g_users, xi, norm="both"), propagate(g_items, xu, norm="both")
        torch.autograd.backward([u, i], [gu, gi])

    out = {"nnz": iu.num_edges + ii.num_edges, "users": iu.num_dst, "items": ii.num_dst, "dim": dim}
    for name, fn in (("bare_fwd", bare_fwd), ("bare_fwd_bwd", bare_fwd_bwd), ("hetrec_fwd", hetrec_fwd),
                     ("hetrec_fwd_bwd", hetrec_fwd_bwd)):
        out[name + "_ms"], out[name + "_se"] = timed(fn, device, repeats)
    return out


# ----------------------------------------------------------------------------------------------- steps


def _cli(args: list[str]) -> None:
    from cli import main

    print("$ python cli.py " + " ".join(args), flush=True)
    main(args)


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def step_env(a) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "device": a.device, "threads": torch.get_num_threads()}
    try:
        import dgl
        info["dgl"] = dgl.__version__
    except Exception as e:  # noqa: BLE001  (reported, not fatal)
        info["dgl"] = f"import failed: {e}"
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    else:
        info["gpu"] = "none"
        for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                        cwd=REPO).stdout.strip() or "unknown"
    except OSError:
        info["commit"] = "unknown"
    print(json.dumps(info, indent=1))
    return info


def step_data(a) -> dict:
    floor = {"users": 40, "books": 200, "ratings": 2000, "tags": 40}  # a tiny scale must not saturate the catalogue
    sizes = {k: max(int(round(v * a.scale)), floor[k]) for k, v in FULL.items()}
    t0 = time.perf_counter()
    _cli(["synth", "--out", str(a.work / "data"), "--force", *[x for k, v in sizes.items() for x in (f"--{k}", str(v))]])
    t1 = time.perf_counter()
    _cli(["build-graph", "--data", str(a.work / "data"), "--out", str(a.work / "graph"), "--force"])
    t2 = time.perf_counter()
    counts = _manifest(a.work / "graph").get("counts", {})
    return {"rows": [{"stage": "synth", "wall_s": t1 - t0, "note": " ".join(f"{k}={v}" for k, v in sizes.items())},
                     {"stage": "build-graph", "wall_s": t2 - t1,
                      "note": f"{sum(counts.get('edges', {}).values()) if isinstance(counts.get('edges'), dict) else ''} edges"}]}


def step_kernels(a) -> dict:
    from hetrec.graph.artifact import load_graph_artifact

    art = load_graph_artifact(a.work / "graph")
    t = layer_timings(art.graph, art.item_type, a.dim, torch.device(a.device))
    note = f"{t['nnz']:,} nnz (both directions), {t['users']:,} x {t['items']:,}, d={t['dim']}"
    return {"kernels": t, "rows": [
        {"stage": "LightGCN layer, forward", "ms_layer": t["hetrec_fwd_ms"], "ms_spmm": t["bare_fwd_ms"],
         "note": note + f"; SE {t['hetrec_fwd_se']:.2f} / {t['bare_fwd_se']:.2f} ms"},
        {"stage": "LightGCN layer, fwd+bwd", "ms_layer": t["hetrec_fwd_bwd_ms"], "ms_spmm": t["bare_fwd_bwd_ms"],
         "note": f"SE {t['hetrec_fwd_bwd_se']:.2f} / {t['bare_fwd_bwd_se']:.2f} ms"}]}


def step_finetune(a) -> dict:
    t0 = time.perf_counter()
    _cli(["finetune", "--graph", str(a.work / "graph"), "--out", str(a.work / "ft"), "--model", "lightgcn",
          "--layers", "3", "--epochs", str(a.ft_epochs), "--batch-size", str(a.ft_batch), "--lr", "0.01",
          "--device", a.device, "--force"])
    m = _manifest(a.work / "ft")
    spe = (m.get("training") or {}).get("seconds_per_epoch")
    return {"rows": [{"stage": f"finetune lightgcn ({a.ft_epochs} ep, batch {a.ft_batch})",
                      "wall_s": time.perf_counter() - t0, "s_epoch": spe}]}


def step_evaluate(a) -> dict:
    t0 = time.perf_counter()
    _cli(["evaluate", "--run", str(a.work / "ft"), "--device", a.device, "--k", "10,20,50"])
    wall = time.perf_counter() - t0
    metrics = sorted((a.work / "ft").glob("metrics_test*.json"))
    note = ""
    if metrics:
        m = json.loads(metrics[0].read_text())
        note = f"test NDCG@10 {m.get('ndcg@10', float('nan')):.4f}, {m.get('n_users', '?')} users"
    return {"rows": [{"stage": "evaluate (all test users)", "wall_s": wall, "note": note}]}


def step_pretrain(a, method: str) -> dict:
    t0 = time.perf_counter()
    args = ["pretrain", "--graph", str(a.work / "graph"), "--out", str(a.work / f"pt-{method}"), "--method", method,
            "--mode", "sampled", "--fanouts", "10,10", "--epochs", str(a.pt_epochs), "--batch-size",
            str(a.pt_batch), "--kg-batch-size", str(a.pt_batch), "--lr", "0.005", "--device", a.device, "--force"]
    _cli(args)
    m = _manifest(a.work / f"pt-{method}")
    spe = (m.get("training") or {}).get("seconds_per_epoch")
    val = (m.get("metrics") or {}).get("val_ndcg@10")
    return {"rows": [{"stage": f"pretrain {method} sampled [10,10] ({a.pt_epochs} ep)", "wall_s": time.perf_counter() - t0,
                      "s_epoch": spe, "note": f"val NDCG@10 {val:.4f}" if val is not None else ""}]}


def _run_step(a) -> None:
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    fn = {"env": step_env, "data": step_data, "kernels": step_kernels, "finetune": step_finetune,
          "evaluate": step_evaluate}.get(a.step)
    res = fn(a) if fn else step_pretrain(a, a.step.removeprefix("pretrain-"))
    peak_gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for row in res.get("rows", []):
        row.setdefault("peak_gpu_mb", peak_gpu)
        row.setdefault("peak_rss_mb", rss)
    (a.work / "results").mkdir(parents=True, exist_ok=True)
    (a.work / "results" / f"{a.step}.json").write_text(json.dumps(res, indent=1, default=str))


# ----------------------------------------------------------------------------------------------- table


def _fmt(v, spec=".2f") -> str:
    return "-" if v is None or v == "" else format(v, spec) if isinstance(v, (int, float)) else str(v)


def _pytest_summary(path: Path) -> str:
    if not path.exists():
        return "not run"
    lines = [ln.strip(" =") for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    hits = [ln for ln in lines if any(w in ln for w in ("passed", "failed", "skipped", "error", "deselected"))]
    return hits[-1] if hits else (lines[-1] if lines else "no output")


def make_table(a) -> str:
    res = a.work / "results"
    env = json.loads((res / "env.json").read_text()) if (res / "env.json").exists() else {}
    rows = []
    for step in STEPS:
        rc_file = res / f"{step}.rc"
        rc = rc_file.read_text().strip() if rc_file.exists() else None
        if step == "pytest":
            rows.append({"stage": "pytest -m gpu", "note": _pytest_summary(a.out / "logs" / "pytest.log")
                         + (f" (rc {rc})" if rc not in (None, "0") else "")})
            continue
        data = json.loads((res / f"{step}.json").read_text()) if (res / f"{step}.json").exists() else None
        if data is None or rc not in (None, "0"):
            why = {"124": "timed out", "137": "killed (timeout/memory)"}.get(rc or "", f"failed rc {rc}" if rc else "not run")
            rows.append({"stage": step, "note": f"{why}: see logs/{step}.log"})
        for row in (data or {}).get("rows", []):
            rows.append(row)
    head = ("stage", "wall s", "s/epoch", "ms/layer", "bare SpMM ms", "peak GPU MB", "peak RSS MB", "note")
    keys = ("stage", "wall_s", "s_epoch", "ms_layer", "ms_spmm", "peak_gpu_mb", "peak_rss_mb", "note")
    lines = [f"GPU figures: device {env.get('device', a.device)} ({env.get('gpu', '?')}), torch {env.get('torch', '?')}, "
             f"CUDA {env.get('cuda', '-')}, dgl {env.get('dgl', '?')}, commit {env.get('commit', '?')}, scale {a.scale}",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [_fmt(r.get(k), ".0f" if k.startswith("peak") else ".3f" if k.startswith("ms") else ".2f")
                 for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "gpu_figures.md").write_text(text + "\n")
    (a.out / "gpu_figures.json").write_text(json.dumps({"env": env, "rows": rows}, indent=1, default=str))
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=("env", *STEPS[1:], "table"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of Goodbooks users/books/ratings/tags")
    p.add_argument("--work", type=Path, default=Path(os.environ.get("OUT") or "/tmp/hetrec-gpu") / "work")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "/tmp/hetrec-gpu"))
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--ft-epochs", type=int, default=3)
    p.add_argument("--ft-batch", type=int, default=262144)
    p.add_argument("--pt-epochs", type=int, default=1)
    p.add_argument("--pt-batch", type=int, default=65536)
    a = p.parse_args(argv)
    if a.step == "table":
        print(make_table(a))
    else:
        _run_step(a)


if __name__ == "__main__":
    main()
