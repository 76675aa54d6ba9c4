"""build-graph end to end: real loaders and split, the CLI, atomicity, and leakage on real data."""
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import hetrec  # noqa: F401
from cli import hetrec_cli
from hetrec.data.synth import SynthConfig, generate, write
from hetrec.errors import HetrecError
from hetrec.graph.artifact import assert_no_leakage, load_graph_artifact
from hetrec.stages.build_graph import BuildGraphConfig, run

from pathlib import Path

from shared_data import SHARED_DATA as SHARED, require_shared

ML = SHARED / "ml-100k"


@pytest.fixture(scope="module")
def goodbooks_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gb")
    write(generate(SynthConfig(users=200, books=120, ratings=4000, tags=80, seed=1)), d)
    # plant leaks: each user's last rating (file order = time order, so the LOO test pair) is also "to read"
    last = pd.read_csv(d / "ratings.csv").groupby("user_id", as_index=False).last()
    to_read = pd.read_csv(d / "to_read.csv")
    pd.concat([to_read, last[["user_id", "book_id"]]]).drop_duplicates().to_csv(d / "to_read.csv", index=False)
    return d


@pytest.fixture
def tables_dir(tmp_path):
    d = tmp_path / "tab"
    d.mkdir()
    pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2, 3], "item_id": [5, 6, 7, 5, 7, 8, 5],
                  "rating": [5, 4, 3, 2, 5, 1, 4], "timestamp": [1, 2, 3, 3, 2, 1, 1]}).to_csv(d / "ratings.csv",
                                                                                          index=False)
    pd.DataFrame({"item_id": [5, 6, 7, 8, 9], "title": list("abcde")}).to_csv(d / "items.csv", index=False)
    return d


def test_goodbooks_relations_and_no_leakage(goodbooks_dir, tmp_path):
    art = run(BuildGraphConfig(data=goodbooks_dir, out=tmp_path / "g", similar_k=3))
    rels = {c[1] for c in art.graph.canonical_etypes}
    assert rels == {"rates", "rated_by", "written_by", "wrote", "has_tag", "tag_of", "in_language", "language_of",
                    "published_in", "year_of", "to_read", "to_read_by", "similar"}
    assert set(art.graph.ntypes) == {"user", "book", "author", "tag", "language", "year"}
    assert_no_leakage(art)
    loaded = load_graph_artifact(tmp_path / "g")
    assert_no_leakage(loaded)
    # the train edges are exactly the train rows of splits.parquet
    tr = loaded.splits[loaded.splits["split"] == "train"]
    s, d = loaded.graph.edges(etype="rates")
    assert sorted(zip(s.tolist(), d.tolist())) == sorted(zip(tr["user"], tr["item"]))
    # every to_read pair of the file that coincides with a held-out pair was dropped and counted
    tr_file = pd.read_csv(goodbooks_dir / "to_read.csv")
    held = loaded.splits[loaded.splits["split"] != "train"]
    uid, bid = loaded.id_maps["user"]["raw_id"].to_numpy(), loaded.id_maps["book"]["raw_id"].to_numpy()
    held_raw = set(zip(uid[held["user"]], bid[held["item"]]))
    overlap = len(set(zip(tr_file["user_id"], tr_file["book_id"])) & held_raw)
    assert overlap > 100 and loaded.manifest["dataset"]["stats"]["to_read_heldout_pairs_dropped"] == overlap
    assert loaded.manifest["config"]["similar_k"] == 3 and "out" not in loaded.manifest["config"]


def test_ml100k_counts_reference_split_and_no_leakage(tmp_path):
    require_shared("ml-100k")
    art = run(BuildGraphConfig(data=ML, out=tmp_path / "ml", dataset="ml-100k"))
    assert (art.num_users, art.num_items) == (943, 1682)
    assert len(art.splits) == 100_000
    assert art.manifest["splits"] == {"train": 98_114, "valid": 943, "test": 943}
    assert {c[1] for c in art.graph.canonical_etypes} == {
        "rates", "rated_by", "has_genre", "genre_of", "has_year", "year_of", "has_age", "age_of",
        "has_gender", "gender_of", "has_occupation", "occupation_of"}
    assert_no_leakage(load_graph_artifact(tmp_path / "ml"))
    # held-out pairs, mapped back to raw ids, are the reference leave-one-out split
    ref = pd.read_csv(ML / "loo_split.csv").sort_values("user_id")
    uid, iid = art.id_maps["user"]["raw_id"].to_numpy(), art.id_maps["item"]["raw_id"].to_numpy()
    for split, col in (("valid", "valid_item_id"), ("test", "test_item_id")):
        rows = art.splits[art.splits["split"] == split].sort_values("user")
        assert np.array_equal(uid[rows["user"]], ref["user_id"]) and np.array_equal(iid[rows["item"]], ref[col])


def test_cli_builds_and_reports(tables_dir, tmp_path):
    out = tmp_path / "g"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(tables_dir),
                                          "--out", str(out), "--split", "random"])
    assert res.exit_code == 0, res.output
    assert "(user, rates, item)" in res.output and "valid" in res.output
    art = load_graph_artifact(out)
    assert art.num_items == 5 and art.num_users == 3  # item 9 unrated still gets a node
    assert art.manifest["config"]["split"] == "random"


def test_cli_loo_needs_time_order(tables_dir, tmp_path):
    (tables_dir / "ratings.csv").write_text("user_id,item_id,rating\n1,5,5\n1,6,4\n1,7,3\n")
    out = tmp_path / "g"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(tables_dir),
                                          "--out", str(out)])
    assert res.exit_code != 0 and "--split random" in str(res.exception) and not out.exists()


def test_existing_directory_kept_without_force(tables_dir, tmp_path):
    out = tmp_path / "g"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["build-graph", "--dataset", "tables", "--data", str(tables_dir), "--out", str(out)]
    res = CliRunner().invoke(hetrec_cli, args)
    assert res.exit_code != 0 and "--force" in str(res.exception)
    assert (out / "keep.txt").read_text() == "mine"
    res = CliRunner().invoke(hetrec_cli, args + ["--force"])  # not a build_graph artifact: --force refuses too
    assert res.exit_code != 0 and "not a hetrec artifact" in str(res.exception)
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    out.rmdir()
    assert CliRunner().invoke(hetrec_cli, args).exit_code == 0
    res = CliRunner().invoke(hetrec_cli, args + ["--force"])  # its own earlier output: replaced
    assert res.exit_code == 0, res.output
    assert (out / "graph.bin").is_file()


def test_failed_build_leaves_nothing(tables_dir, tmp_path, monkeypatch):
    import hetrec.graph.artifact as artifact_mod

    def boom(built, directory, **kw):
        (directory / "graph.bin").write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(artifact_mod, "write_graph_artifact", boom)
    with pytest.raises(RuntimeError):
        run(BuildGraphConfig(data=tables_dir, out=tmp_path / "g", dataset="tables", split="random"))
    assert [p.name for p in tmp_path.iterdir()] == ["tab"]


def test_malformed_input_one_line_no_output(tables_dir, tmp_path):
    (tables_dir / "ratings.csv").write_text("user_id,item_id,rating,timestamp\n1,5,5,1\n1,6,x,2\n")
    out = tmp_path / "g"
    with pytest.raises(HetrecError) as e:
        run(BuildGraphConfig(data=tables_dir, out=out, dataset="tables"))
    assert "ratings.csv" in str(e.value) and "\n" not in str(e.value) and not out.exists()


@pytest.mark.parametrize("args, needle", [
    (["--dataset", "imdb"], "imdb"),
    (["--data", "/nonexistent/dir"], "no such directory"),
])
def test_bad_kind_or_missing_dir(tables_dir, tmp_path, args, needle):
    base = {"--dataset": "tables", "--data": str(tables_dir)}
    base.update(dict(zip(args[::2], args[1::2])))
    out = tmp_path / "g"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", *sum(base.items(), ()), "--out", str(out)])
    assert res.exit_code != 0 and not out.exists()
    assert needle in res.output + str(res.exception)
    with pytest.raises(HetrecError, match=needle.split()[0]):
        run(BuildGraphConfig(data=base["--data"], out=out, dataset=base["--dataset"]))


def test_cli_builds_the_official_goodbooks_samples_against_the_real_catalogue(tmp_path):
    samples, catalog = SHARED / "goodbooks-10k" / "samples", SHARED / "goodbooks-10k"
    require_shared("goodbooks-10k", "samples", "ratings.csv")
    require_shared("goodbooks-10k", "books.csv")
    out = tmp_path / "gb"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--data", str(samples), "--catalog", str(catalog),
                                          "--out", str(out)])
    assert res.exit_code == 0, res.output
    art = load_graph_artifact(out)
    assert art.num_items == 10_000 and art.splits.shape[0] == 99  # 99 sample ratings, the whole catalogue
    assert art.graph.num_edges(("book", "written_by", "author")) >= 10_000
    assert_no_leakage(art)
    # without --catalog the samples reference books outside samples/books.csv: one clear line, no output
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--data", str(samples), "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "is not in books.csv" in str(res.exception)
    assert not (tmp_path / "x").exists()
