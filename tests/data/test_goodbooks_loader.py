"""Goodbooks loader: hand-made fixture with known relations, and the real files when present."""
from pathlib import Path

import numpy as np
import pytest

from hetrec import HetrecError
from hetrec.data.goodbooks import load_goodbooks, year_bin

from shared_data import SHARED_DATA, require_shared

GB = SHARED_DATA / "goodbooks-10k"

BOOKS = ('book_id,goodreads_book_id,isbn,authors,original_publication_year,title,language_code\n'
         '1,500,x,"Ann Lee, Bo Ma",2008.0,"One, the book",eng\n'
         '2,20,y,Ann Lee,-720.0,Two,\n'
         '3,7,z,Cy Do,,Three,en-US\n')
TAGS = "tag_id,tag_name\n0,fantasy\n1,to-read\n2,classic\n3,fantasy\n"
BOOK_TAGS = ("goodreads_book_id,tag_id,count\n"
             "500,1,50\n500,0,10\n500,2,10\n500,3,5\n"  # book 1: to-read, then tie 0/2 -> 0 first; 3 cut at top 3
             "20,2,7\n20,2,3\n"  # repeated (book, tag): summed
             "999,1,4\n"  # unknown goodreads id: dropped, counted
             "7,42,9\n")  # unknown tag id: dropped, counted
RATINGS = "user_id,book_id,rating\n5,1,4\n6,3,2\n5,2,5\n"


def fixture(d: Path, **extra: str) -> Path:
    files = {"books": BOOKS, "tags": TAGS, "book_tags": BOOK_TAGS, "ratings": RATINGS, **extra}
    for name, text in files.items():
        (d / f"{name}.csv").write_text(text)
    return d


def rows(attr):
    return sorted(map(tuple, attr.table[["id", "value", "weight"]].astype(object).values.tolist()))


def test_year_bins():
    got = year_bin(np.array([2008.0, 1997, 1900, 1899, 1850, 1500, 1499, -720, np.nan]))
    assert got.tolist() == ["2000s", "1990s", "1900s", "1800s", "1800s", "1500s", "before 1500", "before 1500", ""]


def test_fixture_relations(tmp_path):
    d = load_goodbooks(fixture(tmp_path, to_read="user_id,book_id\n7,2\n7,2\n"), top_tags=3)
    by = {a.node_type: a for a in d.attributes}
    assert [(a.relation, a.reverse, a.owner) for a in d.attributes] == [
        ("written_by", "wrote", "item"), ("has_tag", "tag_of", "item"),
        ("in_language", "language_of", "item"), ("published_in", "year_of", "item")]
    assert rows(by["author"]) == [(1, "Ann Lee", 1.0), (1, "Bo Ma", 1.0), (2, "Ann Lee", 1.0), (3, "Cy Do", 1.0)]
    assert rows(by["language"]) == [(1, "eng", 1.0), (3, "en-US", 1.0)]
    assert rows(by["year"]) == [(1, "2000s", 1.0), (2, "before 1500", 1.0)]
    assert rows(by["tag"]) == [(1, "classic", 10.0), (1, "fantasy", 10.0), (1, "to-read", 50.0), (2, "classic", 10.0)]
    assert d.stats["book_tags_unknown_book_dropped"] == 1
    assert d.stats["book_tags_unknown_tag_dropped"] == 1
    assert d.stats["book_tags_repeats_merged"] == 1
    assert d.item_type == "book" and d.timed
    assert d.interactions.values.tolist() == [[5, 1, 4, 0], [6, 3, 2, 1], [5, 2, 5, 2]]
    assert str(d.interactions["rating"].dtype) == "float32" and str(d.interactions["order"].dtype) == "int64"
    assert d.items["title"].tolist() == ["One, the book", "Two", "Three"]
    assert d.users["user_id"].tolist() == [5, 6, 7]  # to_read users are users too
    assert d.behaviours["to_read"].values.tolist() == [[7, 2]]
    assert d.stats["to_read_duplicates_dropped"] == 1
    assert set(d.sources) == {"books.csv", "ratings.csv", "book_tags.csv", "tags.csv", "to_read.csv"}


def test_top_tags_merges_same_name(tmp_path):
    d = load_goodbooks(fixture(tmp_path), top_tags=4)
    tag = next(a for a in d.attributes if a.node_type == "tag")
    assert (1, "fantasy", 15.0) in rows(tag)  # tag ids 0 and 3 share a name: one edge, weights summed


def test_without_tags(tmp_path):
    fixture(tmp_path)
    (tmp_path / "tags.csv").unlink()
    (tmp_path / "book_tags.csv").unlink()
    d = load_goodbooks(tmp_path)
    assert [a.node_type for a in d.attributes] == ["author", "language", "year"]


def need_gb():
    require_shared("goodbooks-10k", "samples", "ratings.csv")
    require_shared("goodbooks-10k", "books.csv")


def test_samples_reference_books_outside_sample_catalogue():
    """samples/books.csv holds the first 99 books; samples/ratings.csv rates others: a clear error."""
    need_gb()
    with pytest.raises(HetrecError, match=r"samples/ratings.csv, row 2, column 'book_id': id 258 is not in books.csv"):
        load_goodbooks(GB / "samples")


def test_samples_with_real_catalogue():
    """Samples' ratings/book_tags/to_read load against the real books.csv and tags.csv (``catalog``)."""
    need_gb()
    d = load_goodbooks(GB / "samples", top_tags=3, catalog=GB)
    assert len(d.interactions) == 99 and len(d.items) == 10000
    assert d.interactions.iloc[0].tolist() == [1, 258, 5, 0]
    assert d.interactions["order"].tolist() == list(range(99))
    tag = next(a for a in d.attributes if a.node_type == "tag").table
    # samples/book_tags.csv holds only goodreads id 1 = book_id 27 (Half-Blood Prince), not book_id 1
    assert tag["id"].unique().tolist() == [27]
    top27 = tag[tag["id"] == 27].sort_values("weight", ascending=False)
    assert top27["value"].tolist() == ["to-read", "fantasy", "favorites"]
    assert top27["weight"].tolist() == [167697.0, 37174.0, 34173.0]
    author = next(a for a in d.attributes if a.node_type == "author").table
    assert sorted(author[author["id"] == 2]["value"]) == ["J.K. Rowling", "Mary GrandPré"]
    year = next(a for a in d.attributes if a.node_type == "year").table
    assert year["id"].nunique() == 10000 - 21  # 21 books without a year
    assert len(d.behaviours["to_read"]) == 99
