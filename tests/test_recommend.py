"""`hetrec recommend` on a hand-made graph and embeddings: known top-k, exclusions, explanation paths."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hetrec.artifacts import atomic_dir, write_manifest
from hetrec.data.dataset import Attribute, Dataset
from hetrec.errors import HetrecError
from hetrec.graph.artifact import write_graph_artifact
from hetrec.graph.build import build_graph
from hetrec.stages.recommend import RecommendConfig, run

BOOKS = {  # item_id: (title, author, tag)
    10: ("The Hobbit", "J.R.R. Tolkien", "fantasy"),
    11: ("The Silmarillion", "J.R.R. Tolkien", "fantasy"),
    12: ("Dune", "Frank Herbert", "scifi"),
    13: ("Emma", "Jane Austen", "classic"),
    14: ("Persuasion", "Jane Austen", "classic"),
    15: ("Children of Dune", "Frank Herbert", "scifi"),
    16: ("Pride and Prejudice", "Jane Austen", "classic"),
    17: ("Mistborn", "Brandon Sanderson", "fantasy"),
}
# user 1: Hobbit 5 and Emma 2 in train, Dune 4 held out (valid), so Dune is unseen by the graph but known
RATINGS = [(1, 10, 5, "train"), (1, 13, 2, "train"), (1, 12, 4, "valid"),
           (2, 10, 4, "train"), (2, 15, 5, "train"), (2, 11, 3, "valid"),
           (3, 13, 3, "train"), (3, 15, 4, "train"), (3, 17, 5, "train"), (3, 14, 2, "test")]
# item vectors: user 1 = (1, 0) scores item i by its first coordinate
SCORES = {10: 10.0, 11: 3.0, 12: 9.0, 13: 8.0, 14: 1.0, 15: 2.0, 16: 0.5, 17: -1.0}


def _attr(node_type, relation, reverse, rows):
    ids, values = zip(*rows)
    return Attribute(node_type, relation, reverse, "item", pd.DataFrame(
        {"id": np.array(ids, np.int64), "value": list(values), "weight": np.ones(len(ids), np.float32)}))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec")
    u, i, r, s = zip(*RATINGS)
    inter = pd.DataFrame({"user_id": np.array(u, np.int64), "item_id": np.array(i, np.int64),
                          "rating": np.array(r, np.float32), "order": np.arange(len(u), dtype=np.int64)})
    items = pd.DataFrame({"item_id": np.array(list(BOOKS), np.int64), "title": [b[0] for b in BOOKS.values()],
                          "authors": [b[1] for b in BOOKS.values()]})
    attributes = [_attr("author", "written_by", "wrote", [(k, b[1]) for k, b in BOOKS.items()]),
                  _attr("tag", "has_tag", "tag_of", [(k, b[2]) for k, b in BOOKS.items()]),
                  _attr("language", "in_language", "language_of", [(k, "eng") for k in BOOKS])]
    ds = Dataset(name="tiny", item_type="book", interactions=inter, items=items,
                 users=pd.DataFrame({"user_id": np.array([1, 2, 3], np.int64)}), attributes=attributes,
                 behaviours={}, sources={}, stats={})
    split = inter.copy()
    split["split"] = list(s)
    built = build_graph(ds, split)
    graph_dir = root / "graph"
    with atomic_dir(graph_dir) as tmp:
        manifest = write_graph_artifact(built, tmp, config={}, inputs={})
    item_ids = built.id_maps["book"].sort_values("node_id")["raw_id"].to_numpy()
    item_emb = torch.tensor([[SCORES[int(b)], 0.0] for b in item_ids])
    user_emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    out = root / "run"
    with atomic_dir(out) as tmp:
        torch.save({"user": user_emb, "item": item_emb}, tmp / "final_embeddings.pt")
        write_manifest(tmp, stage="finetune", config={"model": "lightgcn"}, inputs={"graph": manifest["fingerprint"]},
                       paths={"graph": str(graph_dir)})
    return out


def test_top_k_excludes_every_known_item_and_orders_by_score(run_dir):
    result = run(RecommendConfig(run=run_dir, user=1, k=3))
    # 10, 13 (train) and 12 (valid) score highest but are known; the rest by score: 11, 15, 14
    assert [r["item_id"] for r in result["items"]] == [11, 15, 14]
    assert [r["score"] for r in result["items"]] == [3.0, 2.0, 1.0]
    assert result["items"][0]["title"] == "The Silmarillion" and result["items"][0]["authors"] == "J.R.R. Tolkien"
    assert result["known_items"] == 3
    assert len(run(RecommendConfig(run=run_dir, user=1, k=50))["items"]) == 5  # only 5 unknown items exist


def test_explanations_cite_rarest_shared_value_then_co_raters(run_dir):
    items = run(RecommendConfig(run=run_dir, user=1, k=3))["items"]
    # Silmarillion shares author (2 of 8 books) and tag fantasy (3 of 8) with The Hobbit: the author is rarer
    assert items[0]["explanation"] == "same author (J.R.R. Tolkien) as The Hobbit, which you rated 5"
    assert items[0]["path"] == {"kind": "attribute", "relation": "book:written_by:author", "value": "J.R.R. Tolkien",
                                "via_item": 10, "count": 1}
    # Children of Dune shares author/tag only with Dune, which is held out (not in the graph); language 'eng'
    # is everywhere, so it explains nothing: the path goes through user 2 (rated Hobbit and it) and user 3
    # (rated Emma and it); the Hobbit, rated 5, beats Emma, rated 2
    assert items[1]["explanation"] == "1 person who rated The Hobbit (you: 5) also rated this"
    assert items[1]["path"]["kind"] == "co-rating" and items[1]["path"]["via_item"] == 10
    # Persuasion shares Jane Austen with Emma (rated 2)
    assert items[2]["explanation"] == "same author (Jane Austen) as Emma, which you rated 2"


def test_several_highly_rated_items_sharing_a_value_are_counted(run_dir):
    from hetrec.explain import explain
    from hetrec.graph.artifact import load_graph_artifact

    art = load_graph_artifact(run_dir.parent / "graph")
    user3 = int(art.id_maps["user"].set_index("raw_id").loc[3, "node_id"])
    book = art.id_maps["book"].set_index("raw_id")["node_id"]
    # user 3 rated Emma 3, Children of Dune 4, Mistborn 5: the Silmarillion shares only 'fantasy' (with Mistborn)
    (e,) = explain(art, user3, np.array([book.loc[11]]))
    assert e.text == "tagged fantasy like Mistborn, which you rated 5" and e.via_item == 17
    # once user 3 also rates The Hobbit 5, two highly rated fantasy books outweigh one shared author:
    # fantasy log(8/3) * 1 * (1 + log 2) = 1.66 > Tolkien log(8/2) * 1 * 1 = 1.39
    art.graph.add_edges(user3, int(book.loc[10]), etype=("user", "rates", "book"),
                        data={"rating": torch.tensor([5.0])})
    (e,) = explain(art, user3, np.array([book.loc[11]]))
    assert e.text == "tagged fantasy like Mistborn and 1 more book you rated highly"
    assert e.count == 2 and e.via_item == 17  # tie at 5 stars: the first rated (Mistborn, node order) is named


def test_unknown_user_is_one_line_error(run_dir):
    with pytest.raises(HetrecError, match=r"user 99999 is not in the graph \(ids range 1\.\.3"):
        run(RecommendConfig(run=run_dir, user=99999))


def test_cli_json_and_unknown_user(run_dir):
    from cli import hetrec_cli

    res = CliRunner().invoke(hetrec_cli, ["recommend", "--run", str(run_dir), "--user", "1", "-k", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["item_id"] for r in out["items"]] == [11, 15] and out["user"] == 1
    assert "The Hobbit" in out["items"][0]["explanation"]
    bad = CliRunner().invoke(hetrec_cli, ["recommend", "--run", str(run_dir), "--user", "99999"])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, HetrecError) and "user 99999 is not in the graph" in str(bad.exception)


def test_implicit_feedback_is_explained_without_ratings(run_dir):
    """Every rating an implicit 1: nothing was "rated highly" or "rated 1"; the user interacted with items."""
    from hetrec.explain import explain
    from hetrec.graph.artifact import load_graph_artifact

    art = load_graph_artifact(run_dir.parent / "graph")
    rates = art.graph.edges[("user", "rates", "book")].data
    rates["rating"] = torch.ones_like(rates["rating"])
    user1 = int(art.id_maps["user"].set_index("raw_id").loc[1, "node_id"])
    user3 = int(art.id_maps["user"].set_index("raw_id").loc[3, "node_id"])
    book = art.id_maps["book"].set_index("raw_id")["node_id"]
    (a, b) = explain(art, user1, np.array([book.loc[11], book.loc[15]]))
    assert a.text == "same author (J.R.R. Tolkien) as The Hobbit, which you interacted with"
    assert b.text == "1 person who interacted with The Hobbit also interacted with this"
    art.graph.add_edges(user3, int(book.loc[10]), etype=("user", "rates", "book"), data={"rating": torch.tensor([1.0])})
    (c,) = explain(art, user3, np.array([book.loc[11]]))
    assert "rated" not in c.text and c.text.endswith("you interacted with")
