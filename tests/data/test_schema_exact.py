"""Integers are read exactly (never through float64, never wrapping past int64); rows longer than the header fail."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hetrec  # noqa: F401
from hetrec.data.schema import read_csv
from hetrec.data.tables import TableSpec, load_tables
from hetrec.errors import HetrecError

COLS = {"user_id": "int", "item_id": "int", "rating": "float"}


def _csv(tmp_path, text, name="ratings.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_ids_beyond_2_53_stay_distinct(tmp_path):
    p = _csv(tmp_path, f"user_id,item_id,rating\n{2**53},1,5\n{2**53 + 1},1,4\n{2**63 - 1},2,3\n")
    df = read_csv(p, COLS)
    assert df["user_id"].tolist() == [2**53, 2**53 + 1, 2**63 - 1] and df["user_id"].dtype == np.int64


@pytest.mark.parametrize("value, row", [(2**63, 3), (2**64 + 5, 3), (-(2**63) - 1, 3)])
def test_ids_that_do_not_fit_int64_are_rejected_with_file_row_column(tmp_path, value, row):
    p = _csv(tmp_path, f"user_id,item_id,rating\n1,1,5\n{value},1,4\n")
    with pytest.raises(HetrecError, match=rf"ratings.csv, row {row}, column 'user_id': '{value}' does not fit a 64-bit"):
        read_csv(p, COLS)


def test_a_decimal_id_beyond_exact_float_range_is_rejected(tmp_path):
    p = _csv(tmp_path, f"user_id,item_id,rating\n1.0,1,5\n{2**53 + 1}.0,1,4\n")
    with pytest.raises(HetrecError, match=r"row 3, column 'user_id': .* too large to read exactly"):
        read_csv(p, COLS)
    assert read_csv(_csv(tmp_path, "user_id,item_id,rating\n1.0,2,5\n"), COLS)["user_id"].tolist() == [1]


def test_a_timestamp_of_2_63_is_rejected_not_wrapped(tmp_path):
    """A wrapped timestamp would sort first and change the leave-one-out split silently."""
    d = tmp_path / "t"
    d.mkdir()
    _csv(d, f"user_id,item_id,rating,timestamp\n1,1,5,1\n1,2,5,2\n1,3,5,{2**63}\n")
    _csv(d, "item_id\n1\n2\n3\n", "items.csv")
    with pytest.raises(HetrecError, match=rf"row 4, column 'timestamp': '{2**63}' does not fit"):
        load_tables(d, TableSpec())


@pytest.mark.parametrize("text, row", [("user_id,item_id,rating\n1,2,5,9\n3,4,5\n", 2),
                                       ("user_id,item_id,rating\n1,2,5\n3,4,5,9\n5,6,1\n", 3)])
def test_rows_with_more_fields_than_the_header_are_rejected(tmp_path, text, row):
    with pytest.raises(HetrecError, match=rf"ratings.csv, row {row}: .*header has 3"):
        read_csv(_csv(tmp_path, text), COLS)


def test_extra_columns_named_in_the_header_are_still_fine(tmp_path):
    df = read_csv(_csv(tmp_path, "user_id,item_id,rating,note\n1,2,5,x\n"), COLS)
    assert list(df.columns) == ["user_id", "item_id", "rating"]


def test_infinite_numbers_are_rejected(tmp_path):
    with pytest.raises(HetrecError, match=r"row 2, column 'rating': 'inf' is not a finite number"):
        read_csv(_csv(tmp_path, "user_id,item_id,rating\n1,2,inf\n"), COLS)
