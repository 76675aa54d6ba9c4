"""Synthetic Goodbooks: deterministic bytes, loadable, and side information that predicts co-rating."""
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from hetrec.artifacts import read_manifest
from hetrec.data.goodbooks import load_goodbooks
from hetrec.data.synth import SynthConfig
from hetrec.stages.synth import SynthStageConfig, run

from shared_data import SHARED_DATA, require_shared

GB = SHARED_DATA / "goodbooks-10k"
FILES = ("ratings.csv", "books.csv", "book_tags.csv", "tags.csv", "to_read.csv")
SMALL = dict(users=1500, books=300, ratings=45_000, tags=400)


def make(out: Path, **kw) -> Path:
    run(SynthStageConfig(out=str(out), synth=SynthConfig(**{**SMALL, **kw})))
    return out


def test_deterministic_per_seed(tmp_path):
    a, b, c = make(tmp_path / "a"), make(tmp_path / "b"), make(tmp_path / "c", seed=1)
    for f in FILES:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "ratings.csv").read_bytes() != (c / "ratings.csv").read_bytes()
    assert read_manifest(a, stage="synth")["counts"]["ratings"] == sum(1 for _ in open(a / "ratings.csv")) - 1


def test_loads_and_side_info_predicts_corating(tmp_path):
    d = load_goodbooks(make(tmp_path / "s"), top_tags=20)
    n_users, n_books = 1500, 300
    assert len(d.items) == n_books and d.users["user_id"].max() <= n_users
    assert abs(len(d.interactions) - SMALL["ratings"]) < 0.05 * SMALL["ratings"]
    assert d.stats["duplicates_dropped"] == 0 and set(d.interactions["rating"].unique()) == {1, 2, 3, 4, 5}
    # to_read never repeats a rated pair
    rated = set(zip(d.interactions["user_id"], d.interactions["item_id"]))
    assert not rated & set(zip(d.behaviours["to_read"]["user_id"], d.behaviours["to_read"]["item_id"]))
    # item-item cosine of co-rating vectors: same-author pairs vs all pairs
    X = sp.csr_matrix((np.ones(len(d.interactions)), (d.interactions["item_id"] - 1, d.interactions["user_id"] - 1)),
                      shape=(n_books, n_users + 1))
    X = sp.diags(1 / np.sqrt(X.multiply(X).sum(1).A1)) @ X
    cos = (X @ X.T).toarray()
    off = ~np.eye(n_books, dtype=bool)

    def pair_mean(attr: str) -> float:
        t = next(a for a in d.attributes if a.node_type == attr).table
        A = sp.csr_matrix((np.ones(len(t)), (t["id"] - 1, t["value"].astype("category").cat.codes)))
        same = (A @ A.T).toarray() > 0
        return cos[same & off].mean()

    base = cos[off].mean()
    assert pair_mean("author") > 1.3 * base
    # tags: idf-weighted tag-profile similarity correlates with co-rating similarity
    t = next(a for a in d.attributes if a.node_type == "tag").table
    T = sp.csr_matrix((np.ones(len(t)), (t["id"] - 1, t["value"].astype("category").cat.codes))).toarray()
    T = T * np.log(n_books / np.maximum(T.sum(0), 1))
    T /= np.maximum(np.linalg.norm(T, axis=1, keepdims=True), 1e-12)
    r = np.corrcoef((T @ T.T)[off], cos[off])[0, 1]
    assert r > 0.2, (r, pair_mean("author") / base)


def test_real_catalogue(tmp_path):
    require_shared("goodbooks-10k", "books.csv")
    out = make(tmp_path / "r", books=200, books_csv=str(GB / "books.csv"))
    d = load_goodbooks(out)
    assert d.items["title"].iloc[0] == "The Hunger Games (The Hunger Games, #1)"
    counts = d.interactions["item_id"].value_counts()
    assert counts.index[0] <= 10  # popularity follows the real ratings_count (book_id order)


def test_cli(tmp_path):
    from cli import hetrec_cli

    args = ["synth", "--out", str(tmp_path / "o"), "--users", "50", "--books", "20", "--ratings", "500",
            "--tags", "30"]
    r = CliRunner().invoke(hetrec_cli, args)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted([*FILES, "manifest.json"])
    assert CliRunner().invoke(hetrec_cli, args).exit_code != 0  # exists, no --force
    assert CliRunner().invoke(hetrec_cli, [*args, "--force"]).exit_code == 0
