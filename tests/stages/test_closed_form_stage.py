"""`hetrec finetune --model ease|itemknn|gfcf|attrknn|ease-si`: grid on validation, the run artifact, evaluate, recommend."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import hetrec  # noqa: F401
from cli import hetrec_cli
from hetrec.artifacts import read_manifest
from hetrec.errors import HetrecError
from hetrec.graph.artifact import load_graph_artifact
from hetrec.stages.build_graph import BuildGraphConfig
from hetrec.stages.build_graph import run as build
from hetrec.stages.evaluate import EvaluateConfig, load_run
from hetrec.stages.evaluate import run as evaluate_runs
from hetrec.stages.finetune import FinetuneConfig, run
from tests.stages.test_finetune import write_tables


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cf")
    out = root / "graph"
    build(BuildGraphConfig(data=write_tables(root / "tables"), out=out, dataset="tables"))
    return out


@pytest.mark.parametrize("model", ["ease", "itemknn", "gfcf"])
def test_closed_form_run_records_its_grid_and_scores_like_evaluate(graph_dir, tmp_path, model):
    out = tmp_path / model
    summary = run(FinetuneConfig(graph=graph_dir, out=out, model=model, device="cpu"))
    manifest = read_manifest(out, stage="finetune")
    grid = manifest["closed_form"]["grid"]
    assert len(grid) > 1 and manifest["closed_form"]["selected_on"] == "val ndcg@10"
    best = max(grid, key=lambda row: row["val_ndcg@10"])
    chosen = manifest["closed_form"]["chosen"]
    assert all(best[k] == v for k, v in chosen.items())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["ndcg@10"] == pytest.approx(best["val_ndcg@10"])
    assert metrics["test"]["hit@10"] > 0.4  # the two communities are easy; chance is ~0.21
    rows = evaluate_runs(EvaluateConfig(runs=[out], device="cpu"))
    assert rows[0]["ndcg@10"] == pytest.approx(metrics["test"]["ndcg@10"])
    assert summary["chosen"] == chosen


def test_closed_form_refuses_an_init_and_content_models_need_attributes(graph_dir, tmp_path):
    with pytest.raises(HetrecError, match="nothing to initialise"):
        run(FinetuneConfig(graph=graph_dir, out=tmp_path / "x", model="ease", init=tmp_path, device="cpu"))
    art = load_graph_artifact(graph_dir)
    if not any(c[0] == art.item_type and c[2] != "user" for c in art.graph.canonical_etypes):
        with pytest.raises(HetrecError, match="side information"):
            run(FinetuneConfig(graph=graph_dir, out=tmp_path / "y", model="attrknn", device="cpu"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_cli_finetune_ease_then_recommend(graph_dir, tmp_path):
    out = tmp_path / "ease"
    res = CliRunner().invoke(hetrec_cli, ["finetune", "--graph", str(graph_dir), "--model", "ease",
                                          "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    _, art, scorer, unscorable = load_run(out)
    scores = scorer(torch.arange(art.num_users))
    assert scores.shape == (art.num_users, art.num_items)
    res = CliRunner().invoke(hetrec_cli, ["recommend", "--run", str(out), "--user", "1", "-k", "3", "--json"])
    assert res.exit_code == 0, res.output
    items = json.loads(res.output)["items"]
    assert len(items) == 3 and all(it["item_id"] <= 30 for it in items)  # user 1 is in the first community
