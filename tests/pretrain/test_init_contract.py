"""The init contract on a knowledge graph: every method exports layer-0 rows for every node type (the shared KG
``entity`` type included), its scored outputs and its modules' weights, and the inductive LightGCN starts from them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import hetrec  # noqa: F401
from hetrec.pretrain.config import PretrainConfig
from hetrec.stages import build_graph, finetune, pretrain


@pytest.fixture(scope="module")
def kg_graph(tmp_path_factory):
    """KGCN layout: 30 users, 20 items in two taste groups; two relations whose tails (entities) are shared."""
    root = tmp_path_factory.mktemp("kg")
    d = root / "data"
    d.mkdir()
    rng = np.random.default_rng(0)
    (d / "item_index2entity_id.txt").write_text("".join(f"{100 + i}\t{i}\n" for i in range(20)))
    rows = ["userID\tartistID\tweight"]
    for u in range(30):
        group = u % 2
        for i in rng.choice(10, 6, replace=False):
            rows.append(f"{u + 1}\t{100 + 10 * group + int(i)}\t1")
    (d / "user_artists.dat").write_text("\n".join(rows) + "\n")
    kg = [f"{i}\tmusic.artist.genre\t{20 + i // 10}" for i in range(20)]  # entity 20 / 21: the group's genre
    kg += [f"{i}\tmusic.artist.origin\t{20 + (i % 3 == 0)}" for i in range(20)]  # the same entities, another relation
    (d / "kg.txt").write_text("\n".join(kg) + "\n")
    out = root / "graph"
    build_graph.run(build_graph.BuildGraphConfig(data=d, out=out, dataset="kg", split="random", seed=0))
    return out


@pytest.mark.parametrize("method", ["rgcn", "kgat", "ramgnn"])
def test_every_method_exports_the_same_contract_on_a_kg(kg_graph, tmp_path, method):
    out = tmp_path / method
    pretrain.run(pretrain.PretrainStageConfig(graph=kg_graph, out=out, device="cpu", pretrain=PretrainConfig(
        method=method, dim=8, layers=1, epochs=2, batch_size=64, lr=0.01, neighbors=3, patience=5)))
    emb = torch.load(out / "embeddings.pt", weights_only=True)
    assert {"node", "final", "relation", "modules", "method", "dim"} <= set(emb)
    from hetrec.graph.artifact import load_graph_artifact
    g = load_graph_artifact(kg_graph).graph
    assert "entity" in g.ntypes
    assert {t: tuple(x.shape) for t, x in emb["node"].items()} == {t: (g.num_nodes(t), 8) for t in g.ntypes}
    assert all(bool(torch.isfinite(x).all()) for x in emb["node"].values())
    assert emb["final"]["user"].shape[0] == g.num_nodes("user") and emb["modules"]
    run = finetune.run(finetune.FinetuneConfig(graph=kg_graph, out=tmp_path / f"ft-{method}", model="lightgcn-attr",
                                               init=out, dim=8, layers=1, epochs=1, device="cpu"))
    assert run["epochs_run"] == 1


def test_rgcn_relation_transforms_are_carried_into_the_relation_encoder(kg_graph, tmp_path):
    """R-GCN exports its layer-0 ``W_r`` by relation name; ``lightgcn-attr --encoder relation`` starts from them
    (checked before any training step: 0 epochs) and keeps training them."""
    out = tmp_path / "rgcn"
    pretrain.run(pretrain.PretrainStageConfig(graph=kg_graph, out=out, device="cpu", pretrain=PretrainConfig(
        method="rgcn", dim=8, layers=2, epochs=1, batch_size=64, lr=0.01, patience=5, num_bases=2)))
    emb = torch.load(out / "embeddings.pt", weights_only=True)
    from hetrec.graph.artifact import load_graph_artifact
    g = load_graph_artifact(kg_graph).graph
    w = emb["relation_transforms"]
    assert set(w) == set(g.etypes) and all(tuple(x.shape) == (8, 8) for x in w.values())
    m = emb["modules"]  # basis decomposition: W_r = sum_b coeff[r, b] bases[b], in graph.etypes order
    k = g.etypes.index("music.artist.genre_of") if "music.artist.genre_of" in g.etypes else 0
    expected = (m["layers.0.weights.coeff"][k].unsqueeze(1).unsqueeze(2) * m["layers.0.weights.bases"]).sum(0)
    assert torch.allclose(w[g.etypes[k]], expected, atol=1e-6)
    for epochs in (0, 1):
        run = tmp_path / f"ft{epochs}"
        finetune.run(finetune.FinetuneConfig(graph=kg_graph, out=run, model="lightgcn-attr", init=out, dim=8,
                                             layers=1, epochs=epochs, device="cpu", encoder="relation"))
        state = torch.load(run / "checkpoint.pt", weights_only=False)["model"]
        from hetrec.model.attr_lightgcn import side_inputs
        rels = sorted(c for t in ("user", "item") for c in side_inputs(g, t, "item"))
        same = [torch.allclose(state["transform"][j], w[c[1]]) for j, c in enumerate(rels)]
        assert all(same) if epochs == 0 else not any(same)


def test_kgat_relation_attention_is_carried_into_the_attention_encoder(kg_graph, tmp_path):
    """KGAT exports its attention (``W_r``, ``e_r``) per CKG relation; the attention encoder's relation
    ``(entity, r_inv, item)`` carries the messages of KGAT's ``(item, r, entity)`` triples, so it starts from those."""
    out = tmp_path / "kgat"
    pretrain.run(pretrain.PretrainStageConfig(graph=kg_graph, out=out, device="cpu", pretrain=PretrainConfig(
        method="kgat", dim=8, layers=1, epochs=1, batch_size=64, lr=0.01, patience=5)))
    emb = torch.load(out / "embeddings.pt", weights_only=True)
    att = emb["relation_attention"]
    assert "music_artist_genre" in att and tuple(att["music_artist_genre"]["w"].shape) == (8, 8)
    run = tmp_path / "ft"
    finetune.run(finetune.FinetuneConfig(graph=kg_graph, out=run, model="lightgcn-attr", init=out, dim=8, layers=1,
                                         epochs=0, device="cpu", encoder="attention"))
    state = torch.load(run / "checkpoint.pt", weights_only=False)["model"]
    from hetrec.graph.artifact import load_graph_artifact
    from hetrec.model.attr_lightgcn import side_inputs
    g = load_graph_artifact(kg_graph).graph
    rels = sorted(c for t in ("user", "item") for c in side_inputs(g, t, "item"))
    assert [c[1] for c in rels] == ["music_artist_genre_inv", "music_artist_origin_inv"]
    for j, name in enumerate(("music_artist_genre", "music_artist_origin")):
        assert torch.equal(state["att_w"][j], att[name]["w"]) and torch.equal(state["att_e"][j], att[name]["e"])
