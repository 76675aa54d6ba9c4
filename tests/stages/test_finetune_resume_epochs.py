"""`finetune --resume` accepts a raised or lowered --epochs cap (and still refuses other changed settings)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hetrec  # noqa: F401
from hetrec.errors import HetrecError
from hetrec.stages.build_graph import BuildGraphConfig
from hetrec.stages.build_graph import run as build
from hetrec.stages.finetune import FinetuneConfig, run

FAST = dict(model="mf", dim=8, batch_size=256, lr=0.05, device="cpu")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("re")
    rng = np.random.default_rng(0)
    rows = [(u, int(i), 4, t) for u in range(20) for t, i in enumerate(rng.choice(30, 8, replace=False))]
    (root / "d").mkdir()
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(root / "d" / "ratings.csv",
                                                                                     index=False)
    pd.DataFrame({"item_id": np.arange(30)}).to_csv(root / "d" / "items.csv", index=False)
    build(BuildGraphConfig(data=root / "d", out=root / "g", dataset="tables"))
    return root / "g"


def _interrupted(graph, out, epochs):
    def stop(epoch, batch):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(HetrecError, match="2 epoch"):
        run(FinetuneConfig(graph=graph, out=out, epochs=epochs, **FAST), on_batch=stop)


@pytest.mark.parametrize("first, then", [(5, 8), (5, 4), (5, 2)])
def test_resume_with_another_epoch_cap(graph, tmp_path, first, then):
    out = tmp_path / "run"
    _interrupted(graph, out, first)
    summary = run(FinetuneConfig(graph=graph, out=out, epochs=then, resume=True, **FAST))
    assert summary["resumed_from"] == 2 and summary["epochs_run"] == max(then, 2)


def test_resume_still_refuses_other_changes(graph, tmp_path):
    out = tmp_path / "run"
    _interrupted(graph, out, 5)
    with pytest.raises(HetrecError, match="other settings"):
        run(FinetuneConfig(graph=graph, out=out, epochs=5, resume=True, **{**FAST, "lr": 0.01}))
