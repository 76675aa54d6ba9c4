"""Every numeric option of every command is checked for finite values and range, with one line, before any work."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import hetrec  # noqa: F401
from cli import hetrec_cli
from hetrec.errors import HetrecError


def _tables(d: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = [(u + 1, int(i) + 1, 4, t) for u in range(12) for t, i in enumerate(rng.choice(20, 6, replace=False))]
    d.mkdir()
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(d / "ratings.csv", index=False)
    pd.DataFrame({"item_id": np.arange(1, 21)}).to_csv(d / "items.csv", index=False)
    return d


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = _tables(root / "data")
    runner = CliRunner()
    assert runner.invoke(hetrec_cli, ["build-graph", "--dataset", "tables", "--data", str(data), "--out",
                                      str(root / "g")]).exit_code == 0
    res = runner.invoke(hetrec_cli, ["finetune", "--graph", str(root / "g"), "--out", str(root / "run"), "--model",
                                     "mf", "--dim", "4", "--epochs", "1", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return root


def _refused(args, needle, out: Path | None = None):
    res = CliRunner().invoke(hetrec_cli, args)
    assert isinstance(res.exception, HetrecError), (res.output, res.exception)
    assert needle in str(res.exception) and "\n" not in str(res.exception)
    if out is not None:
        assert not out.exists()


@pytest.mark.parametrize("option, value, needle", [
    ("--lr", "nan", "--lr nan: must be a finite number"), ("--lr", "inf", "--lr inf: must be a finite"),
    ("--lr", "0", "--lr 0: must be > 0"), ("--reg", "-1", "--reg -1: must be >= 0"),
    ("--reg", "nan", "--reg nan"), ("--seed", "-1", "--seed -1: must be >= 0"),
    ("--layers", "-1", "--layers -1"), ("--epochs", "-2", "--epochs -2")])
def test_finetune_rejects_non_finite_and_out_of_range(made, tmp_path, option, value, needle):
    _refused(["finetune", "--graph", str(made / "g"), "--out", str(tmp_path / "r"), option, value], needle,
             tmp_path / "r")


@pytest.mark.parametrize("option, value, needle", [
    ("--lr", "nan", "--lr nan"), ("--reg", "inf", "--reg inf"), ("--kg-weight", "nan", "--kg-weight nan"),
    ("--kg-weight", "-1", "--kg-weight -1"), ("--num-bases", "-3", "--num-bases -3")])
def test_pretrain_rejects_non_finite_and_out_of_range(made, tmp_path, option, value, needle):
    _refused(["pretrain", "--graph", str(made / "g"), "--out", str(tmp_path / "p"), option, value], needle,
             tmp_path / "p")


@pytest.mark.parametrize("option, value, needle", [
    ("--rating-threshold", "nan", "--rating-threshold nan"), ("--rating-threshold", "inf", "--rating-threshold inf"),
    ("--top-tags", "-1", "--top-tags -1: must be >= 1"), ("--min-user", "-1", "--min-user -1"),
    ("--similar-k", "-5", "--similar-k -5"), ("--seed", "-1", "--seed -1")])
def test_build_graph_rejects_non_finite_and_out_of_range(made, tmp_path, option, value, needle):
    _refused(["build-graph", "--dataset", "tables", "--data", str(made / "data"), "--out", str(tmp_path / "g"),
              option, value], needle, tmp_path / "g")


def test_evaluate_sampled_refuses_more_negatives_than_candidates(made):
    run = str(made / "run")
    _refused(["evaluate", "--run", run, "--protocol", "sampled", "--num-negatives", "30", "--k", "5"],
             "--num-negatives 30: a user has only")
    res = CliRunner().invoke(hetrec_cli, ["evaluate", "--run", run, "--protocol", "sampled", "--num-negatives", "5",
                                          "--k", "2,5"])
    assert res.exit_code == 0, res.output
    _refused(["evaluate", "--run", run, "--num-negatives", "0"], "--num-negatives 0")
    _refused(["evaluate", "--run", run, "--sparse-threshold", "-1"], "--sparse-threshold -1")


def test_finetune_prints_a_line_per_epoch_when_not_a_terminal_and_recall_in_the_table(made, tmp_path):
    res = CliRunner().invoke(hetrec_cli, ["finetune", "--graph", str(made / "g"), "--out", str(tmp_path / "r"),
                                          "--model", "mf", "--dim", "4", "--epochs", "3", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if x.startswith("training ")]
    assert [x.split()[1] for x in lines] == ["1/3", "2/3", "3/3"] and "loss" in lines[0]
    assert "recall@10" in res.output and "recall@20" in res.output


def test_evaluate_sparse_sentence_fits_several_targets_per_user(made, tmp_path):
    runner = CliRunner()
    g, run = tmp_path / "g", tmp_path / "run"
    from hetrec.stages.build_graph import BuildGraphConfig, run as build

    build(BuildGraphConfig(data=made / "data", out=g, dataset="tables", split="random", valid_frac=0.2,
                           test_frac=0.4))  # about 2 test items per user
    assert runner.invoke(hetrec_cli, ["finetune", "--graph", str(g), "--out", str(run), "--model", "popular",
                                      "--device", "cpu"]).exit_code == 0
    res = runner.invoke(hetrec_cli, ["evaluate", "--run", str(run), "--k", "5"])
    assert res.exit_code == 0, res.output
    assert "users with a target item of <= 5 train interactions" in res.output
    assert "whose target has" not in res.output
    res = runner.invoke(hetrec_cli, ["evaluate", "--run", str(made / "run"), "--k", "5"])  # leave-one-out
    assert "users whose target has <= 5 train interactions" in res.output
