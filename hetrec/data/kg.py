"""Load a recommendation dataset linked to a knowledge graph (``--dataset kg``), in either of two layouts.

Layout (a), KGCN/RippleNet (e.g. ``../shared/data/lastfm-kg``): ``user_artists.dat`` (tab-separated,
header ``userID artistID weight``) or ``ratings.csv`` (``user_id,item_id[,...]``);
``item_index2entity_id.txt`` (``item<TAB>entity``, no header: the items linked to the KG);
``kg.txt`` (``head<TAB>relation_name<TAB>tail``, no header). Only interactions with linked items are
kept (the rest are counted as ``interactions_unlinked_dropped``); users are those with a kept one.

Layout (b), KGAT/KGIN: ``train.txt`` and ``test.txt`` (each line a user id followed by its item ids,
space-separated) and ``kg_final.txt`` (``head relation tail``, integers); items are entities
``0..n_items-1`` with ``n_items`` = largest item id + 1. The files' split becomes ``Dataset.given_split``
(``--split given``, the stage's default for this layout). A pair in both files stays in test only
(counted as ``train_test_overlap_dropped``): keeping it in train would leak its test target.

Both: every interaction is an implicit positive (rating 1), no time order (``timed=False``).

Graph: KG entities that are not items become nodes of ONE node type ``entity``: Freebase relation
names (``music.artist.origin``) do not name the tail's type, and in lastfm-kg 5,164 of the 5,520
non-item entities are tails of several relations, so per-relation node types would split one real
entity into several nodes. Each KG relation becomes ``(item, <rel>, entity)`` with reverse
``(entity, <rel>_inv, item)``, names sanitised to torch ``ModuleDict`` keys (``music.artist.origin``
-> ``music_artist_origin``; layout (b)'s integer relation ``3`` -> ``r3``). Triples whose tail is an
item (56 in lastfm-kg) become ``(item, <rel>_item, item)`` with reverse ``<rel>_item_inv``.
Triples whose head is not an item (layout (b) has entity->entity ones) are dropped and counted
(``kg_entity_head_triples_dropped``): the graph builder attaches attributes to items and users
only, and RAM-GNN's item graph reads item->value relations only, so a second KG hop would need an
``entity`` owner in the builder first.

Text files without a header count rows as lines (row 1 = first line).
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hetrec.data import schema
from hetrec.data.dataset import Attribute, Dataset
from hetrec.data.goodbooks import attribute_table
from hetrec.errors import HetrecError, where

ENTITY = "entity"
KGCN_FILES = ("item_index2entity_id.txt", "kg.txt")
KGAT_FILES = ("train.txt", "test.txt", "kg_final.txt")
RESERVED = {"rates", "rated_by", "similar"}


def detect_layout(directory: Path) -> str:
    """``"kgcn"`` or ``"kgat"`` from the files present, else a one-line error listing both layouts."""
    if all((directory / f).is_file() for f in KGAT_FILES):
        return "kgat"
    if all((directory / f).is_file() for f in KGCN_FILES):
        return "kgcn"
    raise HetrecError(f"{directory}: not a KG dataset; expected {' + '.join(KGCN_FILES)} + user_artists.dat or "
                      f"ratings.csv (KGCN layout), or {' + '.join(KGAT_FILES)} (KGAT layout)")


def sanitise(names: pd.Series) -> pd.Series:
    """Relation names -> unique ``ModuleDict``-safe keys: non-word characters -> ``_``, a leading digit
    gets ``r``, and names that collide (``a.b`` / ``a_b``) or are reserved get ``_2``, ``_3`` ..."""
    uniq = pd.unique(names.astype(str))
    clean = [re.sub(r"\W", "_", n) for n in uniq]
    clean = [f"r{c}" if not c or c[0].isdigit() else c for c in clean]
    seen: set[str] = set(RESERVED)
    out = []
    for c in clean:  # one pass over relation *types* (tens), not over triples
        name, k = c, 1
        while name in seen or f"{name}_inv" in seen or name.endswith("_inv"):
            k += 1
            name = f"{c}_{k}"
        seen.update((name, f"{name}_inv", f"{name}_item", f"{name}_item_inv"))
        out.append(name)
    return names.astype(str).map(dict(zip(uniq, out)))


def read_txt(path: Path, names: list[str], ints: list[str], sep: str) -> pd.DataFrame:
    """A header-less text table; columns in ``ints`` must be integers (error names file, line, column)."""
    data = schema.read_bytes(path)
    try:
        df = pd.read_csv(io.BytesIO(data), sep=sep, header=None, names=names, dtype=str, keep_default_na=False,
                         index_col=False, engine="c" if sep != r"\s+" else "python", skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError) as e:
        raise HetrecError(f"{path}: malformed file ({str(e).strip()}); expected {len(names)} fields a line") from None
    blank = df.isna().all(axis=1).to_numpy() | (df.fillna("").astype(str).apply(lambda c: c.str.strip()) == "").all(
        axis=1).to_numpy()
    out = {}
    for name in names:
        col = df[name].fillna("").astype(str).str.strip()
        if name in ints:
            v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            bad = (np.isnan(v) | (v != np.round(v))) & ~blank
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                shown = f"'{col.iloc[i]}'" if col.iloc[i] else "an empty field"
                raise HetrecError(f"{where(path, i + 1, name)}: {shown} is not an integer id; fix the line")
            col = pd.Series(np.where(blank, 0, np.nan_to_num(v)).astype(np.int64))
        out[name] = col
    return pd.DataFrame(out)[~blank].reset_index(drop=True)


def _check_unique(df: pd.DataFrame, column: str, path: Path) -> None:
    dup = df.duplicated(column).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise HetrecError(f"{where(path, i + 1, column)}: {column} {df[column].iloc[i]} is listed twice; "
                          "each must appear once")


def kg_attributes(triples: pd.DataFrame, entity_item: pd.Series, item_type: str, stats: dict) -> list[Attribute]:
    """KG triples (``head, relation, tail`` entity ids) -> attributes (see the module docstring).

    ``entity_item`` maps the entity id of each item to the item's raw id.
    """
    head = entity_item.reindex(triples["head"].to_numpy()).to_numpy(dtype=np.float64)
    tail = entity_item.reindex(triples["tail"].to_numpy()).to_numpy(dtype=np.float64)
    item_head, item_tail = ~np.isnan(head), ~np.isnan(tail)
    entities = np.union1d(np.union1d(triples["head"].to_numpy(), triples["tail"].to_numpy()),
                          entity_item.index.to_numpy())
    stats.update(kg_triples=len(triples), kg_relations=int(triples["relation"].nunique()),
                 kg_entities=len(entities), kg_item_tail_triples=int((item_head & item_tail).sum()),
                 kg_entity_head_triples_dropped=int((~item_head).sum()))
    rel = sanitise(triples["relation"]).to_numpy()
    head_ids = np.nan_to_num(head).astype(np.int64)
    tail_value = np.where(item_tail, pd.Series(np.nan_to_num(tail).astype(np.int64)).astype(str),
                          triples["tail"].astype(str).to_numpy())
    out = []
    for name in pd.unique(rel[item_head]):  # one Attribute per relation type (tens of them)
        for to_item in (False, True):
            m = item_head & (rel == name) & (item_tail == to_item)
            if m.any():
                suffix, ntype = ("_item", item_type) if to_item else ("", ENTITY)
                out.append(Attribute(ntype, f"{name}{suffix}", f"{name}{suffix}_inv", "item",
                                     attribute_table(head_ids[m], tail_value[m])))
    return out


def _kgcn_ratings(directory: Path) -> tuple[pd.DataFrame, Path]:
    dat, csv = directory / "user_artists.dat", directory / "ratings.csv"
    if dat.is_file():
        r = schema.read_csv(dat, {"userID": "int", "artistID": "int"}, sep="\t")
        return r.rename(columns={"userID": "user_id", "artistID": "item_id"}), dat
    if csv.is_file():
        return schema.read_csv(csv, {"user_id": "int", "item_id": "int"}), csv
    raise HetrecError(f"{directory}: no ratings file; expected user_artists.dat (userID, artistID, weight; "
                      "tab-separated) or ratings.csv (user_id,item_id)")


def _interactions(r: pd.DataFrame, stats: dict) -> pd.DataFrame:
    r = r[["user_id", "item_id"]].copy()
    r["order"] = np.arange(len(r), dtype=np.int64)
    r, stats["duplicates_dropped"] = schema.drop_duplicate_pairs(r, ["user_id", "item_id"])
    return pd.DataFrame({"user_id": r["user_id"].to_numpy(np.int64), "item_id": r["item_id"].to_numpy(np.int64),
                         "rating": np.ones(len(r), np.float32), "order": r["order"].to_numpy(np.int64)})


def load_kgcn(directory: Path) -> Dataset:
    """Layout (a); see the module docstring."""
    stats: dict = {}
    mpath, kpath = directory / "item_index2entity_id.txt", directory / "kg.txt"
    link = read_txt(mpath, ["item", "entity"], ["item", "entity"], "\t")
    _check_unique(link, "item", mpath)
    _check_unique(link, "entity", mpath)
    r, rpath = _kgcn_ratings(directory)
    linked = np.isin(r["item_id"].to_numpy(), link["item"].to_numpy())
    stats["interactions_unlinked_dropped"] = int((~linked).sum())
    interactions = _interactions(r[linked], stats)
    triples = read_txt(kpath, ["head", "relation", "tail"], ["head", "tail"], "\t")
    entity_item = pd.Series(link["item"].to_numpy(), index=link["entity"].to_numpy())
    attributes = kg_attributes(triples, entity_item, "item", stats)
    items = np.sort(link["item"].to_numpy())
    return _dataset(directory, interactions, items, attributes, stats, [rpath, mpath, kpath])


def _user_lines(path: Path) -> pd.DataFrame:
    """``user item item ...`` lines -> (user_id, item_id, line) rows, vectorised over lines."""
    lines = pd.Series(schema.read_bytes(path).decode("utf-8").splitlines())
    tokens = lines.str.split().explode().dropna()
    pos = tokens.groupby(level=0).cumcount().to_numpy()
    v = pd.to_numeric(tokens, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(v) | (v != np.round(v))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise HetrecError(f"{where(path, int(tokens.index[i]) + 1)}: '{tokens.iloc[i]}' is not an integer id; "
                          "each line is a user id then item ids, space-separated")
    line = tokens.index.to_numpy()
    v = v.astype(np.int64)
    user = pd.Series(v[pos == 0], index=line[pos == 0]).reindex(line).to_numpy()
    return pd.DataFrame({"user_id": user[pos > 0], "item_id": v[pos > 0], "line": line[pos > 0] + 1})


def load_kgat(directory: Path) -> Dataset:
    """Layout (b); see the module docstring."""
    stats: dict = {}
    tpath, spath, kpath = (directory / f for f in KGAT_FILES)
    train, test = _user_lines(tpath), _user_lines(spath)
    train = train.drop_duplicates(["user_id", "item_id"])
    test = test.drop_duplicates(["user_id", "item_id"])
    both = pd.MultiIndex.from_frame(train[["user_id", "item_id"]]).isin(
        pd.MultiIndex.from_frame(test[["user_id", "item_id"]]))
    stats["train_test_overlap_dropped"] = int(both.sum())
    train = train[~both]
    pairs = pd.concat([train.assign(part="train"), test.assign(part="test")], ignore_index=True)
    interactions = _interactions(pairs, stats)
    n_items = int(pairs["item_id"].max()) + 1 if len(pairs) else 0
    triples = read_txt(kpath, ["head", "relation", "tail"], ["head", "relation", "tail"], r"\s+")
    items = np.arange(n_items, dtype=np.int64)
    attributes = kg_attributes(triples, pd.Series(items, index=items), "item", stats)
    # index = line - 2, so an error's "row" (index + 2) is the line of test.txt / train.txt
    given = pd.DataFrame({"user_id": pairs["user_id"].to_numpy(), "item_id": pairs["item_id"].to_numpy(),
                          "part": pairs["part"].to_numpy()}, index=pairs["line"].to_numpy() - 2)
    ds = _dataset(directory, interactions, items, attributes, stats, [tpath, spath, kpath])
    ds.given_split, ds.given_source = given, f"{spath} (or train.txt)"
    return ds


def _dataset(directory: Path, interactions: pd.DataFrame, items: np.ndarray, attributes: list[Attribute],
             stats: dict, used: list[Path]) -> Dataset:
    users = pd.DataFrame({"user_id": np.unique(interactions["user_id"].to_numpy()).astype(np.int64)})
    items_frame = pd.DataFrame({"item_id": items.astype(np.int64), "title": pd.Series(items).astype(str).to_numpy()})
    stats.update(num_ratings=len(interactions), num_users=len(users), num_items=len(items_frame))
    return Dataset(name=directory.name, item_type="item", interactions=interactions, items=items_frame, users=users,
                   attributes=attributes, timed=False, sources=schema.fingerprints(*used), stats=stats)


def load_kg(directory: str | os.PathLike) -> Dataset:
    """Load either layout from ``directory`` (detected by its files)."""
    directory = Path(directory)
    return load_kgat(directory) if detect_layout(directory) == "kgat" else load_kgcn(directory)
