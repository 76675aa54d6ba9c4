"""`hetrec partition-graph`: DGL partitions of the heterograph with the split and id maps kept beside them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import hetrec  # noqa: F401
import dgl
from hetrec.artifacts import read_manifest
from hetrec.errors import HetrecError
from hetrec.graph.artifact import load_graph_artifact
from hetrec.stages.partition_graph import PartitionConfig, run


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory) -> Path:
    from hetrec.stages.build_graph import BuildGraphConfig
    from hetrec.stages.build_graph import run as build

    root = tmp_path_factory.mktemp("part")
    rng = np.random.default_rng(1)
    rows = [(u + 1, int(i) + 1, int(rng.integers(1, 6)), t) for u in range(30)
            for t, i in enumerate(rng.choice(40, 8, replace=False))]
    (root / "tables").mkdir()
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(root / "tables/ratings.csv",
                                                                                     index=False)
    pd.DataFrame({"item_id": np.arange(1, 41), "title": [f"t{i}" for i in range(40)]}).to_csv(
        root / "tables/items.csv", index=False)
    build(BuildGraphConfig(data=root / "tables", out=root / "graph", dataset="tables"))
    return root / "graph"


@pytest.mark.parametrize("method", ["metis", "random"])
def test_partitions_cover_the_graph_and_keep_ids_and_split(graph_dir, tmp_path, method):
    art = load_graph_artifact(graph_dir)
    out = tmp_path / method
    summary = run(PartitionConfig(graph=graph_dir, out=out, parts=2, method=method))
    manifest = read_manifest(out, stage="partition_graph")
    assert manifest["inputs"]["graph"] == art.fingerprint and manifest["seed"] == summary["seed"]
    for name in ["splits.parquet", "items.parquet", *(f"{t}_ids.parquet" for t in art.graph.ntypes)]:
        assert (out / name).read_bytes() == (graph_dir / name).read_bytes()
    config = out / manifest["part_config"]
    for t in art.graph.ntypes:
        ids = pd.read_parquet(out / "partitions" / "ids" / f"{t}.parquet")
        assert ids["node_id"].tolist() == list(range(art.graph.num_nodes(t)))  # every node exactly once
        assert sorted(ids["partition_id"]) == list(range(art.graph.num_nodes(t)))
        assert set(ids["part"]) == {0, 1} and summary["nodes_per_part"][t] == np.bincount(ids["part"]).tolist()
    # the inner edges of the parts, mapped back through the id maps, are exactly the graph's, ratings included
    rates = ("user", "rates", art.item_type)
    to_orig = {t: torch.as_tensor(pd.read_parquet(out / "partitions/ids" / f"{t}.parquet")
                                  .sort_values("partition_id")["node_id"].to_numpy().copy()) for t in ("user", art.item_type)}
    got = []
    for k in range(2):
        g, _, efeat, book, *_ = dgl.distributed.load_partition(str(config), k)
        etype = g.edata[dgl.ETYPE] == book.canonical_etypes.index(rates)
        inner = (g.edata["inner_edge"] == 1) & etype
        src, dst = (x[inner.nonzero().squeeze(1)] for x in g.edges())
        u = to_orig["user"][book.map_to_per_ntype(g.ndata[dgl.NID][src])[1]]
        i = to_orig[art.item_type][book.map_to_per_ntype(g.ndata[dgl.NID][dst])[1]]
        got += list(zip(u.tolist(), i.tolist(), efeat[":".join(rates) + "/rating"].tolist()))
    s, d = art.graph.edges(etype=rates)
    want = list(zip(s.tolist(), d.tolist(), art.graph.edges[rates].data["rating"].tolist()))
    assert sorted(got) == sorted(want)


def test_more_parts_than_nodes_of_a_type_is_one_line(graph_dir, tmp_path):
    with pytest.raises(HetrecError, match=r"--parts 35: node type\(s\) \{'user': 30\} have fewer nodes than parts"):
        run(PartitionConfig(graph=graph_dir, out=tmp_path / "p", parts=35, method="random"))
    assert not (tmp_path / "p").exists()
