"""A tiny graph artifact made by the real stages (synth -> build-graph), shared by the pretraining tests."""
import pytest

import hetrec  # noqa: F401  (before dgl)


@pytest.fixture(scope="session")
def tiny_graph_dir(tmp_path_factory):
    from hetrec.data.synth import SynthConfig
    from hetrec.stages import build_graph, synth

    root = tmp_path_factory.mktemp("pretrain")
    synth.run(synth.SynthStageConfig(out=str(root / "data"),
                                     synth=SynthConfig(users=60, books=40, ratings=900, tags=12, seed=0)))
    build_graph.run(build_graph.BuildGraphConfig(data=root / "data", out=root / "graph"))
    return root / "graph"


@pytest.fixture(scope="session")
def tiny_artifact(tiny_graph_dir):
    from hetrec.graph.artifact import load_graph_artifact

    return load_graph_artifact(tiny_graph_dir)


@pytest.fixture(scope="session")
def chance_ndcg10(tiny_artifact):
    """Expected validation NDCG@10 of a uniformly random ranking (one target per user, train items masked)."""
    import torch

    art = tiny_artifact
    users, _ = art.pairs("valid")
    allowed = art.num_items - torch.bincount(art.pairs("train")[0], minlength=art.num_users)[users]
    gains = 1 / torch.log2(torch.arange(2, 12, dtype=torch.float64))
    return float(torch.stack([gains[:min(10, int(n))].sum() / n for n in allowed]).mean())
