"""`hetrec evaluate`: two runs side by side, brute-force protocol oracle, sampled labelling, bad inputs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli import hetrec_cli
from hetrec.errors import HetrecError
from hetrec.graph.artifact import load_graph_artifact
from hetrec.stages.evaluate import EvaluateConfig, run as evaluate_runs
from hetrec.stages.finetune import FinetuneConfig, run as finetune
from test_finetune import FAST, graph_dir  # noqa: F401  (module-scoped fixture reused)


@pytest.fixture(scope="module")
def runs(graph_dir, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("runs")
    for model in ("mf", "popular"):
        finetune(FinetuneConfig(graph=graph_dir, out=root / model, model=model, **FAST))
    return root / "mf", root / "popular"


def _oracle(art, scores: np.ndarray, split: str, threshold: int) -> dict:
    """Per-user pessimistic ranks by brute force; test masks train items and the validation item."""
    s = art.splits
    train = s[s["split"] == "train"]
    counts = np.bincount(train["item"], minlength=art.num_items)
    masked = {u: set(g) for u, g in train.groupby("user")["item"]}
    if split == "test":
        for u, i in zip(*(s[s["split"] == "valid"][c] for c in ("user", "item"))):
            masked.setdefault(u, set()).add(i)
    ranks, sparse = [], []
    for u, t in zip(*(s[s["split"] == ("valid" if split == "val" else "test")][c] for c in ("user", "item"))):
        allowed = np.array([j for j in range(art.num_items) if j not in masked.get(u, ())])
        rank = math.inf if t in masked.get(u, ()) else \
            int((scores[u, allowed] > scores[u, t]).sum() + (scores[u, allowed] == scores[u, t]).sum())
        ranks.append(rank)
        sparse.append(counts[t] <= threshold)
    ranks, sparse = np.array(ranks, float), np.array(sparse)
    hit, ndcg = ranks <= 10, np.where(ranks <= 10, 1 / np.log2(ranks + 1), 0.0)
    return {"hit@10": hit.mean(), "ndcg@10": ndcg.mean(), "sparse/hit@10": hit[sparse].mean(),
            "n_sparse": int(sparse.sum())}


@pytest.mark.parametrize("split", ["val", "test"])
def test_metrics_match_brute_force_protocol(graph_dir, runs, split):  # noqa: F811
    art = load_graph_artifact(graph_dir)
    rows = evaluate_runs(EvaluateConfig(runs=list(runs), split=split, ks=(10, 20), sparse_threshold=9, device="cpu"))
    for row, run_dir in zip(rows, runs):
        emb = torch.load(run_dir / "final_embeddings.pt", weights_only=True)
        want = _oracle(art, (emb["user"] @ emb["item"].T).numpy(), split, threshold=9)
        assert row["n_sparse"] == want["n_sparse"] > 0
        for key in ("hit@10", "ndcg@10", "sparse/hit@10"):
            assert row[key] == pytest.approx(want[key], abs=1e-6), (run_dir.name, key)
        written = json.loads((run_dir / f"metrics_{split}.json").read_text())
        assert written["ndcg@10"] == row["ndcg@10"] and written["protocol"] == "full"


def test_cli_two_runs_side_by_side(runs):
    res = CliRunner().invoke(hetrec_cli, ["evaluate", "--run", str(runs[0]), "--run", str(runs[1]),
                                          "--split", "test", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    for run_dir in runs:
        m = json.loads((run_dir / "metrics_test.json").read_text())
        assert m == json.loads((run_dir / "metrics.json").read_text())["test"]  # finetune scored the same way
        for k in (10, 20, 50):
            line = next(x for x in res.output.splitlines() if run_dir.name in x and f" {k} " in x)
            assert f"{m[f'ndcg@{k}']:.4f}" in line and f"{m[f'coverage@{k}']:.4f}" in line
    assert "sparse-item ndcg" in res.output and "full" in res.output


def test_sampled_protocol_is_labelled_and_kept_apart(runs):
    res = CliRunner().invoke(hetrec_cli, ["evaluate", "--run", str(runs[0]), "--protocol", "sampled",
                                          "--num-negatives", "20", "--k", "10", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "sampled-20" in res.output and "NOT comparable" in res.output
    sampled = json.loads((runs[0] / "metrics_test_sampled-20.json").read_text())
    full = evaluate_runs(EvaluateConfig(runs=[runs[0]], ks=(10,), device="cpu"))[0]
    assert sampled["protocol"] == "sampled-20" and sampled["hit@10"] >= full["hit@10"]  # 21 candidates vs ~48


def test_bad_runs_are_one_line_errors(graph_dir, runs, tmp_path):  # noqa: F811
    for bad, needle in ((tmp_path / "nope", "no such directory"), (graph_dir, "expected 'finetune'")):
        res = CliRunner().invoke(hetrec_cli, ["evaluate", "--run", str(runs[0]), "--run", str(bad)])
        assert res.exit_code != 0 and isinstance(res.exception, HetrecError)
        assert needle in str(res.exception) and "\n" not in str(res.exception)
    with pytest.raises(HetrecError, match="--k"):
        evaluate_runs(EvaluateConfig(runs=[runs[0]], ks=(500,), device="cpu"))


def test_metrics_are_written_under_the_runs_lock(runs, monkeypatch):
    """evaluate takes the run's output lock to write its metrics file: a run held by another process (a
    finetune --force rewriting it) is refused, and a run replaced while it was scored is not written into."""
    import subprocess
    import sys

    from hetrec.stages import evaluate as ev

    mf = runs[0]
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from hetrec.artifacts import hold_lock\n"
        f"with hold_lock({str(mf)!r}):\n    print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(HetrecError, match="being written by another hetrec process"):
            evaluate_runs(EvaluateConfig(runs=[mf], split="test", ks=(10,), device="cpu"))
    finally:
        holder.kill()
        holder.wait()
    real = ev.evaluate_scores

    def replaced_meanwhile(*args, **kwargs):
        out = real(*args, **kwargs)
        manifest = mf / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"stage"', '"stage" ', 1))  # another process's rewrite
        return out

    monkeypatch.setattr(ev, "evaluate_scores", replaced_meanwhile)
    before = (mf / "metrics_val.json").read_text() if (mf / "metrics_val.json").exists() else None
    with pytest.raises(HetrecError, match="was replaced while it was being evaluated"):
        evaluate_runs(EvaluateConfig(runs=[mf], split="val", ks=(10,), device="cpu"))
    after = (mf / "metrics_val.json").read_text() if (mf / "metrics_val.json").exists() else None
    assert before == after
