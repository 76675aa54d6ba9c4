"""The build-graph artifact on disk: write its files, load and validate them.

Why a loader with checks: every later stage starts here, so a stale or foreign directory
should fail with one line that says to rebuild, not with a KeyError deep in training.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import hetrec  # noqa: F401  (installs the DGL compatibility shim before dgl)
import dgl
import torch

from hetrec.artifacts import read_manifest, write_manifest
from hetrec.errors import HetrecError
from hetrec.graph import relations as R
from hetrec.graph.build import SPLITS, BuiltGraph

STAGE = "build_graph"
GRAPH_FILE = "graph.bin"
SPLITS_FILE = "splits.parquet"
ITEMS_FILE = "items.parquet"


def ids_file(ntype: str) -> str:
    return f"{ntype}_ids.parquet"


@dataclass
class GraphArtifact:
    """A loaded build-graph artifact (see docs/architecture.md)."""

    path: Path
    graph: dgl.DGLGraph
    manifest: dict
    item_type: str
    splits: pd.DataFrame  # user, item (node ids), rating, split
    id_maps: dict[str, pd.DataFrame]  # ntype -> DataFrame[raw_id, node_id]
    items: pd.DataFrame  # node_id, title, display columns
    fingerprint: str

    @property
    def num_users(self) -> int:
        return self.graph.num_nodes(R.USER)

    @property
    def num_items(self) -> int:
        return self.graph.num_nodes(self.item_type)

    def pairs(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(user node ids, item node ids) of one split as LongTensors, in table order."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        rows = self.splits[self.splits["split"] == split]
        return (torch.from_numpy(rows["user"].to_numpy(np.int64, copy=True)),
                torch.from_numpy(rows["item"].to_numpy(np.int64, copy=True)))


def graph_counts(graph: dgl.DGLGraph) -> dict:
    """Node counts per type and edge counts per canonical relation (keys ``src:rel:dst``)."""
    return {"nodes": {t: int(graph.num_nodes(t)) for t in graph.ntypes},
            "edges": {R.etype_key(c): int(graph.num_edges(c)) for c in graph.canonical_etypes}}


def split_sizes(splits: pd.DataFrame) -> dict[str, int]:
    counts = splits["split"].value_counts()
    return {s: int(counts.get(s, 0)) for s in SPLITS}


def write_graph_artifact(built: BuiltGraph, directory: str | os.PathLike, *, config: dict,
                         inputs: dict, **extra) -> dict:
    """Write all files of the artifact into ``directory`` (the caller makes it atomic); returns the manifest."""
    directory = Path(directory)
    check_no_leakage(built.graph, built.item_type, built.splits, "build-graph",
                     _cold_nodes(extra.get("dataset", {}), built.id_maps[built.item_type]))
    dgl.save_graphs(str(directory / GRAPH_FILE), [built.graph])
    built.splits.to_parquet(directory / SPLITS_FILE, index=False)
    for ntype, table in built.id_maps.items():
        table.to_parquet(directory / ids_file(ntype), index=False)
    built.items.to_parquet(directory / ITEMS_FILE, index=False)
    return write_manifest(directory, stage=STAGE, config=config, inputs=inputs, counts=graph_counts(built.graph),
                          item_type=built.item_type, splits=split_sizes(built.splits), **extra)


def load_graph_artifact(path: str | os.PathLike) -> GraphArtifact:
    """Load a build-graph artifact, refusing a wrong stage or schema, missing files or mismatched counts."""
    path = Path(path)
    if not path.is_dir():
        raise HetrecError(f"{path}: no such directory; run `hetrec build-graph --out {path}` first")
    manifest = read_manifest(path, stage=STAGE)
    item_type, counts = manifest.get("item_type"), manifest.get("counts", {})
    if not item_type or "nodes" not in counts or "edges" not in counts:
        raise HetrecError(f"{path}/manifest.json lacks item_type or node/edge counts; rebuild with hetrec build-graph")
    needed = [GRAPH_FILE, SPLITS_FILE, ITEMS_FILE] + [ids_file(t) for t in counts["nodes"]]
    missing = [f for f in needed if not (path / f).is_file()]
    if missing:
        raise HetrecError(f"{path}: missing {', '.join(missing)}; the artifact is incomplete, rebuild it with --force")
    graphs, _ = dgl.load_graphs(str(path / GRAPH_FILE))
    graph = graphs[0]
    if graph_counts(graph) != {"nodes": counts["nodes"], "edges": counts["edges"]}:
        raise HetrecError(f"{path}/{GRAPH_FILE}: node/edge counts differ from manifest.json; rebuild the artifact")
    id_maps = {t: pd.read_parquet(path / ids_file(t)) for t in counts["nodes"]}
    splits = pd.read_parquet(path / SPLITS_FILE)
    check_no_leakage(graph, item_type, splits, path, _cold_nodes(manifest.get("dataset", {}), id_maps[item_type]))
    return GraphArtifact(path=path, graph=graph, manifest=manifest, item_type=item_type,
                         splits=splits, id_maps=id_maps,
                         items=pd.read_parquet(path / ITEMS_FILE), fingerprint=manifest["fingerprint"])


def leaked_pairs(graph: dgl.DGLGraph, item_type: str, splits: pd.DataFrame) -> dict[str, int]:
    """Per user–item relation, how many edges coincide with a validation or test (user, item) pair."""
    n_items = graph.num_nodes(item_type)
    held = splits[splits["split"] != "train"]
    held_keys = held["user"].to_numpy(np.int64) * n_items + held["item"].to_numpy(np.int64)
    out = {}
    for c in R.user_item_etypes(graph.canonical_etypes, item_type):
        src, dst = (x.numpy() for x in graph.edges(etype=c))
        u, i = (src, dst) if c[0] == R.USER else (dst, src)
        out[R.etype_key(c)] = int(np.isin(u * n_items + i, held_keys).sum())
    return out


def cold_item_edges(graph: dgl.DGLGraph, item_type: str, cold_items: np.ndarray) -> dict[str, int]:
    """Per user–item relation, how many edges touch a strict cold item (node ids): any is a leak,
    since a cold item must reach a model only through its attribute/KG edges."""
    out = {}
    for c in R.user_item_etypes(graph.canonical_etypes, item_type):
        src, dst = (x.numpy() for x in graph.edges(etype=c))
        out[R.etype_key(c)] = int(np.isin(dst if c[0] == R.USER else src, cold_items).sum())
    return out


def cold_item_nodes(artifact: GraphArtifact) -> np.ndarray:
    """Node ids of the strict cold items a ``--split cold-items`` build recorded (empty otherwise)."""
    return _cold_nodes(artifact.manifest.get("dataset", {}), artifact.id_maps[artifact.item_type])


def _cold_nodes(dataset: dict, item_ids: pd.DataFrame) -> np.ndarray:
    raw = np.asarray(dataset.get("stats", {}).get("cold_item_ids", []), dtype=np.int64)
    return item_ids["node_id"].to_numpy()[np.isin(item_ids["raw_id"].to_numpy(), raw)]


def check_no_leakage(graph: dgl.DGLGraph, item_type: str, splits: pd.DataFrame, where: str | os.PathLike,
                     cold_items: np.ndarray | None = None) -> None:
    """Raise :class:`HetrecError` (one line) if a validation/test pair is an edge of any user–item relation, or
    (cold-items split) any user–item edge touches a cold item; run when an artifact is written and when it is
    loaded, so a leaking graph never trains a model."""
    bad = {k: v for k, v in leaked_pairs(graph, item_type, splits).items() if v}
    if bad:
        counts = ", ".join(f"{k}: {v}" for k, v in bad.items())
        raise HetrecError(f"{where}: held-out (user, item) pairs are graph edges ({counts}); "
                          "the graph leaks the evaluation split, rebuild it with hetrec build-graph")
    if cold_items is not None and len(cold_items):
        cold = {k: v for k, v in cold_item_edges(graph, item_type, cold_items).items() if v}
        if cold:
            counts = ", ".join(f"{k}: {v}" for k, v in cold.items())
            raise HetrecError(f"{where}: cold items have user–item edges ({counts}); "
                              "the graph leaks the cold-item split, rebuild it with hetrec build-graph")


def assert_no_leakage(artifact: GraphArtifact) -> None:
    """Raise if any held-out pair is an edge of any user–item relation (either direction), or a cold item has one."""
    check_no_leakage(artifact.graph, artifact.item_type, artifact.splits, artifact.path, cold_item_nodes(artifact))
