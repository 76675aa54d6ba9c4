"""One LightGCN epoch against its bound, and against the seed notebook's R-GCN epoch, in one run on this machine.

    python bench/lightgcn_epoch.py --graph /tmp/gb/graph [--batch 262144] [--layers 3] [--dim 64] [--device cpu]

Measured, same graph, same dim, same batch:
- **hetrec epoch**: ``hetrec.trainer.loop.train_epoch`` with LightGCN (full propagation per step, BPR, Adam).
- **bound** = steps x layers x bare SpMM forward+backward of one layer (both directions, ``torch.sparse.mm`` on
  precomputed CSR values) + the BPR part alone: the same loop with MF (negatives, gathers, loss, reg, backward,
  Adam on the same two tables, no propagation). LightGCN's epoch cannot be cheaper than these two together.
- **notebook-style R-GCN epoch** (``notebook_epoch``): the seed notebook's loop as GPU.md and docs/benchmarks.md
  describe it: DGL ``HeteroGraphConv`` of ``GraphConv`` per relation run full-graph each step, a Python negative
  sampler (per triple, rejection against a Python set of the user's items), then a per-user evaluation loop
  (score, mask the user's train items, rank the validation target, one user at a time). Its train pass and its
  evaluation are reported separately; hetrec's validation (vectorised full ranking) is timed beside it.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402

import hetrec  # noqa: E402,F401  (DGL shim before dgl)
import dgl  # noqa: E402
from gpu_figures import layer_timings, timed  # noqa: E402
from hetrec.graph.artifact import load_graph_artifact  # noqa: E402
from hetrec.model.lightgcn import LightGCN  # noqa: E402
from hetrec.model.loss import bpr_loss  # noqa: E402
from hetrec.pretrain.common import train_index, validate  # noqa: E402
from hetrec.sampler.bpr import bpr_batches  # noqa: E402
from hetrec.trainer.loop import LoopConfig, train_epoch  # noqa: E402


def bpr_epoch_s(art, cfg: LoopConfig, dim: int, device, repeats: int) -> list[float]:
    """The BPR part alone: the same loop (negatives, gathers, loss, reg, backward, Adam) with MF, no propagation."""
    from hetrec.model.mf import MF

    model = MF(art.num_users, art.num_items, dim, item_type=art.item_type).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    index = train_index(art, device)
    gen = torch.Generator(device=device).manual_seed(0)
    times = []
    for epoch in range(repeats + 1):
        t0 = time.perf_counter()
        train_epoch(model, None, index, opt, cfg, gen, epoch=epoch + 1)
        if epoch:
            times.append(time.perf_counter() - t0)
    return times


def hetrec_epoch_s(art, cfg: LoopConfig, dim: int, layers: int, device, repeats: int) -> list[float]:
    model = LightGCN(art.num_users, art.num_items, dim, num_layers=layers, item_type=art.item_type).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    index = train_index(art, device)
    gen = torch.Generator(device=device).manual_seed(0)
    times = []
    for epoch in range(repeats + 1):  # the first epoch warms the caches (CSR, normalisation)
        t0 = time.perf_counter()
        train_epoch(model, art.graph, index, opt, cfg, gen, epoch=epoch + 1)
        if epoch:
            times.append(time.perf_counter() - t0)
    return times


def notebook_epoch(art, dim: int, layers: int, batch: int, lr: float = 1e-3) -> dict:
    """The seed notebook's R-GCN epoch (see module docstring); returns its train and evaluation seconds."""
    from dgl.nn import GraphConv, HeteroGraphConv

    g = dgl.edge_type_subgraph(art.graph, [c for c in art.graph.canonical_etypes if c[1] in ("rates", "rated_by")])
    emb = torch.nn.ParameterDict({t: torch.nn.Parameter(torch.randn(g.num_nodes(t), dim) * 0.1) for t in g.ntypes})
    convs = torch.nn.ModuleList(HeteroGraphConv({e: GraphConv(dim, dim, activation=torch.relu if k < layers - 1
                                                               else None) for e in g.etypes}, aggregate="sum")
                                for k in range(layers))
    opt = torch.optim.Adam([*emb.parameters(), *convs.parameters()], lr=lr)
    users, items = (t.tolist() for t in art.pairs("train"))
    seen: dict[int, set] = {}
    for u, i in zip(users, items):
        seen.setdefault(u, set()).add(i)
    pairs = list(zip(users, items))
    random.Random(0).shuffle(pairs)
    n_items, item_type = art.num_items, art.item_type

    def forward():
        h = dict(emb.items())
        for conv in convs:
            h = conv(g, h)
        return h

    t0 = time.perf_counter()
    sample_s = 0.0
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        ts = time.perf_counter()
        negs = []
        for u, _ in chunk:  # the notebook's Python negative sampler
            j = random.randrange(n_items)
            while j in seen[u]:
                j = random.randrange(n_items)
            negs.append(j)
        sample_s += time.perf_counter() - ts
        u = torch.tensor([p[0] for p in chunk])
        p = torch.tensor([p[1] for p in chunk])
        n = torch.tensor(negs)
        h = forward()
        eu = h["user"][u]
        loss = bpr_loss((eu * h[item_type][p]).sum(-1), (eu * h[item_type][n]).sum(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    with torch.no_grad():  # the notebook's per-user evaluation loop
        h = forward()
        vu, vi = (t.tolist() for t in art.pairs("valid"))
        hits = 0
        for u, target in zip(vu, vi):
            scores = h[item_type] @ h["user"][u]
            for i in seen.get(u, ()):
                scores[i] = -float("inf")
            hits += int((scores > scores[target]).sum()) < 10
    return {"train_s": train_s, "sampler_s": sample_s, "eval_s": time.perf_counter() - t1}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graph", type=Path, required=True)
    p.add_argument("--batch", type=int, default=262144)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3, help="hetrec epochs timed (after one warm-up epoch)")
    p.add_argument("--no-notebook", action="store_true")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    art = load_graph_artifact(a.graph)
    index = train_index(art, device)
    steps = -(-index.nnz // a.batch)
    lay = layer_timings(art.graph, art.item_type, a.dim, device)
    cfg = LoopConfig(batch_size=a.batch, lr=1e-3, reg=1e-4)
    bpr = bpr_epoch_s(art, cfg, a.dim, device, a.repeats)
    bpr_s, bpr_se = statistics.mean(bpr), (statistics.stdev(bpr) / len(bpr) ** 0.5 if len(bpr) > 1 else 0.0)
    bound = steps * a.layers * lay["bare_fwd_bwd_ms"] / 1e3 + bpr_s
    ep = hetrec_epoch_s(art, cfg, a.dim, a.layers, device, a.repeats)
    ep_mean = statistics.mean(ep)
    ep_se = statistics.stdev(ep) / len(ep) ** 0.5 if len(ep) > 1 else 0.0
    model = LightGCN(art.num_users, art.num_items, a.dim, num_layers=a.layers, item_type=art.item_type).to(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        validate(art, *model(art.graph), index)
    val_s = time.perf_counter() - t0
    print(f"graph {a.graph}: {art.num_users:,} users, {art.num_items:,} items, {index.nnz:,} train pairs, "
          f"{lay['nnz']:,} nnz (both directions); batch {a.batch}, {steps} steps, {a.layers} layers, d={a.dim}, "
          f"{torch.get_num_threads()} torch threads")
    rows = [("bare SpMM layer fwd+bwd (both directions), ms", f"{lay['bare_fwd_bwd_ms']:.2f} ± {lay['bare_fwd_bwd_se']:.2f}"),
            ("hetrec propagate layer fwd+bwd, ms", f"{lay['hetrec_fwd_bwd_ms']:.2f} ± {lay['hetrec_fwd_bwd_se']:.2f}"),
            ("BPR epoch without propagation (MF, same loop), s", f"{bpr_s:.2f} ± {bpr_se:.2f}"),
            ("bound = steps x layers x SpMM fwd+bwd + BPR epoch, s", f"{bound:.2f}"),
            ("hetrec LightGCN epoch, s", f"{ep_mean:.2f} ± {ep_se:.2f} (n={len(ep)})"),
            ("epoch / bound", f"{ep_mean / bound:.2f}"),
            ("hetrec validation (vectorised full ranking), s", f"{val_s:.2f}")]
    if not a.no_notebook:
        nb = notebook_epoch(art, a.dim, 2, a.batch)
        rows += [("notebook R-GCN train pass, s (of it Python sampler)", f"{nb['train_s']:.2f} ({nb['sampler_s']:.2f})"),
                 ("notebook per-user evaluation loop, s", f"{nb['eval_s']:.2f}"),
                 ("notebook epoch (train + eval) / hetrec epoch (train + validation)",
                  f"{(nb['train_s'] + nb['eval_s']) / (ep_mean + val_s):.1f}x"),
                 ("notebook train pass / hetrec train epoch", f"{nb['train_s'] / ep_mean:.1f}x")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
