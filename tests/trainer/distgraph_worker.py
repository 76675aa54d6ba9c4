"""A DistDGL trainer for tests/trainer/test_distgraph.py: join servers and torch.distributed, take this rank's
shard of the user seeds, sample 2-layer neighbour blocks from the DistGraph with DGL's sampler, exit 0."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import hetrec  # noqa: E402,F401
import dgl  # noqa: E402
import torch  # noqa: E402

from hetrec.trainer import distgraph, distributed  # noqa: E402

g = distgraph.connect(sys.argv[1])
with distributed.session("cpu"):
    users = dgl.distributed.node_split(torch.ones(g.num_nodes("user"), dtype=torch.bool), g.get_partition_book(),
                                       ntype="user")
    seeds = {"user": users[:16]}
    blocks = dgl.dataloading.NeighborSampler([5, 5]).sample_blocks(g, seeds)[2]
    assert blocks[-1].num_dst_nodes("user") == 16
dgl.distributed.exit_client()
