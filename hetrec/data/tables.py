"""Load generic rating tables (MovieLens-style) described by a small :class:`TableSpec`.

Files: ``ratings.csv`` ``user_id,item_id,rating[,timestamp]``; ``items.csv``
``item_id[,title]`` plus attribute columns (multi-valued ones ``|``-separated); optional
``users.csv`` ``user_id`` plus attribute columns. Columns not named in the spec are ignored
(e.g. ML-100K's ``zip_code``).

Each attribute column becomes node type = its singular (``genres`` -> ``genre``) and
relations ``has_<type>``/``<type>_of``. Bucketing kinds:
``category`` (value as written), ``multi`` (split on ``|``), ``decade`` (``1990s``; a
non-numeric year such as ML-100K's ``unkonwn`` gives no edge, counted in stats) and
``age_band`` (``<18``, ``18-24``, ``25-34``, ``35-44``, ``45-49``, ``50-55``, ``56+``, the
MovieLens-1M bands). ``order`` is the timestamp with ties broken by file row (stable);
without a timestamp column ``order`` is the file row and ``timed`` is False.
A repeated (user, item) rating keeps the last row (by ``order``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hetrec.data import schema
from hetrec.data.dataset import Attribute, Dataset
from hetrec.data.goodbooks import attribute_table

AGE_EDGES = np.array([18, 25, 35, 45, 50, 56])
AGE_BANDS = np.array(["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"], dtype=object)
BUCKETS = ("category", "multi", "decade", "age_band")


@dataclass(frozen=True)
class TableSpec:
    """Which columns become relations and how they are bucketed (column -> one of ``BUCKETS``)."""

    item_attributes: dict[str, str] = field(default_factory=dict)
    user_attributes: dict[str, str] = field(default_factory=dict)
    rating_range: tuple[float, float] = (1, 5)  # inclusive; every rating must lie inside
    name: str | None = None  # dataset name; default: the directory name


ML100K_SPEC = TableSpec(
    item_attributes={"genres": "multi", "year": "decade"},
    user_attributes={"age": "age_band", "gender": "category", "occupation": "category"},
    rating_range=(1, 5),
    name="ml-100k",
)


def singular(column: str) -> str:
    """Node type name for a column: ``genres`` -> ``genre``, ``categories`` -> ``category``."""
    c = column.strip().lower().replace(" ", "_")
    if c.endswith("ies"):
        return c[:-3] + "y"
    if c.endswith("s") and not c.endswith("ss"):
        return c[:-1]
    return c


def bucket(values: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Bucket one column: returns (row positions, values as str, rows that gave no value)."""
    if kind not in BUCKETS:
        raise ValueError(f"unknown bucket kind {kind!r}; use one of {BUCKETS}")
    text = values.fillna("").astype(str).str.strip()
    if kind == "multi":
        parts = text.str.split("|").explode().str.strip()
        return parts.index.to_numpy(), parts.to_numpy(dtype=object), 0
    if kind == "category":
        return np.arange(len(text)), text.to_numpy(dtype=object), int((text == "").sum())
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    ok = ~np.isnan(num)
    n = np.floor(num[ok]).astype(np.int64)
    if kind == "decade":
        out = pd.Series(n // 10 * 10).astype(str).add("s").to_numpy(dtype=object)
    else:
        out = AGE_BANDS[np.searchsorted(AGE_EDGES, n, side="right")]
    return np.flatnonzero(ok), out, int((~ok).sum())


def _attributes(df: pd.DataFrame, id_col: str, spec: dict[str, str], owner: str,
                stats: dict) -> list[Attribute]:
    out = []
    ids = df[id_col].to_numpy()
    for column, kind in spec.items():
        rows, values, missing = bucket(df[column], kind)
        if missing:
            stats[f"{column}_missing"] = missing
        t = singular(column)
        out.append(Attribute(t, f"has_{t}", f"{t}_of", owner, attribute_table(ids[rows], values)))
    return out


def load_tables(directory: str | os.PathLike, spec: TableSpec = ML100K_SPEC) -> Dataset:
    """Read ratings.csv, items.csv and optional users.csv from ``directory`` as ``spec`` describes."""
    directory = Path(directory)
    rpath, ipath, upath = directory / "ratings.csv", directory / "items.csv", directory / "users.csv"
    items = schema.read_csv(ipath, {"item_id": "int", **{c: "str" for c in spec.item_attributes}},
                            optional={"title": "str"})
    schema.check_unique(items, ["item_id"], ipath)
    r = schema.read_csv(rpath, {"user_id": "int", "item_id": "int", "rating": "float"},
                        optional={"timestamp": "int"})
    schema.check_range(r, "rating", *spec.rating_range, rpath)
    schema.check_known(r["item_id"], items["item_id"], rpath, "item_id", "items.csv")
    timed = "timestamp" in r
    if timed:  # rank by timestamp, ties by file row
        order = np.empty(len(r), np.int64)
        order[np.argsort(r["timestamp"].to_numpy(), kind="stable")] = np.arange(len(r))
    else:
        order = np.arange(len(r), dtype=np.int64)
    r["order"] = order
    r = r.sort_values("order", kind="stable")
    r, dropped = schema.drop_duplicate_pairs(r, ["user_id", "item_id"])
    r = r.sort_index()
    stats: dict[str, int] = {"duplicates_dropped": dropped}
    interactions = pd.DataFrame({"user_id": r["user_id"].to_numpy(), "item_id": r["item_id"].to_numpy(),
                                 "rating": r["rating"].to_numpy(np.float32), "order": r["order"].to_numpy()})
    attributes = _attributes(items, "item_id", spec.item_attributes, "item", stats)
    used = [rpath, ipath]
    user_ids = [interactions["user_id"].to_numpy()]
    if upath.exists():
        users = schema.read_csv(upath, {"user_id": "int", **{c: "str" for c in spec.user_attributes}})
        schema.check_unique(users, ["user_id"], upath)
        attributes += _attributes(users, "user_id", spec.user_attributes, "user", stats)
        user_ids.append(users["user_id"].to_numpy())
        used.append(upath)
    elif spec.user_attributes:
        raise schema.HetrecError(f"{upath}: not found but the spec names user attributes "
                                 f"{', '.join(spec.user_attributes)}; add users.csv or drop them from the spec")
    item_frame = pd.DataFrame({"item_id": items["item_id"].to_numpy(),
                               "title": items["title"].to_numpy() if "title" in items
                               else items["item_id"].astype(str).to_numpy()})
    users_frame = pd.DataFrame({"user_id": np.unique(np.concatenate(user_ids)).astype(np.int64)})
    stats.update(num_ratings=len(interactions), num_users=len(users_frame), num_items=len(item_frame))
    return Dataset(name=spec.name or directory.name, item_type="item", interactions=interactions, items=item_frame,
                   users=users_frame, attributes=attributes, timed=timed, sources=schema.fingerprints(*used),
                   stats=stats)
