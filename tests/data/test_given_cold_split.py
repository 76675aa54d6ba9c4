"""--split given (a split file reproduced exactly, valid carved when absent) and --split cold-items."""
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import hetrec_cli
from hetrec import HetrecError
from hetrec.data.split import SplitConfig, carve_valid, cold_items_split, read_split_file, split_with_stats
from hetrec.data.synth import SynthConfig, generate, write
from hetrec.graph.artifact import assert_no_leakage, cold_item_edges, cold_item_nodes, load_graph_artifact
from hetrec.stages.build_graph import BuildGraphConfig, run

GIVEN = SplitConfig(method="given")


def ratings():
    # user 1: items 10..15 (6 rows), user 2: items 10, 11, 12, user 3: item 10
    return pd.DataFrame({"user_id": [1] * 6 + [2] * 3 + [3], "item_id": [10, 11, 12, 13, 14, 15, 10, 11, 12, 10],
                         "rating": 1.0, "order": np.arange(10)})


def split_file(path, rows):
    path.write_text("user_id,item_id,part\n" + "".join(f"{u},{i},{p}\n" for u, i, p in rows))
    return path


def test_given_reproduced_exactly_and_unlisted_dropped(tmp_path):
    rows = [(1, 10, "train"), (1, 11, "valid"), (1, 12, "test"), (2, 10, "train"), (2, 12, "test"),
            (1, 13, "train"), (3, 10, "train")]
    f = split_file(tmp_path / "s.csv", rows)
    df, stats = split_with_stats(ratings(), GIVEN, read_split_file(f), source=str(f))
    got = sorted(zip(df["user_id"], df["item_id"], df["split"]))
    assert got == sorted(rows)
    assert stats == {"split_unlisted_dropped": 3}  # (1,14), (1,15), (2,11)
    assert df.index.tolist() == [0, 1, 2, 3, 6, 8, 9]  # original rows, original order


def test_valid_carved_per_user_when_absent(tmp_path):
    rows = [(1, i, "train") for i in (10, 11, 12, 13, 14)] + [(1, 15, "test"), (2, 10, "train"), (2, 11, "train"),
                                                             (2, 12, "test"), (3, 10, "train")]
    given = read_split_file(split_file(tmp_path / "s.csv", rows))
    a, sa = split_with_stats(ratings(), SplitConfig(method="given", valid_frac=0.5, seed=1), given)
    b, _ = split_with_stats(ratings(), SplitConfig(method="given", valid_frac=0.5, seed=1), given)
    assert a["split"].tolist() == b["split"].tolist()
    per = a.groupby(["user_id", "split"]).size().to_dict()
    # user 1: 5 train -> floor(2.5) = 2 valid; user 2: 2 train -> 1 valid; user 3: 1 train -> keeps it (0 valid)
    assert per == {(1, "train"): 3, (1, "valid"): 2, (1, "test"): 1, (2, "train"): 1, (2, "valid"): 1,
                   (2, "test"): 1, (3, "train"): 1}
    assert sa["valid_carved"] == 3
    assert a.loc[a["split"] == "test", "item_id"].tolist() == [15, 12]  # test parts untouched


def test_carve_valid_keeps_one_train_row():
    users = np.array([1, 1, 2, 3, 3, 3, 3])
    m = carve_valid(users, 0.9, seed=0)
    assert [int(m[users == u].sum()) for u in (1, 2, 3)] == [1, 0, 3]


@pytest.mark.parametrize("rows, needle", [
    ([(1, 10, "train"), (1, 99, "test")], r"s.csv, row 3: pair \(user 1, item 99\) is not in the ratings"),
    ([(1, 10, "train"), (1, 11, "holdout")], r"s.csv, row 3, column 'part': part 'holdout'"),
    ([(1, 10, "train"), (2, 11, "test")], r"s.csv, row 3: user 2 has valid/test pairs but no train pair"),
    ([(1, 10, "train"), (1, 10, "test")], r"s.csv, row 3: pair \(user 1, item 10\) is listed twice"),
])
def test_given_errors(tmp_path, rows, needle):
    f = split_file(tmp_path / "s.csv", rows)
    with pytest.raises(HetrecError, match=needle) as e:
        split_with_stats(ratings(), GIVEN, read_split_file(f), source=str(f))
    assert "\n" not in str(e.value)


def test_given_refuses_filters():
    with pytest.raises(ValueError, match="reproduced"):
        SplitConfig(method="given", min_user=2)


def test_cold_items_by_hand():
    # item counts: 1 -> 4, 2 -> 3, 3 -> 3, 4 -> 1 (not eligible with cold_min 3), 5 -> 3
    items = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 5, 5, 5])
    users = np.array([1, 2, 3, 4, 1, 2, 3, 1, 2, 3, 1, 1, 2, 4])
    split, stats = cold_items_split(items, users, 0.5, 3, seed=7)
    assert stats["cold_eligible_items"] == 4 and stats["cold_items"] == 2  # round(0.5 * 4)
    cold = stats["cold_item_ids"]
    assert len(cold) == 2 and 4 not in cold
    for it in np.unique(items):  # an item's interactions all land in one part
        assert len(set(split[items == it])) == 1
    assert set(split[np.isin(items, cold)]) == {"valid", "test"}  # one cold item each
    assert (split[~np.isin(items, cold)] == "train").all()
    again, _ = cold_items_split(items, users, 0.5, 3, seed=7)
    assert again.tolist() == split.tolist()
    seeds = {tuple(cold_items_split(items, users, 0.5, 3, seed=s)[1]["cold_item_ids"]) for s in range(10)}
    assert len(seeds) > 1
    # round half up: 0.1 * 5 eligible = 0.5 -> 1 cold item
    assert cold_items_split(np.repeat(np.arange(5), 3), np.tile([1, 2, 3], 5), 0.1, 3, 0)[1]["cold_items"] == 1


@pytest.fixture(scope="module")
def goodbooks(tmp_path_factory):
    d = tmp_path_factory.mktemp("gb")
    write(generate(SynthConfig(users=150, books=100, ratings=3000, tags=60, seed=2)), d)
    return d


def test_cold_items_build_has_no_user_edge_on_cold_items(goodbooks, tmp_path):
    art = run(BuildGraphConfig(data=goodbooks, out=tmp_path / "c", split="cold-items", cold_frac=0.2, seed=3))
    loaded = load_graph_artifact(tmp_path / "c")
    cold = cold_item_nodes(loaded)
    stats = loaded.manifest["dataset"]["stats"]
    assert len(cold) == stats["cold_items"] > 0
    assert all(v == 0 for v in cold_item_edges(loaded.graph, "book", cold).values())
    assert stats["to_read_cold_item_edges_dropped"] > 0  # the synthetic to_read touches cold books: dropped
    assert_no_leakage(loaded)
    # cold items keep their attribute edges, and every one of their interactions is held out
    s, _ = loaded.graph.edges(etype=("book", "written_by", "author"))
    assert np.isin(cold, s.numpy()).all()
    held = loaded.splits[np.isin(loaded.splits["item"], cold)]
    assert (held["split"] != "train").all() and set(held["split"]) == {"valid", "test"}
    assert not np.isin(loaded.splits.loc[loaded.splits["split"] != "train", "item"], np.setdiff1d(
        np.arange(art.num_items), cold)).any()
    again = run(BuildGraphConfig(data=goodbooks, out=tmp_path / "c2", split="cold-items", cold_frac=0.2, seed=3))
    assert again.manifest["dataset"]["stats"]["cold_item_ids"] == stats["cold_item_ids"]
    assert again.splits.equals(art.splits)


def test_cold_leak_check_catches_a_planted_edge(goodbooks, tmp_path):
    art = run(BuildGraphConfig(data=goodbooks, out=tmp_path / "c", split="cold-items", cold_frac=0.2, seed=3))
    cold = cold_item_nodes(art)
    g = art.graph
    g.add_edges(0, int(cold[0]), etype=("user", "to_read", "book"))
    assert cold_item_edges(g, "book", cold)["user:to_read:book"] == 1
    with pytest.raises(HetrecError, match="cold items"):
        assert_no_leakage(art)


def test_cli_given_split_file_and_fracs(tmp_path):
    d = tmp_path / "t"
    d.mkdir()
    ratings().rename(columns={"order": "timestamp"}).to_csv(d / "ratings.csv", index=False)
    pd.DataFrame({"item_id": range(10, 16)}).to_csv(d / "items.csv", index=False)
    f = split_file(tmp_path / "s.csv", [(1, 10, "train"), (1, 11, "valid"), (1, 12, "test"), (2, 10, "train")])
    out = tmp_path / "g"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(d), "--out", str(out),
                                          "--split", "given", "--split-file", str(f)])
    assert res.exit_code == 0, res.output
    art = load_graph_artifact(out)
    assert art.manifest["splits"] == {"train": 2, "valid": 1, "test": 1}
    assert art.manifest["dataset"]["stats"]["split_unlisted_dropped"] == 6 and "s.csv" in art.manifest["inputs"]
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(d), "--out",
                                          str(tmp_path / "r"), "--split", "random", "--valid-frac", "0.5",
                                          "--test-frac", "0.3"])
    assert res.exit_code == 0, res.output
    # user 1: 6 rows -> 1 test (floor 1.8), 3 valid, 2 train; user 2: 3 rows -> 1 valid, 2 train; user 3: 1 train
    assert load_graph_artifact(tmp_path / "r").manifest["splits"] == {"train": 5, "valid": 4, "test": 1}
    help_text = CliRunner().invoke(hetrec_cli, ["build-graph", "--help"]).output
    for flag in ("--valid-frac", "--test-frac", "--split-file", "--cold-frac", "--item-attr", "--user-attr"):
        assert flag in help_text
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(d), "--out",
                                          str(tmp_path / "x"), "--split", "given"])
    assert res.exit_code != 0 and "--split-file" in str(res.exception)
