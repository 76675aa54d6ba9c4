"""Layer-0 tables shared by every embedding model: validate pretrained tables, fill parameters, check graph sizes."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

__all__ = ["INIT_STD", "check_init", "fill_tables", "check_graph_sizes"]

INIT_STD = 0.1  # N(0, 0.1^2) layer-0 init, as in LightGCN's reference code


def check_init(init: Mapping[str, Tensor] | None, tables: Mapping[str, tuple[int, int]]) -> dict[str, Tensor]:
    """Validate pretrained tables against a model's layer-0 tables; return the usable ones (float32, CPU).

    init: ``{node_type: [rows, dim]}`` from an embeddings artifact (extra node types are ignored:
    an artifact holds every node type, a model uses some). tables: ``{node_type: (rows, dim)}`` the
    model expects. Raises ``ValueError`` on a wrong row count or dimension, or when ``init`` names
    none of the model's tables (e.g. the wrong item type).
    """
    if init is None:
        return {}
    used = {}
    for key, (rows, dim) in tables.items():
        if key not in init:
            continue
        t = torch.as_tensor(init[key])
        if t.dim() != 2 or t.shape[1] != dim:
            raise ValueError(f"init[{key!r}] has shape {tuple(t.shape)}, model needs dim {dim}: "
                             f"pretrain and finetune with the same --dim")
        if t.shape[0] != rows:
            raise ValueError(f"init[{key!r}] has {t.shape[0]} rows, the graph has {rows} {key} nodes: "
                             f"pretrain on the same graph artifact")
        used[key] = t.detach().to("cpu", torch.float32).clone()
    if not used:
        raise ValueError(f"init has tables {sorted(init)} but the model needs some of {sorted(tables)}")
    return used


def fill_tables(tables, init: Mapping[str, Tensor]) -> None:
    """Copy pretrained values into each ``(parameter, node type)`` where ``init`` has them, else N(0, INIT_STD^2)."""
    with torch.no_grad():
        for param, key in tables:
            if key in init:
                param.copy_(init[key])
            else:
                nn.init.normal_(param, std=INIT_STD)


def check_graph_sizes(graph, sizes: Mapping[str, int]) -> None:
    """Raise ``ValueError`` when the graph's node counts differ from the model's sizes."""
    for ntype, n in sizes.items():
        if ntype not in graph.ntypes:
            raise ValueError(f"graph has no node type {ntype!r} (node types: {graph.ntypes})")
        if graph.num_nodes(ntype) != n:
            raise ValueError(f"graph has {graph.num_nodes(ntype)} {ntype} nodes, model was built for {n}")
