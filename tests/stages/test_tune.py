"""``finetune --tune``: every grid point trained, the validation winner written with the grid in its manifest, an
interrupted tune reusing its finished points, and the refusals."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import hetrec  # noqa: F401
from cli import hetrec_cli
from hetrec.errors import HetrecError
from hetrec.stages.build_graph import BuildGraphConfig
from hetrec.stages.build_graph import run as build
from hetrec.stages.finetune import FinetuneConfig, run
from hetrec.stages.tune import GRIDS, tune_dir
from tests.stages.test_finetune import FAST, write_tables


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    build(BuildGraphConfig(data=write_tables(root / "tables"), out=root / "graph", dataset="tables"))
    return root / "graph"


def _cfg(graph_dir, out, **kw):
    return FinetuneConfig(graph=graph_dir, out=out, **{**FAST, "epochs": 2, **kw})


def test_tune_keeps_the_validation_winner_and_records_the_grid(graph_dir, tmp_path):
    out = tmp_path / "tuned"
    summary = run(_cfg(graph_dir, out, model="lightgcn", tune=True, lr=None))
    manifest = json.loads((out / "manifest.json").read_text())
    grid = manifest["tune"]["grid"]
    assert [{"lr": p["lr"]} for p in grid] == GRIDS["lightgcn"]
    best = max(grid, key=lambda p: p["val_ndcg@10"])
    assert manifest["tune"]["chosen"] == {"lr": best["lr"]} == summary["tune"]["chosen"]
    assert manifest["metrics"]["val"]["ndcg@10"] == pytest.approx(best["val_ndcg@10"])
    assert json.loads((out / "metrics.json").read_text()) == manifest["metrics"]
    assert manifest["config"]["tune"] is True and manifest["tune"]["selected_on"] == "val ndcg@10"
    assert not tune_dir(out).exists()  # the grid's runs are removed once the winner is in place
    # the same grid point trained on its own gives the same model: tuning adds no randomness of its own
    alone = run(_cfg(graph_dir, tmp_path / "alone", model="lightgcn", lr=best["lr"]))
    assert alone["metrics"]["test"] == pytest.approx(manifest["metrics"]["test"])


def test_an_interrupted_tune_reuses_its_finished_points(graph_dir, tmp_path):
    out = tmp_path / "tuned"
    first = GRIDS["mf"][0]
    work = tune_dir(out)
    run(_cfg(graph_dir, work / f"lr={first['lr']:g}", model="mf", **first))  # as if killed after point 1
    lines = []
    run(_cfg(graph_dir, out, model="mf", tune=True, lr=None), log=lines.append)
    assert sum("reused" in line for line in lines) == 1
    assert len(json.loads((out / "manifest.json").read_text())["tune"]["grid"]) == len(GRIDS["mf"])


@pytest.mark.parametrize("args, needle", [
    (["--model", "ease", "--tune"], "--tune: no grid for --model ease"),
    (["--model", "lightgcn", "--tune", "--resume"], "--resume does not apply to --tune"),
])
def test_tune_refusals_are_one_line_and_write_nothing(graph_dir, tmp_path, args, needle):
    out = tmp_path / "run"
    res = CliRunner().invoke(hetrec_cli, ["finetune", "--graph", str(graph_dir), "--out", str(out),
                                          "--device", "cpu", *args])
    assert res.exit_code != 0
    assert isinstance(res.exception, HetrecError) and needle in str(res.exception)
    assert not out.exists() and not tune_dir(out).exists()
