"""`hetrec pretrain` end to end on a tiny artifact: the artifact contract, the round trip into `finetune --init`,
determinism, and every bad input failing with one line and no output directory."""
import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import hetrec  # noqa: F401  (before dgl)
from cli import hetrec_cli
from hetrec.errors import HetrecError
from hetrec.pretrain import common
from hetrec.pretrain.config import PretrainConfig, PretrainResult
from hetrec.stages import pretrain as stage

FAST = ["--epochs", "3", "--dim", "8", "--layers", "1", "--batch-size", "256", "--kg-batch-size", "512",
        "--lr", "0.01", "--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(hetrec_cli, [str(a) for a in args])


@pytest.mark.parametrize("method,mode", [("rgcn", "full"), ("kgat", "sampled")])
def test_cli_writes_the_contract_and_finetune_init_reads_it(tiny_graph_dir, tiny_artifact, tmp_path, method, mode):
    out = tmp_path / method
    res = invoke("pretrain", "--graph", tiny_graph_dir, "--out", out, "--method", method, "--mode", mode,
                 "--fanouts", "4", *FAST)
    assert res.exit_code == 0, res.output + repr(res.exception)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "pretrain" and manifest["method"] == method and manifest["seed"] == 0
    assert manifest["inputs"] == {"graph": tiny_artifact.fingerprint}
    assert manifest["config"]["mode"] == mode and manifest["config"]["dim"] == 8 and manifest["device"] == "cpu"
    assert {"torch", "dgl", "hetrec"} <= set(manifest["versions"])
    emb = torch.load(out / "embeddings.pt", weights_only=True)
    assert emb["method"] == method and emb["dim"] == 8
    g = tiny_artifact.graph
    assert {t: tuple(x.shape) for t, x in emb["node"].items()} == {t: (g.num_nodes(t), 8) for t in g.ntypes}
    log = pd.read_csv(out / "train_log.csv")
    assert list(log["epoch"]) == [1, 2, 3] and manifest["training"]["epochs_run"] == 3
    best = log.loc[log["val_ndcg@10"].idxmax()]
    assert manifest["metrics"]["epoch"] == int(best["epoch"])
    assert manifest["metrics"]["val_ndcg@10"] == pytest.approx(float(best["val_ndcg@10"]))
    # the kept embeddings are the best epoch's: re-scoring its final outputs gives the logged best
    if method in ("rgcn", "kgat", "ramgnn"):
        val = common.validate(tiny_artifact, emb["final"]["user"], emb["final"]["book"],
                              common.train_index(tiny_artifact))
        assert val["ndcg@10"] == pytest.approx(float(best["val_ndcg@10"]), abs=1e-6)
    # the init contract: layer-0 inputs of every node type, the scored outputs, the modules' weights
    assert {"node", "final", "relation", "modules", "method", "dim"} <= set(emb)
    assert set(emb["final"]) >= {"user", "book"} and emb["modules"]
    run = tmp_path / "run"
    res = invoke("finetune", "--graph", tiny_graph_dir, "--out", run, "--init", out, "--dim", 8, "--epochs", 1,
                 "--device", "cpu")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert json.loads((run / "manifest.json").read_text())["inputs"]["init"] == manifest["fingerprint"]
    res = invoke("finetune", "--graph", tiny_graph_dir, "--out", tmp_path / "run16", "--init", out, "--dim", 16,
                 "--epochs", 1, "--device", "cpu")
    assert res.exit_code != 0 and not (tmp_path / "run16").exists()


def test_same_seed_same_embeddings_and_graph_untouched(tiny_graph_dir, tiny_artifact, tmp_path):
    g = tiny_artifact.graph
    edges = {c: g.edges(etype=c) for c in g.canonical_etypes}
    cfg = PretrainConfig(method="rgcn", dim=8, layers=2, epochs=2, batch_size=256, lr=0.01, mode="sampled",
                         fanouts=(3,), num_bases=2)
    a, b = (stage.run(stage.PretrainStageConfig(graph=tiny_graph_dir, out=tmp_path / n, pretrain=cfg, device="cpu"))
            for n in ("a", "b"))
    assert a["best"] == b["best"]
    ea, eb = (torch.load(tmp_path / n / "embeddings.pt", weights_only=True) for n in ("a", "b"))
    for t in ea["node"]:
        assert torch.equal(ea["node"][t], eb["node"][t])
    for c, (u, v) in edges.items():  # the method read the graph it was given; it changed nothing in it
        u2, v2 = g.edges(etype=c)
        assert torch.equal(u, u2) and torch.equal(v, v2)


def test_extra_files_become_csv_and_a_broken_method_leaves_nothing(tiny_graph_dir, tmp_path, monkeypatch):
    def fake(artifact, cfg, device, log):
        node = {t: torch.zeros(artifact.graph.num_nodes(t), cfg.dim) for t in artifact.graph.ntypes}
        return PretrainResult({"node": node, "relation": {}, "method": "fake", "dim": cfg.dim},
                              history=[{"epoch": 1, "loss": 0.5}], best={"val_ndcg@10": 0.1, "epoch": 1},
                              extra_files={"thresholds.csv": [{"relation": "has_tag", "k": 3}]})

    def broken(artifact, cfg, device, log):
        res = fake(artifact, cfg, device, log)
        res.embeddings["node"]["user"] = torch.zeros(1, cfg.dim)
        return res

    monkeypatch.setattr(stage, "_methods", lambda: {"fake": fake, "broken": broken})
    ok = stage.run(stage.PretrainStageConfig(graph=tiny_graph_dir, out=tmp_path / "ok", device="cpu",
                                             pretrain=PretrainConfig(method="fake", dim=4)))
    assert ok["best"]["epoch"] == 1
    assert pd.read_csv(tmp_path / "ok" / "thresholds.csv").to_dict("records") == [{"relation": "has_tag", "k": 3}]
    assert "thresholds.csv" in json.loads((tmp_path / "ok" / "manifest.json").read_text())["files"]
    with pytest.raises(RuntimeError, match="'user'"):
        stage.run(stage.PretrainStageConfig(graph=tiny_graph_dir, out=tmp_path / "bad", device="cpu",
                                            pretrain=PretrainConfig(method="broken", dim=4)))
    assert not (tmp_path / "bad").exists() and list(tmp_path.iterdir()) == [tmp_path / "ok"]


def bad_inputs(tiny_graph_dir, tmp_path):
    not_artifact = tmp_path / "plain"
    not_artifact.mkdir()
    (not_artifact / "notes.txt").write_text("x")
    existing = tmp_path / "existing"
    existing.mkdir()
    return [
        (["--graph", not_artifact], "not a hetrec artifact", "out1"),
        (["--graph", tmp_path / "missing"], "no such directory", "out2"),
        (["--graph", tiny_graph_dir, "--method", "nope"], "nope", "out3"),
        (["--graph", tiny_graph_dir, "--mode", "sampled", "--fanouts", "3,3,3", "--layers", "2"], "per layer", "out4"),
        (["--graph", tiny_graph_dir, "--fanouts", "x"], "comma-separated", "out5"),
        (["--graph", tiny_graph_dir, "--dim", "0"], "--dim 0", "out6"),
        (["--graph", tiny_graph_dir, "--mode", "dense"], "dense", "out7"),
        (["--graph", tiny_graph_dir], "--force", "existing"),
    ]


def test_bad_inputs_fail_with_one_line_and_no_output(tiny_graph_dir, tmp_path):
    for args, needle, out in bad_inputs(tiny_graph_dir, tmp_path):
        res = invoke("pretrain", *args, "--out", tmp_path / out, "--epochs", 1)
        message = str(res.exception) if isinstance(res.exception, HetrecError) else res.output
        assert res.exit_code != 0, args
        assert needle in message, (args, message)
        if isinstance(res.exception, HetrecError):
            assert "\n" not in str(res.exception)
        if out != "existing":
            assert not (tmp_path / out).exists(), args
    assert list((tmp_path / "existing").iterdir()) == []
    with pytest.raises(HetrecError, match="unknown; use one of"):
        stage.run(stage.PretrainStageConfig(graph=tiny_graph_dir, out=tmp_path / "api",
                                            pretrain=PretrainConfig(method="nope")))
    # a pretrain artifact is not a graph artifact
    ok = tmp_path / "ok"
    assert invoke("pretrain", "--graph", tiny_graph_dir, "--out", ok, *FAST).exit_code == 0
    res = invoke("pretrain", "--graph", ok, "--out", tmp_path / "again", *FAST)
    assert res.exit_code != 0 and "expected 'build_graph'" in str(res.exception)
    assert not (tmp_path / "again").exists()
