"""Dataset + split table -> typed DGL heterograph holding training interactions only.

Node ids are 0..n-1 per type: users and items in sorted raw-id order, attribute values in
sorted value order over the union of every attribute of that node type (several attributes may share
a node type, e.g. the 60 KG relations of ``--dataset kg`` all point at ``entity``; with one attribute
per type this is that attribute's sorted values, so existing artifacts keep their ids). An attribute
whose node type is the item type links items to items (values are item raw ids). Every step is a vectorised numpy/pandas operation (unique, searchsorted,
isin), so Goodbooks scale (6M ratings) builds in seconds. See docs/architecture.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import hetrec  # noqa: F401  (installs the DGL compatibility shim before dgl)
import dgl
import torch

from hetrec.data.dataset import Dataset
from hetrec.errors import HetrecError
from hetrec.graph import relations as R
from hetrec.graph.similar import knn_pairs

SPLITS = ("train", "valid", "test")


@dataclass
class BuiltGraph:
    """Everything an artifact stores, in memory."""

    graph: dgl.DGLGraph
    item_type: str
    id_maps: dict[str, pd.DataFrame]  # ntype -> DataFrame[raw_id, node_id]
    splits: pd.DataFrame  # user, item (node ids, int64), rating (float32), split
    items: pd.DataFrame  # node_id, title, display columns
    stats: dict[str, int] = field(default_factory=dict)


def _kept_ids(known: np.ndarray, had: np.ndarray, remain: np.ndarray) -> np.ndarray:
    """Sorted ids to keep: all known ones except those the split's filters removed."""
    everything = np.union1d(known, remain)
    removed = np.setdiff1d(had, remain)
    return np.setdiff1d(everything, removed).astype(np.int64)


def _lookup(sorted_ids: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node ids of ``raw`` in ``sorted_ids`` and a mask of which were found."""
    raw = np.asarray(raw, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, raw)
    pos_c = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    found = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == raw) if len(sorted_ids) else np.zeros(len(raw), bool)
    return pos_c.astype(np.int64), found


def _unique_pairs(src: np.ndarray, dst: np.ndarray, n_dst: int, *extra: np.ndarray):
    """Drop duplicate (src, dst) pairs (first kept) and sort by (src, dst)."""
    key = src * np.int64(max(n_dst, 1)) + dst
    key, first = np.unique(key, return_index=True)
    return (src[first], dst[first], *(e[first] for e in extra))


def _check_split(split: pd.DataFrame) -> None:
    missing = {"user_id", "item_id", "rating", "split"} - set(split.columns)
    if missing:
        raise HetrecError(f"split table lacks column(s) {sorted(missing)}; split it with hetrec.data.split first")
    bad = ~split["split"].isin(SPLITS).to_numpy()
    if bad.any():
        raise HetrecError(f"split table row {int(np.flatnonzero(bad)[0])}: split "
                          f"'{split['split'].iloc[int(np.flatnonzero(bad)[0])]}' is not one of {SPLITS}")


def _check_names(dataset: Dataset) -> None:
    """Relation names must be unique (DGL and the models key by them); node types may be shared
    by several attributes, but an attribute may not be called ``user``."""
    if any(a.node_type == R.USER for a in dataset.attributes):
        raise HetrecError(f"dataset {dataset.name}: an attribute node type is named '{R.USER}'; rename it")
    rels = [R.RATES, R.RATED_BY, R.SIMILAR] + [r for a in dataset.attributes for r in (a.relation, a.reverse)]
    rels += [r for b in dataset.behaviours for r in (b, R.behaviour_reverse(b))]
    dup = pd.Index(rels)[pd.Index(rels).duplicated()]
    if len(dup):
        raise HetrecError(f"dataset {dataset.name}: relation '{dup[0]}' is used twice; rename an attribute")
    bad_owner = [a.node_type for a in dataset.attributes if a.owner not in ("item", "user")]
    if bad_owner:
        raise HetrecError(f"dataset {dataset.name}: attribute '{bad_owner[0]}' owner must be 'item' or 'user'")


def _attribute_nodes(dataset: Dataset, owners: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sorted distinct values per attribute node type, over all attributes of that type whose owner is kept."""
    values: dict[str, list[np.ndarray]] = {}
    for attr in dataset.attributes:
        if attr.node_type == dataset.item_type:
            continue
        _, found = _lookup(owners[attr.owner], attr.table["id"].to_numpy())
        values.setdefault(attr.node_type, []).append(attr.table["value"].astype(str).to_numpy()[found])
    return {t: np.unique(np.concatenate(v).astype(str)).astype(object) for t, v in values.items()}


def build_graph(dataset: Dataset, split: pd.DataFrame, *, similar_k: int = 0,
                similar_on: str = "tag", cold_items: np.ndarray | None = None) -> BuiltGraph:
    """Build the heterograph and its tables.

    Args:
        dataset: validated loader output.
        split: interactions kept by the split (``user_id, item_id, rating, split``).
        similar_k: neighbours per item of the ``(item, similar, item)`` relation; 0 = no relation.
        similar_on: attribute node type whose weighted profile defines item similarity.
        cold_items: raw ids of strict cold items (``--split cold-items``): every behaviour edge
            (e.g. ``to_read``) touching them is dropped too, not only the held-out pairs, so that no
            user–item relation carries any of their interactions. Their attribute edges stay.
    """
    _check_names(dataset)
    _check_split(split)
    it = dataset.item_type
    users = _kept_ids(dataset.users["user_id"].to_numpy(np.int64),
                      dataset.interactions["user_id"].to_numpy(np.int64), split["user_id"].to_numpy(np.int64))
    items = _kept_ids(dataset.items["item_id"].to_numpy(np.int64),
                      dataset.interactions["item_id"].to_numpy(np.int64), split["item_id"].to_numpy(np.int64))
    n_users, n_items = len(users), len(items)
    num_nodes = {R.USER: n_users, it: n_items}
    id_maps = {R.USER: pd.DataFrame({"raw_id": users, "node_id": np.arange(n_users, dtype=np.int64)}),
               it: pd.DataFrame({"raw_id": items, "node_id": np.arange(n_items, dtype=np.int64)})}

    su, _ = _lookup(users, split["user_id"].to_numpy())
    si, _ = _lookup(items, split["item_id"].to_numpy())
    splits = pd.DataFrame({"user": su, "item": si, "rating": split["rating"].to_numpy(np.float32),
                           "split": split["split"].astype(str).to_numpy()})

    edges: dict[R.CanonicalEtype, tuple[np.ndarray, np.ndarray]] = {}
    edata: dict[R.CanonicalEtype, dict[str, np.ndarray]] = {}

    def add(etype, rev, src, dst, data: dict[str, np.ndarray]) -> None:
        edges[etype], edata[etype] = (src, dst), data
        if rev is not None:
            order = np.lexsort((src, dst))  # reverse sorted by (its src, its dst)
            edges[rev] = (dst[order], src[order])
            edata[rev] = {k: v[order] for k, v in data.items()}

    train = (splits["split"] == "train").to_numpy()
    u, i, r = _unique_pairs(su[train], si[train], n_items, splits["rating"].to_numpy()[train])
    add((R.USER, R.RATES, it), (it, R.RATED_BY, R.USER), u, i, {"rating": r.astype(np.float32)})

    stats: dict[str, int] = {}
    owners = {"item": items, "user": users}
    for ntype, values in _attribute_nodes(dataset, owners).items():
        num_nodes[ntype] = len(values)
        id_maps[ntype] = pd.DataFrame({"raw_id": values.astype(str), "node_id": np.arange(len(values), dtype=np.int64)})
    for attr in dataset.attributes:
        owner_type = it if attr.owner == "item" else R.USER
        t = attr.table
        own, found = _lookup(owners[attr.owner], t["id"].to_numpy())
        if attr.node_type == it:  # item -> item: values are item raw ids
            codes, hit = _lookup(items, pd.to_numeric(t["value"], errors="coerce").fillna(-1).to_numpy(np.int64))
            found &= hit
        else:
            codes = np.searchsorted(id_maps[attr.node_type]["raw_id"].to_numpy(dtype=str),
                                    t["value"].astype(str).to_numpy())
        own, codes = own[found], codes[found].astype(np.int64)
        w = t["weight"].to_numpy(np.float32)[found]
        src, dst, w = _unique_pairs(own, codes, num_nodes[attr.node_type], w)
        add((owner_type, attr.relation, attr.node_type), (attr.node_type, attr.reverse, owner_type),
            src, dst, {"weight": w.astype(np.float32)})

    held = splits.loc[~train, ["user", "item"]].to_numpy(np.int64)
    held_keys = held[:, 0] * n_items + held[:, 1]
    cold, cold_found = _lookup(items, np.asarray([] if cold_items is None else cold_items, dtype=np.int64))
    cold = cold[cold_found]
    for name, table in dataset.behaviours.items():
        bu, fu = _lookup(users, table["user_id"].to_numpy())
        bi, fi = _lookup(items, table["item_id"].to_numpy())
        bu, bi = _unique_pairs(bu[fu & fi], bi[fu & fi], n_items)
        leak = np.isin(bu * n_items + bi, held_keys)  # a held-out target must not be an edge
        stats[f"{name}_heldout_pairs_dropped"] = int(leak.sum())
        if cold_items is not None:  # a strict cold item has no user edge of any kind
            cold_edge = np.isin(bi, cold) & ~leak
            stats[f"{name}_cold_item_edges_dropped"] = int(cold_edge.sum())
            leak |= cold_edge
        add((R.USER, name, it), (it, R.behaviour_reverse(name), R.USER), bu[~leak], bi[~leak], {})

    if similar_k > 0:
        prof = next((a for a in dataset.attributes if a.node_type == similar_on and a.owner == "item"), None)
        if prof is None:
            raise HetrecError(f"--similar-k needs item attribute '{similar_on}', which dataset "
                              f"{dataset.name} does not have; use --similar-k 0")
        src, dst = edges[(it, prof.relation, similar_on)]
        w = edata[(it, prof.relation, similar_on)]["weight"]
        a, b, s = knn_pairs(src, dst, w, num_items=n_items, num_values=num_nodes[similar_on], k=similar_k)
        add((it, R.SIMILAR, it), None, a, b, {"weight": s})

    graph = dgl.heterograph({k: (torch.from_numpy(np.ascontiguousarray(s, dtype=np.int64)),
                                 torch.from_numpy(np.ascontiguousarray(d, dtype=np.int64)))
                             for k, (s, d) in edges.items()}, num_nodes_dict=num_nodes, idtype=torch.int64)
    for etype, data in edata.items():
        for key, val in data.items():
            graph.edges[etype].data[key] = torch.from_numpy(np.ascontiguousarray(val, dtype=np.float32))
    return BuiltGraph(graph=graph, item_type=it, id_maps=id_maps, splits=splits,
                      items=_items_table(dataset.items, items), stats=stats)


def _items_table(table: pd.DataFrame, items: np.ndarray) -> pd.DataFrame:
    """Display columns aligned with item node ids (items missing from the catalogue get an empty title)."""
    out = table.drop_duplicates("item_id", keep="last").set_index("item_id").reindex(items)
    if "title" not in out.columns:
        out["title"] = ""
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].fillna("").astype(str)
    out = out.reset_index(drop=True)
    out.insert(0, "node_id", np.arange(len(items), dtype=np.int64))
    return out
