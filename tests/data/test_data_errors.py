"""Every malformed input gives one HetrecError line naming file, row and column."""
from pathlib import Path

import pytest

from hetrec import HetrecError
from hetrec.data.goodbooks import load_goodbooks
from hetrec.data.tables import TableSpec, load_tables

BOOKS = ("book_id,goodreads_book_id,authors,original_publication_year,title,language_code\n"
         "1,101,A,2001.0,One,eng\n2,102,B,,Two,\n")


def write(d: Path, **files: str | bytes) -> Path:
    for name, text in files.items():
        p = d / f"{name}.csv"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return d


def fails(d: Path, *parts: str) -> str:
    with pytest.raises(HetrecError) as e:
        load_goodbooks(d)
    msg = str(e.value)
    assert "\n" not in msg
    for p in parts:
        assert p in msg, msg
    return msg


def test_missing_file(tmp_path):
    write(tmp_path, books=BOOKS)
    fails(tmp_path, "ratings.csv", "not found")


def test_missing_column(tmp_path):
    write(tmp_path, books=BOOKS, ratings="user_id,book_id\n1,1\n")
    fails(tmp_path, "ratings.csv", "row 1", "column 'rating'", "missing")


def test_non_numeric_id(tmp_path):
    write(tmp_path, books=BOOKS, ratings="user_id,book_id,rating\n1,1,4\n2,1,5\nbob,2,3\n")
    fails(tmp_path, "ratings.csv", "row 4", "column 'user_id'", "'bob'")


def test_fractional_and_empty_id(tmp_path):
    write(tmp_path, books=BOOKS, ratings="user_id,book_id,rating\n1,1.5,4\n")
    fails(tmp_path, "ratings.csv", "row 2", "column 'book_id'", "'1.5'")
    write(tmp_path, ratings="user_id,book_id,rating\n1,1,4\n,2,4\n")
    fails(tmp_path, "ratings.csv", "row 3", "column 'user_id'", "empty")


def test_rating_out_of_range(tmp_path):
    write(tmp_path, books=BOOKS, ratings="user_id,book_id,rating\n1,1,4\n1,2,6\n")
    fails(tmp_path, "ratings.csv", "row 3", "column 'rating'", "[1, 5]")
    with pytest.raises(HetrecError, match=r"row 2, column 'rating'.*'x'"):
        write(tmp_path, ratings="user_id,book_id,rating\n1,1,x\n")
        load_goodbooks(tmp_path)


def test_rating_for_unknown_book(tmp_path):
    write(tmp_path, books=BOOKS, ratings="user_id,book_id,rating\n1,1,4\n1,2,5\n2,7,3\n")
    fails(tmp_path, "ratings.csv", "row 4", "column 'book_id'", "id 7", "books.csv")


def test_to_read_unknown_book(tmp_path):
    write(tmp_path, books=BOOKS, ratings="user_id,book_id,rating\n1,1,4\n", to_read="user_id,book_id\n1,9\n")
    fails(tmp_path, "to_read.csv", "row 2", "column 'book_id'", "id 9")


def test_empty_files(tmp_path):
    write(tmp_path, books=BOOKS, ratings="")
    fails(tmp_path, "ratings.csv", "empty")
    write(tmp_path, ratings="user_id,book_id,rating\n")
    fails(tmp_path, "ratings.csv", "no data rows")


def test_non_utf8(tmp_path):
    write(tmp_path, books=BOOKS.encode() + b"3,103,Caf\xe9 Author,1999,Three,eng\n",
          ratings="user_id,book_id,rating\n1,1,4\n")
    fails(tmp_path, "books.csv", "row 4", "UTF-8", "0xe9")


def test_repeated_catalogue_id(tmp_path):
    write(tmp_path, books=BOOKS + "1,103,C,1990,Dup,eng\n", ratings="user_id,book_id,rating\n1,1,4\n")
    fails(tmp_path, "books.csv", "row 4", "column 'book_id'", "repeated")


def test_duplicate_pairs_keep_last(tmp_path):
    write(tmp_path, books=BOOKS, ratings="user_id,book_id,rating\n1,1,2\n1,2,3\n1,1,5\n2,1,4\n1,1,1\n")
    d = load_goodbooks(tmp_path)
    assert d.stats["duplicates_dropped"] == 2
    got = d.interactions.sort_values("order")[["user_id", "item_id", "rating", "order"]].values.tolist()
    assert got == [[1, 2, 3.0, 1], [2, 1, 4.0, 3], [1, 1, 1.0, 4]]


def test_tables_errors(tmp_path):
    spec = TableSpec(item_attributes={"genres": "multi"})
    write(tmp_path, items="item_id,title\n1,A\n", ratings="user_id,item_id,rating\n1,1,3\n")
    with pytest.raises(HetrecError, match=r"items.csv, row 1, column 'genres'"):
        load_tables(tmp_path, spec)
    write(tmp_path, items="item_id,title,genres\n1,A,x\n", ratings="user_id,item_id,rating\n1,1,3\n1,2,4\n")
    with pytest.raises(HetrecError, match=r"ratings.csv, row 3, column 'item_id'.*items.csv"):
        load_tables(tmp_path, spec)
    write(tmp_path, ratings="user_id,item_id,rating,timestamp\n1,1,3,soon\n")
    with pytest.raises(HetrecError, match=r"ratings.csv, row 2, column 'timestamp'"):
        load_tables(tmp_path, spec)
