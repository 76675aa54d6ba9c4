"""`hetrec finetune` on a tiny two-community table dataset: the run artifact, determinism, resume, init, errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import hetrec  # noqa: F401
from cli import hetrec_cli
from hetrec.artifacts import read_manifest, write_manifest
from hetrec.errors import HetrecError
from hetrec.graph.artifact import load_graph_artifact
from hetrec.model.lightgcn import LightGCN
from hetrec.stages.build_graph import BuildGraphConfig
from hetrec.stages.build_graph import run as build
from hetrec.evaluator.protocol import evaluate_embeddings
from hetrec.stages.finetune import FinetuneConfig, partial_dir, run

FAST = dict(dim=8, layers=2, batch_size=128, lr=0.05, reg=1e-4, epochs=4, patience=10, device="cpu")


def write_tables(directory: Path, n_users: int = 40, n_items: int = 60, per_user: int = 12) -> Path:
    """ratings.csv/items.csv: the first half of the users rate only the first half of the items, and vice versa."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items // 2, per_user, replace=False) + n_items // 2 * (u >= n_users // 2)
        rows += [(u + 1, int(i) + 1, 4, 1000 + t) for t, i in enumerate(items)]
    directory.mkdir(parents=True)
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(directory / "ratings.csv",
                                                                                     index=False)
    pd.DataFrame({"item_id": np.arange(1, n_items + 1), "title": [f"t{i}" for i in range(n_items)]}).to_csv(
        directory / "items.csv", index=False)
    return directory


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ft")
    out = root / "graph"
    build(BuildGraphConfig(data=write_tables(root / "tables"), out=out, dataset="tables"))
    return out


def _cfg(graph_dir, out, **kw) -> FinetuneConfig:
    return FinetuneConfig(graph=graph_dir, out=out, **{**FAST, **kw})


def _emb(out):
    return torch.load(Path(out) / "final_embeddings.pt", weights_only=True)


def test_run_directory_is_consistent(graph_dir, tmp_path):
    out = tmp_path / "run"
    summary = run(_cfg(graph_dir, out, epochs=6))
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "final_embeddings.pt", "manifest.json",
                                                      "metrics.json", "train_log.csv"]
    assert not partial_dir(out).exists()
    art = load_graph_artifact(graph_dir)
    manifest = read_manifest(out, stage="finetune")
    assert manifest["inputs"] == {"graph": art.fingerprint, "init": None} and manifest["seed"] == 0
    log = pd.read_csv(out / "train_log.csv")
    assert list(log["epoch"]) == list(range(1, summary["epochs_run"] + 1))
    best = int(log["val_ndcg@10"].idxmax())  # first maximum = the epoch early stopping kept
    assert summary["best_epoch"] == log["epoch"][best]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["ndcg@10"] == pytest.approx(log["val_ndcg@10"][best], abs=1e-12)
    # final embeddings are the best checkpoint's forward pass, and metrics.json scores exactly them
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    model = LightGCN(art.num_users, art.num_items, 8, num_layers=2, item_type=art.item_type)
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        u, i = model(art.graph)
    emb = _emb(out)
    torch.testing.assert_close(emb["user"], u, rtol=0, atol=0)
    torch.testing.assert_close(emb["item"], i, rtol=0, atol=0)
    assert evaluate_embeddings(art, emb["user"], emb["item"], "test") == metrics["test"]
    assert metrics["test"]["hit@10"] > 0.4  # in-community hit rate; chance over ~48 candidates is ~0.21


def test_same_seed_same_metrics_other_seed_differs(graph_dir, tmp_path):
    a, b, c = (run(_cfg(graph_dir, tmp_path / n, seed=s)) for n, s in (("a", 1), ("b", 1), ("c", 2)))
    assert a["metrics"] == b["metrics"]
    assert torch.equal(_emb(tmp_path / "a")["item"], _emb(tmp_path / "b")["item"])
    assert not torch.equal(_emb(tmp_path / "a")["item"], _emb(tmp_path / "c")["item"])
    assert (tmp_path / "a" / "train_log.csv").read_text().split("\n")[1].split(",")[:2] == \
        (tmp_path / "b" / "train_log.csv").read_text().split("\n")[1].split(",")[:2]


def test_resume_after_interrupt_equals_uninterrupted(graph_dir, tmp_path):
    ref = run(_cfg(graph_dir, tmp_path / "ref", epochs=5))

    def interrupt(epoch, batch):
        if (epoch, batch) == (3, 1):
            raise KeyboardInterrupt

    out = tmp_path / "run"
    with pytest.raises(HetrecError, match="2 epoch.*resume with --resume"):
        run(_cfg(graph_dir, out, epochs=5), on_batch=interrupt)
    assert not out.exists() and (partial_dir(out) / "checkpoint.pt").is_file()
    with pytest.raises(HetrecError, match="--resume to continue"):  # a fresh start must not clobber it silently
        run(_cfg(graph_dir, out, epochs=5))
    resumed = run(_cfg(graph_dir, out, epochs=5, resume=True))
    assert resumed["resumed_from"] == 2 and not partial_dir(out).exists()
    assert resumed["metrics"] == ref["metrics"]
    assert torch.equal(_emb(out)["user"], _emb(tmp_path / "ref")["user"])
    drop = ["seconds", "eval_seconds"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "train_log.csv").drop(columns=drop),
                                  pd.read_csv(tmp_path / "ref" / "train_log.csv").drop(columns=drop))


def test_resume_with_other_options_is_refused(graph_dir, tmp_path):
    out = tmp_path / "run"

    def interrupt(epoch, batch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(HetrecError):
        run(_cfg(graph_dir, out), on_batch=interrupt)
    with pytest.raises(HetrecError, match="other settings"):
        run(_cfg(graph_dir, out, lr=0.01, resume=True))


def _pretrain_dir(root: Path, graph_fp: str, tables: dict) -> Path:
    root.mkdir()
    write_manifest(root, stage="pretrain", config={}, inputs={"graph": graph_fp})
    torch.save({"node": tables, "relation": {}, "method": "test", "dim": 8}, root / "embeddings.pt")
    return root


def test_init_copies_pretrained_tables(graph_dir, tmp_path):
    art = load_graph_artifact(graph_dir)
    tables = {"user": torch.randn(art.num_users, 8), "item": torch.randn(art.num_items, 8)}
    pre = _pretrain_dir(tmp_path / "pre", art.fingerprint, tables)
    run(_cfg(graph_dir, tmp_path / "run", model="mf", init=pre, epochs=0))  # no step: embeddings = init
    emb = _emb(tmp_path / "run")
    assert torch.equal(emb["user"], tables["user"]) and torch.equal(emb["item"], tables["item"])
    assert read_manifest(tmp_path / "run")["inputs"]["init"] == read_manifest(pre)["fingerprint"]
    other = _pretrain_dir(tmp_path / "other", "0123456789abcdef", tables)
    with pytest.raises(HetrecError, match="pretrained on a different graph"):
        run(_cfg(graph_dir, tmp_path / "run2", init=other))
    wrong_dim = _pretrain_dir(tmp_path / "dim", art.fingerprint, {"user": torch.randn(art.num_users, 4)})
    with pytest.raises(HetrecError, match="same --dim"):
        run(_cfg(graph_dir, tmp_path / "run3", init=wrong_dim))
    assert not (tmp_path / "run2").exists() and not (tmp_path / "run3").exists()


def test_popular_scores_by_train_counts(graph_dir, tmp_path):
    summary = run(_cfg(graph_dir, tmp_path / "pop", model="popular"))
    art = load_graph_artifact(graph_dir)
    train = art.splits[art.splits["split"] == "train"]
    counts = np.bincount(train["item"], minlength=art.num_items)
    assert np.array_equal(_emb(tmp_path / "pop")["item"][:, 0].numpy(), counts)
    assert summary["epochs_run"] == 0 and pd.read_csv(tmp_path / "pop" / "train_log.csv").empty


def test_cli_prints_val_and_test_table(graph_dir, tmp_path):
    out = tmp_path / "run"
    args = ["finetune", "--graph", str(graph_dir), "--out", str(out), "--model", "mf", "--dim", "8", "--epochs", "2",
            "--batch-size", "256", "--device", "cpu"]
    res = CliRunner().invoke(hetrec_cli, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    metrics = json.loads((out / "metrics.json").read_text())
    assert any(line.count("val") and f"{metrics['val']['ndcg@10']:.4f}" in line for line in lines)
    assert any(line.count("test") and f"{metrics['test']['hit@10']:.4f}" in line for line in lines)


@pytest.mark.parametrize("case", ["missing graph", "init not pretrain", "resume nothing", "bad model",
                                  "kg drop", "cl on lightgcn"])
def test_bad_inputs_one_line_no_output(graph_dir, tmp_path, case):
    out = tmp_path / "run"
    args = {"missing graph": ["--graph", str(tmp_path / "nope")],
            "init not pretrain": ["--graph", str(graph_dir), "--init", str(graph_dir)],
            "resume nothing": ["--graph", str(graph_dir), "--resume"],
            "bad model": ["--graph", str(graph_dir), "--model", "gpt"],
            "kg drop": ["--graph", str(graph_dir), "--model", "lightgcn-attr", "--kg-drop", "1.5"],
            "cl on lightgcn": ["--graph", str(graph_dir), "--model", "lightgcn", "--kgcl-weight", "0.1"]}[case]
    res = CliRunner().invoke(hetrec_cli, ["finetune", "--out", str(out), "--device", "cpu", *args])
    assert res.exit_code != 0
    message = str(res.exception) if isinstance(res.exception, HetrecError) else res.output.strip().splitlines()[-1]
    needle = {"missing graph": "no such directory", "init not pretrain": "expected 'pretrain'",
              "resume nothing": "nothing to resume", "bad model": "Invalid value for '--model'",
              "kg drop": "--kg-drop 1.5: must be", "cl on lightgcn": "--kgcl-weight applies to --model lightgcn-attr"
              }[case]
    assert needle in message and "\n" not in message.strip()
    assert not out.exists() and not partial_dir(out).exists()
