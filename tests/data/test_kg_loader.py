"""--dataset kg: both layouts on hand-made files, and the real lastfm-kg counts of its README."""
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cli import hetrec_cli
from hetrec import HetrecError
from hetrec.data.kg import load_kg, sanitise
from hetrec.graph.artifact import assert_no_leakage, load_graph_artifact
from hetrec.stages.build_graph import BuildGraphConfig, run


def edges(g, etype):
    s, d = g.edges(etype=etype)
    return list(zip(s.tolist(), d.tolist()))


def test_sanitise_names():
    got = sanitise(pd.Series(["music.artist.origin", "a.b", "a_b", "rates", "3", "a.b"])).tolist()
    assert got == ["music_artist_origin", "a_b", "a_b_2", "rates_2", "r3", "a_b"]


@pytest.fixture
def kgcn(tmp_path):
    d = tmp_path / "kgcn"
    d.mkdir()
    (d / "item_index2entity_id.txt").write_bytes(b"100\t0\r\n200\t1\r\n300\t2\r\n")  # CRLF, as the real files
    (d / "user_artists.dat").write_text("userID\tartistID\tweight\n1\t100\t5\n1\t999\t3\n2\t200\t1\n2\t300\t2\n"
                                        "3\t999\t1\n1\t300\t4\n")
    (d / "kg.txt").write_bytes(b"0\tmusic.artist.origin\t3\r\n1\tmusic.artist.origin\t3\r\n"
                               b"2\tmusic.artist.origin\t4\r\n0\tfilm.actor.film\t2\r\n")
    return d


def test_kgcn_layout_by_hand(kgcn, tmp_path):
    d = load_kg(kgcn)
    assert d.stats["interactions_unlinked_dropped"] == 2 and d.users["user_id"].tolist() == [1, 2]  # 3: unlinked only
    assert d.interactions[["user_id", "item_id"]].values.tolist() == [[1, 100], [2, 200], [2, 300], [1, 300]]
    assert (d.interactions["rating"] == 1).all() and not d.timed
    assert {k: d.stats[k] for k in ("kg_triples", "kg_relations", "kg_entities", "kg_item_tail_triples")} == {
        "kg_triples": 4, "kg_relations": 2, "kg_entities": 5, "kg_item_tail_triples": 1}
    art = run(BuildGraphConfig(data=kgcn, out=tmp_path / "g", dataset="kg", split="random"))
    g = art.graph
    assert {t: g.num_nodes(t) for t in g.ntypes} == {"entity": 2, "item": 3, "user": 2}
    assert art.id_maps["entity"]["raw_id"].tolist() == ["3", "4"]
    assert edges(g, ("item", "music_artist_origin", "entity")) == [(0, 0), (1, 0), (2, 1)]
    assert edges(g, ("entity", "music_artist_origin_inv", "item")) == [(0, 0), (0, 1), (1, 2)]
    assert edges(g, ("item", "film_actor_film_item", "item")) == [(0, 2)]
    assert edges(g, ("item", "film_actor_film_item_inv", "item")) == [(2, 0)]
    assert art.manifest["dataset"]["name"] == "kgcn" and art.manifest["dataset"]["kind"] == "kg"


def test_kgcn_needs_random_split_and_names_bad_lines(kgcn, tmp_path):
    with pytest.raises(HetrecError, match="--split random"):
        run(BuildGraphConfig(data=kgcn, out=tmp_path / "g", dataset="kg"))
    (kgcn / "kg.txt").write_text("0\tr\t3\n1\tr\tx\n")
    with pytest.raises(HetrecError, match=r"kg.txt, row 2, column 'tail'.*'x'"):
        load_kg(kgcn)
    (kgcn / "kg.txt").unlink()
    with pytest.raises(HetrecError, match="not a KG dataset"):
        load_kg(kgcn)


@pytest.fixture
def kgat(tmp_path):
    d = tmp_path / "kgat"
    d.mkdir()
    (d / "train.txt").write_text("0 0 1 2\n1 1 3\n2 2\n")
    (d / "test.txt").write_text("0 3\n1 0 1\n2\n")  # (1, 1) also in train: kept in test only
    # items 0..3; entities 4, 5, 6; (3 r1 0) has an item tail; (4 r2 5) has an entity head: dropped
    (d / "kg_final.txt").write_text("0 0 4\n1 0 4\n2 1 5\n3 1 0\n4 2 5\n0 1 6\n")
    return d


def test_kgat_layout_by_hand(kgat, tmp_path):
    d = load_kg(kgat)
    assert d.stats["train_test_overlap_dropped"] == 1 and len(d.interactions) == 8
    assert d.items["item_id"].tolist() == [0, 1, 2, 3]
    assert {k: d.stats[k] for k in ("kg_triples", "kg_relations", "kg_entities", "kg_item_tail_triples",
                                    "kg_entity_head_triples_dropped")} == {
        "kg_triples": 6, "kg_relations": 3, "kg_entities": 7, "kg_item_tail_triples": 1,
        "kg_entity_head_triples_dropped": 1}
    # default split for this layout: the given one; valid carved from train (user 0: floor(3 * 0.5) = 1)
    art = run(BuildGraphConfig(data=kgat, out=tmp_path / "g", dataset="kg", valid_frac=0.5, seed=0))
    assert art.manifest["dataset"]["split"] == "given" and art.manifest["splits"] == {"train": 4, "valid": 1, "test": 3}
    assert art.manifest["dataset"]["stats"]["valid_carved"] == 1
    test = art.splits[art.splits["split"] == "test"]
    assert sorted(zip(test["user"], test["item"])) == [(0, 3), (1, 0), (1, 1)]
    g = art.graph
    assert {c[1] for c in g.canonical_etypes} == {"rates", "rated_by", "r0", "r0_inv", "r1", "r1_inv", "r1_item",
                                                  "r1_item_inv"}
    assert {t: g.num_nodes(t) for t in g.ntypes} == {"entity": 3, "item": 4, "user": 3}
    assert edges(g, ("item", "r0", "entity")) == [(0, 0), (1, 0)]
    assert edges(g, ("item", "r1", "entity")) == [(0, 2), (2, 1)]
    assert edges(g, ("item", "r1_item", "item")) == [(3, 0)]
    assert_no_leakage(load_graph_artifact(tmp_path / "g"))
    # --split random still works on the union of train.txt and test.txt
    art = run(BuildGraphConfig(data=kgat, out=tmp_path / "r", dataset="kg", split="random"))
    assert len(art.splits) == 8


def test_lastfm_kg_counts(tmp_path, shared_data):
    data = shared_data("lastfm-kg")
    out = tmp_path / "lfm"
    res = CliRunner().invoke(hetrec_cli, ["build-graph", "--dataset", "kg", "--data", str(data), "--out", str(out),
                                          "--split", "random"])
    assert res.exit_code == 0, res.output
    art = load_graph_artifact(out)
    g, stats = art.graph, art.manifest["dataset"]["stats"]
    assert {t: g.num_nodes(t) for t in g.ntypes} == {"user": 1872, "item": 3846, "entity": 5520}
    assert len(art.splits) == 21_173
    assert (stats["kg_entities"], stats["kg_relations"], stats["kg_triples"]) == (9366, 60, 15_518)
    forward = [c for c in g.canonical_etypes if c[0] == "item" and c[1] != "rated_by" and not c[1].endswith("_inv")]
    assert sum(g.num_edges(c) for c in forward) == 15_518
    assert sum(g.num_edges(c) for c in forward if c[2] == "item") == 56
    assert all("." not in c[1] for c in g.canonical_etypes)
    assert_no_leakage(art)
