"""The cold-item yardstick end to end: a cold-items split, models that can and cannot score cold items, both
candidate sets, and the CLI's --candidates."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import hetrec  # noqa: F401
from cli import hetrec_cli
from hetrec.errors import HetrecError
from hetrec.evaluator.protocol import candidates_of, cold_items
from hetrec.graph.artifact import load_graph_artifact
from hetrec.stages.build_graph import BuildGraphConfig
from hetrec.stages.build_graph import run as build
from hetrec.stages.evaluate import EvaluateConfig
from hetrec.stages.evaluate import run as evaluate_runs
from hetrec.stages.finetune import FinetuneConfig, run

FAST = dict(dim=8, layers=2, batch_size=256, epochs=15, patience=15, device="cpu")


def write_tables(directory, n_users=60, n_items=80, per_user=14):
    """Two communities; each item's 'group' attribute names its community, so content predicts taste."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(n_users):
        side = u >= n_users // 2
        items = rng.choice(n_items // 2, per_user, replace=False) + n_items // 2 * side
        rows += [(u + 1, int(i) + 1, 1) for i in items]
    directory.mkdir(parents=True)
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).to_csv(directory / "ratings.csv", index=False)
    pd.DataFrame({"item_id": np.arange(1, n_items + 1),
                  "group": ["a" if i < n_items // 2 else "b" for i in range(n_items)]}).to_csv(
        directory / "items.csv", index=False)
    return directory


@pytest.fixture(scope="module")
def cold_graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("cold")
    out = root / "graph"
    build(BuildGraphConfig(data=write_tables(root / "t"), out=out, dataset="tables", split="cold-items",
                           cold_frac=0.25, seed=0))
    return out


def test_cold_split_graph_validates_and_reports_on_its_cold_items(cold_graph):
    art = load_graph_artifact(cold_graph)
    cold = cold_items(art)
    assert candidates_of(art) == "cold" and int(cold.sum()) == 20  # 25% of the 80 eligible items
    held = art.splits[art.splits["split"] != "train"]
    assert bool(cold[held["item"].to_numpy(copy=True)].all())  # every validation/test target is a cold item


def test_id_models_get_nothing_on_cold_items_and_content_models_do(cold_graph, tmp_path):
    lg = run(FinetuneConfig(graph=cold_graph, out=tmp_path / "lg", model="lightgcn", **FAST))
    la = run(FinetuneConfig(graph=cold_graph, out=tmp_path / "la", model="lightgcn-attr", lr=0.05, **FAST))
    ak = run(FinetuneConfig(graph=cold_graph, out=tmp_path / "ak", model="attrknn", device="cpu"))
    assert lg["metrics"]["test"]["candidates"] == "cold"
    assert lg["metrics"]["test"]["ndcg@10"] == 0.0  # LightGCN has no score for an item without interactions
    assert la["metrics"]["test"]["hit@10"] > 0.6  # its community's cold items through the 'group' attribute
    assert ak["metrics"]["test"]["hit@10"] > 0.6
    rows = evaluate_runs(EvaluateConfig(runs=[tmp_path / "lg", tmp_path / "la"], candidates="all", device="cpu",
                                        ks=(40,)))
    assert rows[0]["candidates"] == "all" and rows[0]["n_candidates"] == 80
    # among all 80 items a cold target competes with the user's unseen warm items: LightGCN never finds it,
    # the inductive model does within the user's half of the catalogue
    assert rows[0]["hit@40"] == 0.0 and rows[1]["hit@40"] > 0.5
    written = json.loads((tmp_path / "la" / "metrics_test.json").read_text())
    assert written["candidates"] == "all"


def test_cli_candidates_cold_and_its_errors(cold_graph, tmp_path):
    out = tmp_path / "ak"
    assert CliRunner().invoke(hetrec_cli, ["finetune", "--graph", str(cold_graph), "--model", "attrknn",
                                           "--out", str(out), "--device", "cpu"]).exit_code == 0
    res = CliRunner().invoke(hetrec_cli, ["evaluate", "--run", str(out), "--candidates", "cold", "--k", "10"])
    assert res.exit_code == 0, res.output
    assert "the 20 cold items" in res.output
    res = CliRunner().invoke(hetrec_cli, ["evaluate", "--run", str(out), "--candidates", "cold",
                                          "--protocol", "sampled"])
    assert res.exit_code != 0 and "sampled" in str(res.exception or res.output)


def test_candidates_cold_on_a_graph_without_cold_items_is_one_line(tmp_path):
    d = write_tables(tmp_path / "t")
    build(BuildGraphConfig(data=d, out=tmp_path / "g", dataset="tables", split="random", seed=0))
    run(FinetuneConfig(graph=tmp_path / "g", out=tmp_path / "pop", model="popular", device="cpu"))
    with pytest.raises(HetrecError, match="no cold items"):
        evaluate_runs(EvaluateConfig(runs=[tmp_path / "pop"], candidates="cold", device="cpu"))
