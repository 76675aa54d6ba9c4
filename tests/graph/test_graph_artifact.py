"""Artifact round trip and the loader's refusals."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.artifacts import atomic_dir
from hetrec.errors import HetrecError
from hetrec.graph.artifact import assert_no_leakage, load_graph_artifact, write_graph_artifact
from hetrec.graph.build import build_graph


@pytest.fixture
def saved(tiny, tmp_path):
    built = build_graph(*tiny, similar_k=1)
    out = tmp_path / "g"
    with atomic_dir(out) as tmp:
        write_graph_artifact(built, tmp, config={"k": 1}, inputs=tiny[0].sources)
    return built, out


def test_round_trip(saved):
    built, out = saved
    art = load_graph_artifact(out)
    g0, g1 = built.graph, art.graph
    assert g1.ntypes == g0.ntypes and g1.canonical_etypes == g0.canonical_etypes
    for t in g0.ntypes:
        assert g1.num_nodes(t) == g0.num_nodes(t)
    for c in g0.canonical_etypes:
        for a, b in zip(g0.edges(etype=c), g1.edges(etype=c)):
            assert torch.equal(a, b)
        assert set(g1.edges[c].data.keys()) == set(g0.edges[c].data.keys())
        for k in g0.edges[c].data:
            assert torch.equal(g0.edges[c].data[k], g1.edges[c].data[k])
    for t, m in built.id_maps.items():
        pd.testing.assert_frame_equal(art.id_maps[t], m)
    pd.testing.assert_frame_equal(art.splits, built.splits)
    pd.testing.assert_frame_equal(art.items, built.items)
    assert art.item_type == "book" and art.num_users == 4 and art.num_items == 4
    assert art.manifest["splits"] == {"train": 4, "valid": 2, "test": 2}
    assert art.manifest["counts"]["edges"]["user:rates:book"] == 4
    assert art.manifest["inputs"] == {"ratings.csv": "abc"} and art.fingerprint == art.manifest["fingerprint"]
    u, i = art.pairs("test")
    assert u.dtype == torch.int64 and u.tolist() == [0, 2] and i.tolist() == [2, 0]
    assert_no_leakage(art)


def test_leakage_assertion_fires(saved):
    _, out = saved
    art = load_graph_artifact(out)
    art.splits.loc[0, "split"] = "test"  # (user 0, book 0) is a train edge
    with pytest.raises(HetrecError, match="user:rates:book"):
        assert_no_leakage(art)


def test_a_leaking_graph_is_refused_at_load_and_at_build(saved, tmp_path):
    built, out = saved
    splits = pd.read_parquet(out / "splits.parquet")
    splits.loc[0, "split"] = "test"  # (user 0, book 0) is a train edge: the artifact now leaks
    splits.to_parquet(out / "splits.parquet", index=False)
    with pytest.raises(HetrecError, match=r"held-out \(user, item\) pairs are graph edges \(.*user:rates:book: 1") as e:
        load_graph_artifact(out)
    assert "\n" not in str(e.value)
    built.splits.loc[0, "split"] = "test"
    with pytest.raises(HetrecError, match="build-graph: held-out"):
        with atomic_dir(tmp_path / "leak") as tmp:
            write_graph_artifact(built, tmp, config={}, inputs={})
    assert not (tmp_path / "leak").exists()


def test_schema_mismatch_is_refused(saved):
    _, out = saved
    path = out / "manifest.json"
    m = json.loads(path.read_text())
    path.write_text(json.dumps({**m, "schema_version": 99}))
    with pytest.raises(HetrecError, match="schema version 99.*rebuild"):
        load_graph_artifact(out)
    path.write_text(json.dumps({**m, "stage": "pretrain"}))
    with pytest.raises(HetrecError, match="'pretrain' artifact, expected 'build_graph'; pass the --out directory of `hetrec build-graph`"):
        load_graph_artifact(out)


def test_missing_file_or_dir_is_refused(saved, tmp_path):
    _, out = saved
    (out / "tag_ids.parquet").unlink()
    with pytest.raises(HetrecError, match="missing tag_ids.parquet"):
        load_graph_artifact(out)
    with pytest.raises(HetrecError, match="no such directory"):
        load_graph_artifact(tmp_path / "nope")


def test_counts_mismatch_is_refused(saved):
    _, out = saved
    path = out / "manifest.json"
    m = json.loads(path.read_text())
    m["counts"]["nodes"]["user"] = 5
    path.write_text(json.dumps(m))
    with pytest.raises(HetrecError, match="counts differ"):
        load_graph_artifact(out)


def test_pairs_rejects_unknown_split(saved):
    art = load_graph_artifact(saved[1])
    with pytest.raises(ValueError):
        art.pairs("dev")
    assert np.array_equal(art.pairs("train")[1].numpy(), [0, 1, 0, 2])
