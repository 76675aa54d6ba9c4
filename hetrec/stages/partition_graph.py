"""Stage ``partition-graph``: a graph artifact -> DistDGL partitions of its heterograph (METIS or random).

DGL does the work (``dgl.distributed.partition_graph``); this stage keeps what hetrec needs beside it, in one
atomic directory:

- ``partitions/<name>.json`` and ``partitions/part<k>/`` — DGL's partition config and per-part graphs (edge data
  ``rating``/``weight`` travel along), the input of ``dgl.distributed.DistGraph`` (docs/cluster.md).
- ``partitions/ids/<ntype>.parquet`` — ``node_id`` (the graph artifact's id), ``partition_id`` (DGL's reshuffled
  per-type id) and ``part``: DGL renumbers nodes so that each part holds a contiguous id range.
- ``splits.parquet``, ``<ntype>_ids.parquet``, ``items.parquet`` — copied from the graph artifact unchanged, so the
  split and the raw-id maps stay with the partitions (they are keyed by the graph artifact's node ids).
- ``manifest.json`` — stage, config, the graph fingerprint, per-part node counts, the seed DGL was given.

Why retries for ``random``: DGL 2.1.0's ``partition_graph`` fails with ``IndexError`` when a part receives no
node of some type (its random assignment ignores types, and tiny types such as ``gender`` with 2 nodes often land
in one part). The stage retries with the next seeds and says so in the manifest; METIS balances better.
"""
from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import hetrec  # noqa: F401  (DGL shim before dgl)
import dgl
import pandas as pd
import torch

from hetrec.artifacts import atomic_dir, write_manifest
from hetrec.errors import HetrecError

STAGE = "partition_graph"
METHODS = ("metis", "random")
PARTS_DIR, GRAPH_NAME = "partitions", "hetrec"
RANDOM_TRIES = 20  # seeds tried by --method random before giving up


@dataclass(frozen=True)
class PartitionConfig:
    graph: Path  # build-graph artifact directory
    out: Path  # directory to write
    parts: int = 2  # number of partitions (one per machine in DistDGL)
    method: str = "metis"  # metis | random
    seed: int = 0  # dgl.seed for the random assignment (and METIS's own randomness)
    force: bool = False  # replace an existing --out

    def resolved(self) -> dict:
        d = asdict(self)
        for k in ("graph", "out", "force"):
            d.pop(k)
        return d


def _partition(graph: dgl.DGLGraph, parts: int, directory: Path, method: str, seed: int):
    """DGL's partitioner, its prints captured (only report.py prints); returns (orig_nids, orig_eids, seed)."""
    tries = RANDOM_TRIES if method == "random" else 1
    for k in range(tries):
        shutil.rmtree(directory, ignore_errors=True)
        dgl.seed(seed + k)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                nids, eids = dgl.distributed.partition_graph(graph, GRAPH_NAME, parts, str(directory),
                                                             part_method=method, return_mapping=True)
            return nids, eids, seed + k
        except IndexError:  # DGL 2.1.0: a part without any node of some type (see the module docstring)
            continue
        except Exception as e:  # e.g. a DGL build without METIS
            raise HetrecError(f"--method {method}: DGL {dgl.__version__} partition_graph failed "
                              f"({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                              f"try --method {'random' if method == 'metis' else 'metis'}") from None
    raise HetrecError(f"--method {method} --parts {parts}: DGL {dgl.__version__} left a part without any node of some "
                      f"type in {tries} tries (it cannot store such a part); use --method metis or fewer --parts")


def run(cfg: PartitionConfig, *, log: Callable[[str], None] | None = None) -> dict:
    """Partition the artifact's heterograph; returns a summary (per-part node counts, seed used)."""
    from hetrec.graph.artifact import ITEMS_FILE, SPLITS_FILE, ids_file, load_graph_artifact

    say = log or (lambda _m: None)
    if cfg.method not in METHODS:
        raise HetrecError(f"--method {cfg.method}: unknown; use one of {', '.join(METHODS)}")
    if cfg.parts < 1:
        raise HetrecError(f"--parts {cfg.parts}: must be at least 1")
    out = Path(cfg.out)
    if out.exists() and not cfg.force:
        raise HetrecError(f"{out} already exists; pass --force to replace it or choose another --out")
    artifact = load_graph_artifact(cfg.graph)
    graph = artifact.graph
    small = {t: graph.num_nodes(t) for t in graph.ntypes if graph.num_nodes(t) < cfg.parts}
    if small:
        raise HetrecError(f"--parts {cfg.parts}: node type(s) {small} have fewer nodes than parts, and DGL "
                          f"{dgl.__version__} cannot store a part without nodes of a type; use fewer --parts")
    say(f"partitioning {cfg.graph} into {cfg.parts} parts ({cfg.method}) ...")
    with atomic_dir(out, force=cfg.force) as tmp:
        nids, _eids, seed = _partition(graph, cfg.parts, tmp / PARTS_DIR, cfg.method, cfg.seed)
        part_config = tmp / PARTS_DIR / f"{GRAPH_NAME}.json"
        book = dgl.distributed.load_partition_book(str(part_config), 0)[0]
        (tmp / PARTS_DIR / "ids").mkdir()
        per_part = {}
        for t in graph.ntypes:
            orig = nids[t] if isinstance(nids, dict) else nids
            shuffled = torch.arange(orig.numel())
            part = book.nid2partid(shuffled, t)
            pd.DataFrame({"node_id": orig.numpy(), "partition_id": shuffled.numpy(), "part": part.numpy()}) \
                .sort_values("node_id").to_parquet(tmp / PARTS_DIR / "ids" / f"{t}.parquet", index=False)
            per_part[t] = torch.bincount(part, minlength=cfg.parts).tolist()
        for name in [SPLITS_FILE, ITEMS_FILE, *(ids_file(t) for t in graph.ntypes)]:
            shutil.copy2(Path(cfg.graph) / name, tmp / name)
        write_manifest(tmp, stage=STAGE, config=cfg.resolved(), inputs={"graph": artifact.fingerprint},
                       counts={"nodes_per_part": per_part, "parts": cfg.parts},
                       seed=seed, item_type=artifact.item_type, graph_name=GRAPH_NAME,
                       part_config=f"{PARTS_DIR}/{GRAPH_NAME}.json", paths={"graph": str(Path(cfg.graph).resolve())})
    summary = {"out": str(out), "parts": cfg.parts, "method": cfg.method, "seed": seed, "nodes_per_part": per_part,
               "part_config": str(out / PARTS_DIR / f"{GRAPH_NAME}.json")}
    say(f"wrote {out} ({cfg.parts} parts, {cfg.method}, seed {seed})")
    return summary
