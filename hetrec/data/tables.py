"""Load generic rating tables (MovieLens-style) described by a small :class:`TableSpec`.

Files: ``ratings.csv`` ``user_id,item_id,rating[,timestamp]``; ``items.csv``
``item_id[,title]`` plus attribute columns (multi-valued ones ``|``-separated); optional
``users.csv`` ``user_id`` plus attribute columns.

Which columns become relations: those the spec names (``--item-attr``/``--user-attr``), or, for
a table the spec leaves as ``None``, every column except the ids and ``title``, with its kind
detected by :func:`detect_kind` (why: a generic dataset should reach the graph with its side
information without a hand-written spec; the detected kinds and skipped columns are recorded
in ``Dataset.stats`` so the manifest says what was done).

Each attribute column becomes node type = its singular (``genres`` -> ``genre``) and
relations ``has_<type>``/``<type>_of``. Bucketing kinds:
``category`` (value as written), ``multi`` (split on ``|``), ``decade`` (``1990s``; a
non-numeric year such as ML-100K's ``unkonwn`` gives no edge, counted in stats),
``age_band`` (``<18``, ``18-24``, ``25-34``, ``35-44``, ``45-49``, ``50-55``, ``56+``, the
MovieLens-1M bands) and ``bins`` (``N_BINS`` quantile bins labelled by their range, e.g.
``12.5-40``: a many-valued number as a category would give one node per value).
``order`` is the timestamp with ties broken by file row (stable); without a timestamp
column — or with one whose every cell is empty — ``order`` is the file row and ``timed`` is False.
A repeated (user, item) rating keeps the last row (by ``order``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hetrec.data import schema
from hetrec.data.dataset import Attribute, Dataset
from hetrec.data.goodbooks import attribute_table

AGE_EDGES = np.array([18, 25, 35, 45, 50, 56])
AGE_BANDS = np.array(["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"], dtype=object)
BUCKETS = ("category", "multi", "decade", "age_band", "bins")
N_BINS = 8  # quantile bins of a ``bins`` column
MANY_VALUES = 20  # a numeric column with more distinct values is bucketed (decade / age_band / bins)
ID_SHARE = 0.5  # a text column with more distinct values than this share of rows is an identifier: skipped
NUMERIC_SHARE = 0.95  # a column is numeric when this share of its non-empty cells parse as numbers
DETECT = "detect"  # kind of a declared column whose kind is left to detection


@dataclass(frozen=True)
class TableSpec:
    """Which columns become relations and how they are bucketed (column -> one of ``BUCKETS`` or ``DETECT``).

    ``None`` for a table means: every column of it, kinds detected (see :func:`detect_kind`).
    """

    item_attributes: dict[str, str] | None = None
    user_attributes: dict[str, str] | None = None
    rating_range: tuple[float, float] = (1, 5)  # inclusive; every rating must lie inside
    name: str | None = None  # dataset name; default: the directory name


ML100K_SPEC = TableSpec(
    item_attributes={"genres": "multi", "year": "decade"},
    user_attributes={"age": "age_band", "gender": "category", "occupation": "category"},
    rating_range=(1, 5),
)


def parse_declared(declared: list[str] | tuple[str, ...], flag: str) -> dict[str, str] | None:
    """``["genres:multi", "year"]`` -> ``{"genres": "multi", "year": "detect"}``; empty -> None (detect all)."""
    out: dict[str, str] = {}
    for item in declared:
        column, _, kind = item.partition(":")
        column, kind = column.strip(), (kind.strip() or DETECT)
        if not column or kind not in BUCKETS + (DETECT,):
            raise schema.HetrecError(f"{flag} {item}: expected COLUMN[:KIND] with KIND one of {', '.join(BUCKETS)}")
        out[column] = kind
    return out or None


def detect_kind(column: str, values: pd.Series) -> str | None:
    """The bucket kind of one column from its values, or None for an identifier-like column (skipped).

    Rules, in order: any cell with ``|`` -> ``multi``; numeric (``NUMERIC_SHARE`` of the non-empty
    cells parse, so ML-100K's few ``unkonwn`` years do not make the column text) with more than
    ``MANY_VALUES`` distinct values -> ``decade`` if the column is named like ``year``, ``age_band``
    if named like ``age``, else ``bins``; text with distinct values on more than ``ID_SHARE`` of the
    rows (zip codes, free text) -> None, since one node per row links nothing; else ``category``.
    Numbers written with a leading zero (``01002``) are codes, not quantities: treated as text.
    """
    text = values.fillna("").astype(str).str.strip()
    filled = text[text != ""]
    if len(filled) == 0:
        return None
    if filled.str.contains("|", regex=False).any():
        return "multi"
    distinct = filled.nunique()
    num = pd.to_numeric(filled, errors="coerce")
    coded = filled.str.match(r"^0\d").any()
    if num.notna().mean() >= NUMERIC_SHARE and not coded:
        if num.nunique() <= MANY_VALUES:
            return "category"
        name = column.strip().lower()
        if re.search(r"(^|_)years?($|_)", name):
            return "decade"
        if re.search(r"(^|_)age($|_)", name):
            return "age_band"
        return "bins"
    return None if distinct > ID_SHARE * len(text) else "category"


def singular(column: str) -> str:
    """Node type name for a column: ``genres`` -> ``genre``, ``categories`` -> ``category``."""
    c = column.strip().lower().replace(" ", "_")
    if c.endswith("ies"):
        return c[:-3] + "y"
    if c.endswith("s") and not c.endswith("ss"):
        return c[:-1]
    return c


def quantile_bins(num: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Labels of ``n_bins`` quantile bins (``lo-hi`` of each bin's edges; repeated edges merge).

    Why quantiles: equal-width bins of a skewed column (counts, prices) put almost every row in one bin.
    """
    edges = np.unique(np.quantile(num, np.linspace(0, 1, n_bins + 1)))
    if len(edges) == 1:
        return np.full(len(num), f"{edges[0]:g}", dtype=object)
    idx = np.clip(np.searchsorted(edges, num, side="right") - 1, 0, len(edges) - 2)
    labels = np.array([f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])], dtype=object)
    return labels[idx]


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
    elif kind == "bins":
        out = quantile_bins(num[ok]) if ok.any() else np.array([], dtype=object)
    else:
        out = AGE_BANDS[np.searchsorted(AGE_EDGES, n, side="right")]
    return np.flatnonzero(ok), out, int((~ok).sum())


def _columns(path: Path, id_col: str, spec: dict[str, str] | None, stats: dict) -> dict[str, str]:
    """Columns of one table to use and their kinds: the declared ones, or every column detected."""
    header = schema.header(path)
    if spec is not None:
        for column in spec:
            if column not in header:
                raise schema.HetrecError(f"{schema.where(path, 1, column)}: declared attribute column missing "
                                         f"(found: {', '.join(header)}); fix the flag or the header")
        declared = {c: k for c, k in spec.items() if k != DETECT}
        if len(declared) == len(spec):
            return declared
        frame = schema.read_csv(path, {c: "str" for c in spec if c not in declared})
        return {c: (k if k != DETECT else (detect_kind(c, frame[c]) or "category")) for c, k in spec.items()}
    candidates = [c for c in header if c not in (id_col, "title")]
    if not candidates:
        return {}
    frame = schema.read_csv(path, {c: "str" for c in candidates})
    kinds = {c: detect_kind(c, frame[c]) for c in candidates}
    skipped = [f"{path.name}:{c}" for c, k in kinds.items() if k is None]
    if skipped:
        stats.setdefault("skipped_columns", []).extend(skipped)
    return {c: k for c, k in kinds.items() if k is not None}


def _attributes(df: pd.DataFrame, id_col: str, spec: dict[str, str], owner: str, stats: dict,
                taken: set[str]) -> list[Attribute]:
    out = []
    ids = df[id_col].to_numpy()
    for column, kind in spec.items():
        rows, values, missing = bucket(df[column], kind)
        if missing:
            stats[f"{column}_missing"] = missing
        t = singular(column)
        if t in taken or t in ("user", "item"):  # an item and a user column of the same name: keep both apart
            t = f"{owner}_{t}"
        taken.add(t)
        stats.setdefault("attribute_kinds", {})[f"{owner}s.csv:{column}"] = kind
        out.append(Attribute(t, f"has_{t}", f"{t}_of", owner, attribute_table(ids[rows], values)))
    return out


def _order(r: pd.DataFrame, path: Path) -> tuple[np.ndarray, bool]:
    """Time order of the rating rows, and whether there is one.

    An all-empty ``timestamp`` column means the file has no time (an export that always writes the
    column); a partly empty one is an error naming the first empty row, since half a time order
    would silently make leave-one-out pick wrong targets.
    """
    if "timestamp" not in r or (r["timestamp"] == "").all():
        return np.arange(len(r), dtype=np.int64), False
    ts = schema.convert(r["timestamp"], "int", path, "timestamp").to_numpy()
    order = np.empty(len(r), np.int64)
    order[np.argsort(ts, kind="stable")] = np.arange(len(r))  # rank by timestamp, ties by file row
    return order, True


def load_tables(directory: str | os.PathLike, spec: TableSpec = ML100K_SPEC) -> Dataset:
    """Read ratings.csv, items.csv and optional users.csv from ``directory`` as ``spec`` describes."""
    directory = Path(directory)
    rpath, ipath, upath = directory / "ratings.csv", directory / "items.csv", directory / "users.csv"
    stats: dict = {}
    item_cols = _columns(ipath, "item_id", spec.item_attributes, stats)
    items = schema.read_csv(ipath, {"item_id": "int", **{c: "str" for c in item_cols}},
                            optional={"title": "str"})
    schema.check_unique(items, ["item_id"], ipath)
    r = schema.read_csv(rpath, {"user_id": "int", "item_id": "int", "rating": "float"},
                        optional={"timestamp": "str"})
    schema.check_range(r, "rating", *spec.rating_range, rpath)
    schema.check_known(r["item_id"], items["item_id"], rpath, "item_id", "items.csv")
    r["order"], timed = _order(r, rpath)
    r = r.sort_values("order", kind="stable")
    r, dropped = schema.drop_duplicate_pairs(r, ["user_id", "item_id"])
    r = r.sort_index()
    stats["duplicates_dropped"] = dropped
    interactions = pd.DataFrame({"user_id": r["user_id"].to_numpy(), "item_id": r["item_id"].to_numpy(),
                                 "rating": r["rating"].to_numpy(np.float32), "order": r["order"].to_numpy()})
    taken: set[str] = set()
    attributes = _attributes(items, "item_id", item_cols, "item", stats, taken)
    used = [rpath, ipath]
    user_ids = [interactions["user_id"].to_numpy()]
    if upath.exists():
        user_cols = _columns(upath, "user_id", spec.user_attributes, stats)
        users = schema.read_csv(upath, {"user_id": "int", **{c: "str" for c in user_cols}})
        schema.check_unique(users, ["user_id"], upath)
        attributes += _attributes(users, "user_id", user_cols, "user", stats, taken)
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
