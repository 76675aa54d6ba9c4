"""Load the real Goodbooks-10k files into a :class:`Dataset`.

Files (in one directory): ``ratings.csv`` ``user_id,book_id,rating`` in time order (so
``order`` is the file row); ``books.csv`` (``book_id, goodreads_book_id, authors,
original_publication_year, language_code, title``, other columns ignored);
``book_tags.csv`` ``goodreads_book_id,tag_id,count`` keyed by the *goodreads* id and
mapped to ``book_id`` through books.csv; ``tags.csv`` ``tag_id,tag_name``; optional
``to_read.csv`` ``user_id,book_id``. book_tags/tags may be absent (no tag relation).

Policies (counted in ``Dataset.stats``):
- a repeated (user, book) rating keeps the last row (a re-rating replaces the earlier one);
- ratings or to_read rows for a book_id missing from books.csv are an error (naming the row);
- book_tags rows for unknown goodreads ids or unknown tag ids are dropped and counted,
  repeated (book, tag) rows are summed, then each book keeps its ``top_tags`` tags by count
  (ties: lower tag_id first); tag names shared by several tag ids merge (weights summed);
- authors are split on commas (one ``written_by`` edge per author);
- language codes are kept as written (``eng`` and ``en-US`` stay distinct), empty -> no edge;
- years are binned by :func:`year_bin`; empty -> no edge.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from hetrec.data import schema
from hetrec.data.dataset import Attribute, Dataset

BOOK_COLUMNS = {"book_id": "int", "goodreads_book_id": "int", "authors": "str",
                "original_publication_year": "float?", "language_code": "str", "title": "str"}


def year_bin(years: np.ndarray) -> np.ndarray:
    """Bin publication years: decades from 1900 ("1990s"), centuries 1500-1899 ("1800s"),
    "before 1500" for older or negative (BCE) years, "" for missing (NaN).

    Why: decades separate modern books usefully; older books are too few per decade.
    """
    y = np.asarray(years, dtype=np.float64)
    out = np.full(y.shape, "", dtype=object)
    ok = ~np.isnan(y)
    yi = np.floor(np.where(ok, y, 0)).astype(np.int64)
    decade = ok & (yi >= 1900)
    century = ok & (yi >= 1500) & (yi < 1900)
    old = ok & (yi < 1500)
    out[decade] = pd.Series(yi[decade] // 10 * 10).astype(str).add("s").to_numpy()
    out[century] = pd.Series(yi[century] // 100 * 100).astype(str).add("s").to_numpy()
    out[old] = "before 1500"
    return out


def attribute_table(ids: np.ndarray, values: np.ndarray, weights: np.ndarray | None = None) -> pd.DataFrame:
    """An Attribute table: drop empty values, merge repeated (id, value) by summing weights."""
    df = pd.DataFrame({"id": np.asarray(ids, dtype=np.int64), "value": pd.Series(values, dtype=object).astype(str),
                       "weight": np.ones(len(ids), np.float32) if weights is None
                       else np.asarray(weights, dtype=np.float32)})
    df = df[df["value"].str.len() > 0]
    df = df.groupby(["id", "value"], sort=True, as_index=False)["weight"].sum()
    df["weight"] = df["weight"].astype(np.float32)
    return df.reset_index(drop=True)


def _ratings(path: Path, books: pd.DataFrame, rating_range: tuple[float, float]) -> tuple[pd.DataFrame, int]:
    r = schema.read_csv(path, {"user_id": "int", "book_id": "int", "rating": "float"})
    schema.check_range(r, "rating", *rating_range, path)
    schema.check_known(r["book_id"], books["book_id"], path, "book_id", "books.csv")
    r["order"] = np.arange(len(r), dtype=np.int64)
    r, dropped = schema.drop_duplicate_pairs(r, ["user_id", "book_id"])
    r = r.rename(columns={"book_id": "item_id"}).reset_index(drop=True)
    r["rating"] = r["rating"].astype(np.float32)
    return r[["user_id", "item_id", "rating", "order"]], dropped


def _tags(directory: Path, catalog: Path, books: pd.DataFrame, top_tags: int, stats: dict) -> Attribute | None:
    bt_path, tags_path = directory / "book_tags.csv", catalog / "tags.csv"
    if not bt_path.exists() and not tags_path.exists():
        return None
    bt = schema.read_csv(bt_path, {"goodreads_book_id": "int", "tag_id": "int", "count": "float"}, allow_empty=True)
    tags = schema.read_csv(tags_path, {"tag_id": "int", "tag_name": "str"})
    schema.check_unique(tags, ["tag_id"], tags_path)
    gid_to_book = pd.Series(books["book_id"].to_numpy(), index=books["goodreads_book_id"].to_numpy())
    book = gid_to_book.reindex(bt["goodreads_book_id"].to_numpy()).to_numpy()
    known_book = ~np.isnan(book.astype(np.float64))
    known_tag = np.isin(bt["tag_id"].to_numpy(), tags["tag_id"].to_numpy())
    stats["book_tags_unknown_book_dropped"] = int((~known_book).sum())
    stats["book_tags_unknown_tag_dropped"] = int((known_book & ~known_tag).sum())
    keep = known_book & known_tag
    bt = pd.DataFrame({"id": book[keep].astype(np.int64), "tag_id": bt["tag_id"].to_numpy()[keep],
                       "count": bt["count"].to_numpy()[keep]})
    n = len(bt)
    bt = bt.groupby(["id", "tag_id"], sort=False, as_index=False)["count"].sum()
    stats["book_tags_repeats_merged"] = n - len(bt)
    bt = bt.sort_values(["id", "count", "tag_id"], ascending=[True, False, True], kind="stable")
    bt = bt[bt.groupby("id").cumcount().to_numpy() < top_tags]
    names = pd.Series(tags["tag_name"].to_numpy(), index=tags["tag_id"].to_numpy())
    values = names.reindex(bt["tag_id"].to_numpy()).to_numpy()
    return Attribute("tag", "has_tag", "tag_of", "item", attribute_table(bt["id"].to_numpy(), values,
                                                                          bt["count"].to_numpy()))


def _to_read(path: Path, books: pd.DataFrame, stats: dict) -> pd.DataFrame:
    tr = schema.read_csv(path, {"user_id": "int", "book_id": "int"}, allow_empty=True)
    schema.check_known(tr["book_id"], books["book_id"], path, "book_id", "books.csv")
    tr, dropped = schema.drop_duplicate_pairs(tr, ["user_id", "book_id"])
    stats["to_read_duplicates_dropped"] = dropped
    return tr.rename(columns={"book_id": "item_id"}).reset_index(drop=True)


def load_goodbooks(directory: str | os.PathLike, *, top_tags: int = 20,
                   rating_range: tuple[float, float] = (1, 5), catalog: str | os.PathLike | None = None) -> Dataset:
    """Read a Goodbooks-10k directory (real files or ``hetrec synth`` output) into a Dataset.

    Args:
        directory: holds ratings.csv and books.csv; book_tags.csv + tags.csv and to_read.csv optional.
        top_tags: tags kept per book, by count (default 20).
        rating_range: inclusive range every rating must lie in (default 1..5).
        catalog: directory holding books.csv and tags.csv when they are not beside ratings.csv (e.g. the
            official ``samples/`` rate books outside ``samples/books.csv``: pass the full catalogue here).
    """
    directory = Path(directory)
    catalog = Path(catalog) if catalog is not None else directory
    books_path, ratings_path = catalog / "books.csv", directory / "ratings.csv"
    books = schema.read_csv(books_path, BOOK_COLUMNS)
    schema.check_unique(books, ["book_id"], books_path)
    schema.check_unique(books, ["goodreads_book_id"], books_path)
    stats: dict[str, int] = {}
    interactions, stats["duplicates_dropped"] = _ratings(ratings_path, books, rating_range)
    used = [books_path, ratings_path]

    bid = books["book_id"].to_numpy()
    authors = books["authors"].str.split(",").explode()
    attributes = [Attribute("author", "written_by", "wrote", "item",
                            attribute_table(bid[authors.index.to_numpy()], authors.str.strip().to_numpy()))]
    tag_attr = _tags(directory, catalog, books, top_tags, stats)
    if tag_attr is not None:
        attributes.append(tag_attr)
        used += [directory / "book_tags.csv", catalog / "tags.csv"]
    attributes.append(Attribute("language", "in_language", "language_of", "item",
                                attribute_table(bid, books["language_code"].to_numpy())))
    attributes.append(Attribute("year", "published_in", "year_of", "item",
                                attribute_table(bid, year_bin(books["original_publication_year"].to_numpy()))))

    behaviours = {}
    user_ids = [interactions["user_id"].to_numpy()]
    if (directory / "to_read.csv").exists():
        behaviours["to_read"] = _to_read(directory / "to_read.csv", books, stats)
        user_ids.append(behaviours["to_read"]["user_id"].to_numpy())
        used.append(directory / "to_read.csv")

    items = pd.DataFrame({"item_id": bid, "title": books["title"].to_numpy(), "authors": books["authors"].to_numpy(),
                          "year": books["original_publication_year"].to_numpy()})
    users = pd.DataFrame({"user_id": np.unique(np.concatenate(user_ids)).astype(np.int64)})
    stats.update(num_ratings=len(interactions), num_users=len(users), num_books=len(items))
    return Dataset(name=directory.name, item_type="book", interactions=interactions, items=items, users=users,
                   attributes=attributes, behaviours=behaviours, timed=True,
                   sources=schema.fingerprints(*used), stats=stats)
