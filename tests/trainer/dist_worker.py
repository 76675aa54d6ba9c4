"""One rank of the data-parallel tests (tests/trainer/test_distributed.py), started by torchrun or by the test.

    python tests/trainer/dist_worker.py train GRAPH OUT RESULT   # one sharded epoch + a full finetune
    python tests/trainer/dist_worker.py die GRAPH OUT RESULT     # rank 1 dies in epoch 2; rank 0 must say so

Writes RESULT.rank<N>.pt (parameters after one sharded epoch, the finetune summary) or, on a HetrecError,
prints it as the CLI does and exits 1.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's hetrec

import torch  # noqa: E402

import hetrec  # noqa: E402,F401
from hetrec.errors import HetrecError  # noqa: E402
from hetrec.trainer import distributed  # noqa: E402

FAST = dict(dim=8, layers=2, batch_size=101, lr=0.05, reg=1e-4, epochs=3, patience=10, device="cpu")


def one_epoch(graph_dir):
    """LightGCN, one epoch of sharded BPR batches; returns the parameters (identical on every rank)."""
    from hetrec.graph.artifact import load_graph_artifact
    from hetrec.model.lightgcn import LightGCN
    from hetrec.sampler.bpr import InteractionIndex
    from hetrec.trainer.loop import LoopConfig, train_epoch

    art = load_graph_artifact(graph_dir)
    torch.manual_seed(rank_seed())  # a different init per rank: the first step must broadcast rank 0's
    model = LightGCN(art.num_users, art.num_items, 8, num_layers=2, item_type=art.item_type)
    index = InteractionIndex(*art.pairs("train"), art.num_users, art.num_items)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss = train_epoch(model, art.graph, index, opt, LoopConfig(batch_size=101), torch.Generator().manual_seed(1),
                       epoch=1, shard=distributed.shard())
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, loss


def rank_seed():
    return 100 + distributed.rank()


def main(mode, graph_dir, out, result):
    from hetrec.stages.finetune import FinetuneConfig, run

    with distributed.session("cpu"):
        rank = distributed.rank()
        if mode == "train":
            params, loss = one_epoch(graph_dir)
            summary = run(FinetuneConfig(graph=Path(graph_dir), out=Path(out), **FAST))
            torch.save({"params": params, "loss": loss, "summary": summary, "world": distributed.world_size()},
                       f"{result}.rank{rank}.pt")
            return

        def die(epoch, batch):
            if rank == 1 and epoch == 2:
                os._exit(3)  # a rank that vanishes mid-training (OOM kill, node loss)

        run(FinetuneConfig(graph=Path(graph_dir), out=Path(out), **FAST), on_batch=die)


if __name__ == "__main__":
    try:
        main(*sys.argv[1:5])
    except HetrecError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
