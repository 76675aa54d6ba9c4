"""Generic tables loader and the split: hand-made tables, and ML-100K against its reference LOO split."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hetrec.data.split import SplitConfig, split_interactions
from hetrec.data.tables import ML100K_SPEC, TableSpec, bucket, load_tables, singular

from shared_data import SHARED_DATA, require_shared

ML = SHARED_DATA / "ml-100k"


def test_singular_and_buckets():
    assert [singular(c) for c in ("genres", "year", "categories", "class", "age")] == [
        "genre", "year", "category", "class", "age"]
    rows, vals, missing = bucket(pd.Series(["17", "18", "24", "25", "44", "45", "49", "50", "55", "56", "x"]), "age_band")
    assert vals.tolist() == ["<18", "18-24", "18-24", "25-34", "35-44", "45-49", "45-49", "50-55", "50-55", "56+"]
    assert rows.tolist() == list(range(10)) and missing == 1
    rows, vals, _ = bucket(pd.Series(["1995", "unkonwn", "1899.0"]), "decade")
    assert rows.tolist() == [0, 2] and vals.tolist() == ["1990s", "1890s"]


def test_tables_fixture(tmp_path):
    (tmp_path / "items.csv").write_text("item_id,title,genres,year\n10,A,Drama|Comedy,1995\n20,B,Drama,V\n30,C,,1980\n")
    (tmp_path / "users.csv").write_text("user_id,age,sex,zip\n1,30,M,x\n2,17,F,y\n3,60,F,z\n")
    # timestamps with a tie (100) between rows 2 and 4: the file row breaks it
    (tmp_path / "ratings.csv").write_text("user_id,item_id,rating,timestamp\n1,10,4,100\n1,20,3,50\n2,10,5,100\n")
    spec = TableSpec(item_attributes={"genres": "multi", "year": "decade"},
                     user_attributes={"age": "age_band", "sex": "category"})
    d = load_tables(tmp_path, spec)
    assert d.item_type == "item" and d.timed
    assert d.interactions["order"].tolist() == [1, 0, 2]
    by = {a.node_type: a for a in d.attributes}
    assert [(a.relation, a.reverse, a.owner) for a in d.attributes] == [
        ("has_genre", "genre_of", "item"), ("has_year", "year_of", "item"),
        ("has_age", "age_of", "user"), ("has_sex", "sex_of", "user")]
    assert by["genre"].table[["id", "value"]].values.tolist() == [[10, "Comedy"], [10, "Drama"], [20, "Drama"]]
    assert by["year"].table[["id", "value"]].values.tolist() == [[10, "1990s"], [30, "1980s"]]
    assert by["age"].table["value"].tolist() == ["25-34", "<18", "56+"]
    assert d.users["user_id"].tolist() == [1, 2, 3] and d.stats["year_missing"] == 1


def test_tables_without_timestamp(tmp_path):
    (tmp_path / "items.csv").write_text("item_id\n1\n2\n")
    (tmp_path / "ratings.csv").write_text("user_id,item_id,rating\n1,2,3\n1,1,4\n1,2,5\n")
    d = load_tables(tmp_path, TableSpec())
    assert not d.timed and d.stats["duplicates_dropped"] == 1
    assert d.interactions[["item_id", "rating", "order"]].values.tolist() == [[1, 4, 1], [2, 5, 2]]


def hand_table():
    # user 1: orders 5,1,3,3 (tie: file order), user 2: two rows only, user 3: three rows
    return pd.DataFrame({"user_id": [1, 1, 2, 1, 3, 3, 1, 2, 3],
                         "item_id": [10, 11, 10, 12, 10, 11, 13, 12, 14],
                         "rating": [5, 2, 4, 4, 1, 5, 3, 5, 4],
                         "order": [5, 1, 0, 3, 7, 8, 3, 2, 9]})


def test_loo_hand_table():
    s = split_interactions(hand_table())
    # user 1 sorted: 11(1), 12(3), 13(3, later row), 10(5) -> valid 13, test 10
    assert s["split"].tolist() == ["test", "train", "train", "train", "train", "valid", "valid", "train", "test"]
    assert s.index.tolist() == list(range(9))


def test_loo_threshold_and_min_counts():
    s = split_interactions(hand_table(), SplitConfig(rating_threshold=4))
    # kept: (1,10,5),(2,10,4),(1,12,4),(3,11,5),(2,12,5),(3,14,4); no user reaches 3 -> all train
    assert s.index.tolist() == [0, 2, 3, 5, 7, 8] and set(s["split"]) == {"train"}
    s = split_interactions(hand_table(), SplitConfig(min_user=4))
    assert s["user_id"].unique().tolist() == [1]
    s = split_interactions(hand_table(), SplitConfig(min_item=3))
    assert sorted(s["item_id"].unique().tolist()) == [10]


def test_random_holdout():
    n = 1000
    df = pd.DataFrame({"user_id": np.repeat(np.arange(10), n // 10), "item_id": np.arange(n),
                       "rating": 1.0, "order": 0})
    cfg = SplitConfig(method="random", valid_frac=0.2, test_frac=0.1, seed=3)
    a, b = split_interactions(df, cfg), split_interactions(df, cfg)
    assert a["split"].tolist() == b["split"].tolist()
    counts = a.groupby(["user_id", "split"]).size().unstack()
    assert (counts["test"] == 10).all() and (counts["valid"] == 20).all() and (counts["train"] == 70).all()
    c = split_interactions(df, SplitConfig(method="random", valid_frac=0.2, test_frac=0.1, seed=4))
    assert c["split"].tolist() != a["split"].tolist()


def need_ml():
    require_shared("ml-100k", "ratings.csv")


def test_ml100k_counts():
    need_ml()
    d = load_tables(ML, ML100K_SPEC)
    assert (len(d.interactions), len(d.users), len(d.items)) == (100_000, 943, 1682)
    assert {a.node_type: a.table["value"].nunique() for a in d.attributes} == {
        "genre": 19, "year": 8, "age": 7, "gender": 2, "occupation": 21}


def test_ml100k_loo_matches_reference():
    need_ml()
    s = split_interactions(load_tables(ML, ML100K_SPEC).interactions)
    ref = pd.read_csv(ML / "loo_split.csv").set_index("user_id").sort_index()
    valid = s[s["split"] == "valid"].set_index("user_id")["item_id"].sort_index()
    test = s[s["split"] == "test"].set_index("user_id")["item_id"].sort_index()
    assert len(ref) == 943
    assert valid.index.tolist() == ref.index.tolist() and test.index.tolist() == ref.index.tolist()
    assert (valid.to_numpy() == ref["valid_item_id"].to_numpy()).all()
    assert (test.to_numpy() == ref["test_item_id"].to_numpy()).all()
