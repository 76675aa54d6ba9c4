"""Data-parallel training (hetrec/trainer/distributed.py): shards, identical ranks, equality with one process,
and a dying rank that ends the job with one line instead of a hang. CPU, gloo, 2 processes on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.sampler.bpr import InteractionIndex, bpr_batches

WORKER = Path(__file__).with_name("dist_worker.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HETREC_DIST_TIMEOUT": "20", **extra}


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory) -> Path:
    from hetrec.stages.build_graph import BuildGraphConfig, run

    root = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(0)
    rows = [(u + 1, int(i) + 1, 4, 1000 + t) for u in range(40)
            for t, i in enumerate(rng.choice(30, 12, replace=False) + 30 * (u >= 20))]
    (root / "tables").mkdir()
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(root / "tables/ratings.csv",
                                                                                     index=False)
    pd.DataFrame({"item_id": np.arange(1, 61), "title": [f"t{i}" for i in range(60)]}).to_csv(
        root / "tables/items.csv", index=False)
    run(BuildGraphConfig(data=root / "tables", out=root / "graph", dataset="tables"))
    return root / "graph"


def test_shards_are_disjoint_and_make_up_the_global_batch():
    g = torch.Generator().manual_seed(0)
    users, items = torch.randint(50, (400,), generator=g), torch.randint(70, (400,), generator=g)
    index = InteractionIndex(users, items, 50, 70)
    full = list(bpr_batches(index, 64, torch.Generator().manual_seed(5)))
    parts = [list(bpr_batches(index, 64, torch.Generator().manual_seed(5), shard=(r, 3))) for r in range(3)]
    assert all(len(p) == len(full) for p in parts)
    for b, (u, p, n) in enumerate(full):
        keys = [(parts[r][b][0] * 70 + parts[r][b][1]).tolist() for r in range(3)]
        assert sum(len(k) for k in keys) == len(u)
        assert not set(keys[0]) & set(keys[1]) and not set(keys[1]) & set(keys[2]) and not set(keys[0]) & set(keys[2])
        merged = torch.stack([torch.cat([parts[r][b][i] for r in range(3)]) for i in range(3)])
        order = lambda t: t[:, torch.argsort(t[0] * 10_000 + t[1] * 100 + t[2])]  # noqa: E731
        assert torch.equal(order(merged), order(torch.stack([u, p, n])))  # same triples, negatives included


@pytest.fixture(scope="module")
def two_ranks(graph_dir, tmp_path_factory):
    """torchrun --nproc-per-node 2 of the worker: one sharded epoch and a whole finetune, results per rank."""
    assert TORCHRUN.exists(), f"{TORCHRUN} missing: torch's launcher is part of the torch wheel"
    tmp = tmp_path_factory.mktemp("two")
    cmd = [str(TORCHRUN), "--nnodes", "1", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), str(WORKER), "train", str(graph_dir), str(tmp / "run"),
           str(tmp / "result")]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, [torch.load(tmp / f"result.rank{r}.pt", weights_only=False) for r in range(2)]


def test_ranks_hold_identical_parameters_equal_to_one_process(two_ranks, graph_dir):
    _, (r0, r1) = two_ranks
    assert r0["world"] == r1["world"] == 2
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k  # bitwise: same averaged gradients
    # one process, rank 0's init (seed 100), the same generator: the same epoch within float summation order
    from hetrec.graph.artifact import load_graph_artifact
    from hetrec.model.lightgcn import LightGCN
    from hetrec.trainer.loop import LoopConfig, train_epoch

    art = load_graph_artifact(graph_dir)
    torch.manual_seed(100)
    model = LightGCN(art.num_users, art.num_items, 8, num_layers=2, item_type=art.item_type)
    loss = train_epoch(model, art.graph, InteractionIndex(*art.pairs("train"), art.num_users, art.num_items),
                       torch.optim.Adam(model.parameters(), lr=0.05), LoopConfig(batch_size=101),
                       torch.Generator().manual_seed(1), epoch=1)
    assert r0["loss"] == pytest.approx(loss, rel=1e-5)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(r0["params"][k], v, rtol=1e-4, atol=1e-5)


def test_two_process_finetune_matches_one_process(two_ranks, graph_dir, tmp_path):
    from hetrec.stages.finetune import FinetuneConfig, run

    sys.path.insert(0, str(WORKER.parent))
    from dist_worker import FAST

    tmp, (r0, r1) = two_ranks
    one = run(FinetuneConfig(graph=graph_dir, out=tmp_path / "one", **FAST))
    assert (tmp / "run" / "manifest.json").is_file()  # rank 0 wrote the artifact, once
    assert not any(p.name.startswith(".run") for p in tmp.iterdir())  # no partial or temp left behind
    assert r0["summary"]["best_epoch"] == r1["summary"]["best_epoch"] == one["best_epoch"]
    for split in ("val", "test"):
        for m in ("ndcg@10", "hit@10", "ndcg@20"):
            assert r0["summary"]["metrics"][split][m] == pytest.approx(one["metrics"][split][m], abs=1e-6), (split, m)
            assert r1["summary"]["metrics"][split][m] == r0["summary"]["metrics"][split][m]


def test_a_dying_rank_ends_the_job_with_one_line(graph_dir, tmp_path):
    """Rank 1 exits mid-epoch; rank 0's next collective fails and it stops with a HetrecError line, no artifact."""
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, str(WORKER), "die", str(graph_dir), str(tmp_path / "run"),
                               str(tmp_path / "result")],
                              env=_env(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(r),
                                       LOCAL_RANK=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    t0 = time.monotonic()
    try:
        outs = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert procs[1].returncode == 3
    assert procs[0].returncode == 1, outs[0][1][-2000:]
    line = outs[0][1].strip().splitlines()[-1]
    assert line.startswith("error: rank 0 of 2:") and "another rank died or stalled" in line, line
    assert time.monotonic() - t0 < 60  # ended by the failure, not by a hang
    assert not (tmp_path / "run").exists()
