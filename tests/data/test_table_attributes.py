"""Generic tables: every column detected as an attribute, --item-attr/--user-attr, empty timestamps."""
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import hetrec_cli
from hetrec import HetrecError
from hetrec.data.tables import TableSpec, bucket, detect_kind, load_tables, parse_declared, quantile_bins
from hetrec.graph.artifact import load_graph_artifact


def test_detect_kind_rules():
    many = pd.Series([str(1950 + i) for i in range(25)])
    assert detect_kind("genres", pd.Series(["a|b", "c", "a"])) == "multi"
    assert detect_kind("year", many) == "decade"
    assert detect_kind("release_year", many) == "decade"
    assert detect_kind("age", many) == "age_band"
    assert detect_kind("price", many) == "bins"
    assert detect_kind("stars", pd.Series(["1", "2", "2", "3"])) == "category"  # numeric, few values
    assert detect_kind("color", pd.Series(["red", "blue", "red", "red"])) == "category"
    assert detect_kind("zip", pd.Series(["85711", "T8H1N", "94043", "85711"])) is None  # 3 of 4 distinct
    assert detect_kind("zip", pd.Series([f"0{1000 + i}" for i in range(25)])) is None  # leading zeros: a code
    assert detect_kind("empty", pd.Series(["", ""])) is None
    # 24 of 25 cells numeric (96%): still numeric, the bad cell gives no edge
    assert detect_kind("year", pd.Series([str(1950 + i) for i in range(24)] + ["unknown"])) == "decade"


def test_quantile_bins_by_hand():
    assert quantile_bins(np.arange(9.0), 4).tolist() == ["0-2", "0-2", "2-4", "2-4", "4-6", "4-6", "6-8", "6-8", "6-8"]
    assert quantile_bins(np.array([3.0, 3.0]), 4).tolist() == ["3", "3"]
    rows, vals, missing = bucket(pd.Series(["1", "x", "3"]), "bins")
    assert rows.tolist() == [0, 2] and missing == 1 and len(set(vals)) == 2


def test_parse_declared():
    assert parse_declared(["genres:multi", "year"], "--item-attr") == {"genres": "multi", "year": "detect"}
    assert parse_declared([], "--item-attr") is None
    with pytest.raises(HetrecError, match="--item-attr year:weekly"):
        parse_declared(["year:weekly"], "--item-attr")


def tables(d, timestamp=None):
    n = 25
    pd.DataFrame({"item_id": np.arange(1, n + 1), "title": [f"t{i}" for i in range(n)],
                  "genres": ["a|b", "b"] * 12 + ["c"], "year": 1950 + np.arange(n) * 2,
                  "price": np.arange(n) * 1.5, "color": ["red", "blue", "red", "green", "red"] * 5}
                 ).to_csv(d / "items.csv", index=False)
    pd.DataFrame({"user_id": np.arange(1, n + 1), "age": 15 + np.arange(n) * 2, "gender": ["M", "F"] * 12 + ["F"],
                  "zip": [f"Z{i:03d}" for i in range(n)]}).to_csv(d / "users.csv", index=False)
    r = pd.DataFrame({"user_id": np.repeat(np.arange(1, 6), 4), "item_id": np.tile(np.arange(1, 5), 5),
                      "rating": 4})
    if timestamp is not None:
        r["timestamp"] = timestamp
    r.to_csv(d / "ratings.csv", index=False)
    return d


def test_every_column_detected(tmp_path):
    d = load_tables(tables(tmp_path), TableSpec())
    kinds = {a.node_type: a.relation for a in d.attributes}
    assert kinds == {"genre": "has_genre", "year": "has_year", "price": "has_price", "color": "has_color",
                     "age": "has_age", "gender": "has_gender"}
    assert d.stats["skipped_columns"] == ["users.csv:zip"]
    assert d.stats["attribute_kinds"] == {"items.csv:genres": "multi", "items.csv:year": "decade",
                                          "items.csv:price": "bins", "items.csv:color": "category",
                                          "users.csv:age": "age_band", "users.csv:gender": "category"}
    by = {a.node_type: a.table for a in d.attributes}
    assert by["price"]["value"].nunique() == 8 and by["year"]["value"].nunique() == 5  # 1950s .. 1990s
    assert by["age"]["value"].tolist()[:3] == ["<18", "<18", "18-24"]  # ages 15, 17, 19
    assert d.name == tmp_path.name


def test_declared_columns_only(tmp_path):
    d = load_tables(tables(tmp_path), TableSpec(item_attributes={"genres": "detect", "price": "category"},
                                                user_attributes={"zip": "detect"}))
    assert [(a.node_type, a.owner) for a in d.attributes] == [("genre", "item"), ("price", "item"), ("zip", "user")]
    assert d.attributes[1].table["value"].nunique() == 25  # declared category: values as written
    with pytest.raises(HetrecError, match=r"items.csv, row 1, column 'colour'.*declared"):
        load_tables(tmp_path, TableSpec(item_attributes={"colour": "category"}))


def test_cli_attr_flags(tmp_path):
    (tmp_path / "t").mkdir()
    d = tables(tmp_path / "t")
    out = tmp_path / "g"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(d), "--out", str(out),
                                          "--split", "random", "--item-attr", "genres", "--item-attr", "year:category",
                                          "--user-attr", "gender"])
    assert res.exit_code == 0, res.output
    art = load_graph_artifact(out)
    assert {c[1] for c in art.graph.canonical_etypes} == {"rates", "rated_by", "has_genre", "genre_of", "has_year",
                                                          "year_of", "has_gender", "gender_of"}
    assert art.graph.num_nodes("year") == 25 and art.manifest["config"]["item_attr"] == ["genres", "year:category"]


def test_all_empty_timestamp_means_untimed(tmp_path):
    d = load_tables(tables(tmp_path, timestamp=""), TableSpec())
    assert not d.timed and d.interactions["order"].tolist() == list(range(20))


def test_partly_empty_timestamp_names_the_row(tmp_path):
    ts = np.arange(20).astype(object)
    ts[6] = ""
    tables(tmp_path, timestamp=ts)
    with pytest.raises(HetrecError, match=r"ratings.csv, row 8, column 'timestamp'.*empty") as e:
        load_tables(tmp_path, TableSpec())
    assert "\n" not in str(e.value)


def test_ml100k_tables_detects_every_relation(tmp_path, shared_data):
    ml = shared_data("ml-100k")
    out = tmp_path / "ml"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(ml), "--out", str(out)])
    assert res.exit_code == 0, res.output
    art = load_graph_artifact(out)
    assert {c[1] for c in art.graph.canonical_etypes if c[0] in ("item", "user") and c[2] not in ("item", "user")} == {
        "has_genre", "has_year", "has_age", "has_gender", "has_occupation"}
    assert {t: art.graph.num_nodes(t) for t in ("genre", "year", "age", "gender", "occupation")} == {
        "genre": 19, "year": 8, "age": 7, "gender": 2, "occupation": 21}
    ds = art.manifest["dataset"]
    assert ds["stats"]["skipped_columns"] == ["users.csv:zip_code"]
    assert (ds["name"], ds["kind"]) == ("ml-100k", "tables")
