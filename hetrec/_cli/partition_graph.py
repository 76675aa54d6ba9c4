"""``hetrec partition-graph``: graph artifact -> DistDGL partitions with the split and id maps beside them."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.stages import partition_graph as stage


@click.command("partition-graph")
@click.option("--graph", type=click.Path(path_type=Path), required=True, help="build-graph artifact directory.")
@click.option("--parts", type=int, default=2, show_default=True, help="Number of partitions (one per machine).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory to write.")
@click.option("--method", type=click.Choice(stage.METHODS), default="metis", show_default=True,
              help="METIS (fewer edge cuts) or random assignment.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing --out.")
def command(graph, parts, out, method, seed, force):
    """Partition the heterograph with dgl.distributed.partition_graph, for DistDGL (see docs/cluster.md)."""
    summary = stage.run(stage.PartitionConfig(graph=graph, out=out, parts=parts, method=method, seed=seed,
                                              force=force), log=report.message)
    report.table([{"ntype": t, **{f"part {k}": n for k, n in enumerate(counts)}}
                  for t, counts in summary["nodes_per_part"].items()],
                 title=f"nodes per part ({method}, seed {summary['seed']}); DGL config {summary['part_config']}")
