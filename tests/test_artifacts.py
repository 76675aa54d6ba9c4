"""Nothing lost, nothing silent: --force never destroys inputs or foreign directories, one writer per output,
stale temporaries cleaned, a full disk is one line, strict JSON."""
from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import hetrec  # noqa: F401
from hetrec import artifacts
from hetrec.artifacts import atomic_dir, claim_output, clean_stale, read_manifest, write_json, write_manifest
from hetrec.errors import HetrecError
from hetrec.stages.build_graph import BuildGraphConfig
from hetrec.stages.build_graph import run as build
from hetrec.stages.finetune import CHECKPOINT, FinetuneConfig, partial_dir
from hetrec.stages.finetune import run as finetune

FAST = dict(dim=8, layers=1, batch_size=256, lr=0.05, epochs=2, device="cpu")


def tables(directory: Path, n_users: int = 20, n_items: int = 30, per_user: int = 8) -> Path:
    rng = np.random.default_rng(0)
    rows = [(u + 1, int(i) + 1, 4, 100 + t) for u in range(n_users)
            for t, i in enumerate(rng.choice(n_items, per_user, replace=False))]
    directory.mkdir(parents=True)
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(directory / "ratings.csv",
                                                                                     index=False)
    pd.DataFrame({"item_id": np.arange(1, n_items + 1)}).to_csv(directory / "items.csv", index=False)
    return directory


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("art")
    out = root / "graph"
    build(BuildGraphConfig(data=tables(root / "data"), out=out, dataset="tables"))
    return out


def test_force_never_deletes_the_inputs_of_the_same_command(tmp_path):
    data = tables(tmp_path / "d")
    before = sorted(p.name for p in data.iterdir())
    for out in (data, data / "sub" / ".."):  # the input itself, however spelled
        with pytest.raises(HetrecError, match="overlaps the input"):
            build(BuildGraphConfig(data=data, out=out, dataset="tables", force=True))
    (data / "g").mkdir()  # an out inside the input directory
    with pytest.raises(HetrecError, match="overlaps the input"):
        build(BuildGraphConfig(data=data, out=data / "g", dataset="tables", force=True))
    assert sorted(p.name for p in data.iterdir()) == sorted(before + ["g"])


def test_finetune_force_refuses_to_replace_its_graph(graph, tmp_path):
    manifest = (graph / "manifest.json").read_text()
    with pytest.raises(HetrecError, match="overlaps the input"):
        finetune(FinetuneConfig(graph=graph, out=graph, force=True, **FAST))
    assert (graph / "manifest.json").read_text() == manifest and (graph / "graph.bin").is_file()


def test_force_replaces_only_an_artifact_of_the_same_stage(graph, tmp_path):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(HetrecError, match="not a hetrec artifact"):
        finetune(FinetuneConfig(graph=graph, out=foreign, force=True, **FAST))
    assert (foreign / "holiday.jpg").is_file()
    with pytest.raises(HetrecError, match="'build_graph' artifact, not a 'finetune'"):  # another stage's output
        finetune(FinetuneConfig(graph=graph, out=_copy_graph(graph, tmp_path / "g2"), force=True, **FAST))
    run = tmp_path / "run"
    finetune(FinetuneConfig(graph=graph, out=run, **FAST))
    finetune(FinetuneConfig(graph=graph, out=run, force=True, **{**FAST, "epochs": 1}))  # same stage: replaced
    assert read_manifest(run)["config"]["epochs"] == 1


def _copy_graph(graph: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(graph, dest)
    return dest


HOLD = """
import sys, time
sys.path.insert(0, {root!r})
import hetrec
from hetrec.artifacts import claim_output
with claim_output({out!r}, stage="finetune", force=False):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_of_the_same_out_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(root=root, out=str(out))], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(HetrecError, match=rf"being written by another hetrec process \(pid {proc.pid}\)"):
            with claim_output(out, stage="finetune", force=False):
                pass
    finally:
        proc.kill()
        proc.wait()
    with claim_output(out, stage="finetune", force=False):  # the holder died: its lock went with it
        assert not out.exists()
    assert not (tmp_path / ".run.lock").exists()


def test_stale_temporaries_of_dead_processes_are_removed_on_the_next_run(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".g.tmp-{dead.pid}-abcd1234"
    stale.mkdir()
    (stale / "graph.bin").write_bytes(b"x" * 100)
    stale_old = tmp_path / f".g.old-{dead.pid}"
    stale_old.mkdir()
    live = tmp_path / f".g.tmp-{os.getpid()}-zz"  # ours (alive): kept
    live.mkdir()
    other = tmp_path / f".h.tmp-{dead.pid}-x"  # another output's: not ours to judge here
    other.mkdir()
    with atomic_dir(tmp_path / "g", stage="synth") as tmp:
        write_manifest(tmp, stage="synth", config={}, inputs={})
    assert not stale.exists() and not stale_old.exists() and live.exists() and other.exists()
    assert clean_stale(tmp_path / "h") == [other]


def _enospc(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_in_build_graph_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import dgl
    from dgl import DGLError

    def full(*a, **k):
        raise DGLError("[12:00:00] /opt/dgl/src/runtime/file_util.cc: Check failed: No space left on device")

    monkeypatch.setattr(dgl, "save_graphs", full)
    data = tables(tmp_path / "d")
    with pytest.raises(HetrecError, match=r"g: no space left on device") as e:
        build(BuildGraphConfig(data=data, out=tmp_path / "g", dataset="tables"))
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_disk_full_in_synth_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    from hetrec.data import synth
    from hetrec.stages.synth import SynthStageConfig
    from hetrec.stages.synth import run as run_synth

    monkeypatch.setattr(pd.DataFrame, "to_csv", _enospc)
    with pytest.raises(HetrecError, match="s: no space left on device"):
        run_synth(SynthStageConfig(out=str(tmp_path / "s"), synth=synth.SynthConfig(users=20, books=10, ratings=100,
                                                                                     tags=5)))
    assert list(tmp_path.iterdir()) == []


def test_disk_full_during_a_finetune_checkpoint_keeps_the_last_good_one(graph, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save = torch.save
    calls = []

    def save(obj, f, *a, **k):
        calls.append(f)
        if len(calls) == 2:  # the second epoch's checkpoint: the disk fills half way
            Path(f).write_bytes(b"half")
            _enospc()
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(HetrecError, match="no space left on device") as e:
        finetune(FinetuneConfig(graph=graph, out=out, **{**FAST, "epochs": 3}))
    assert "\n" not in str(e.value) and "--resume" in str(e.value)
    partial = partial_dir(out)
    assert sorted(p.name for p in partial.iterdir()) == [CHECKPOINT]  # no .checkpoint.pt.tmp-* left
    assert torch.load(partial / CHECKPOINT, weights_only=True)["loop"]["epoch"] == 1
    monkeypatch.setattr(torch, "save", real_save)
    summary = finetune(FinetuneConfig(graph=graph, out=out, resume=True, **{**FAST, "epochs": 3}))
    assert summary["resumed_from"] == 1 and summary["epochs_run"] == 3


def test_json_is_strict_nan_becomes_null(tmp_path):
    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": torch.tensor(0.5),
                                     "d": np.float32("nan")})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 0.5, "d": None}
    manifest = write_manifest(tmp_path, stage="x", config={"lr": math.nan}, inputs={}, metrics={"sparse/hit@10": math.nan})
    on_disk = (tmp_path / "manifest.json").read_text()
    assert "NaN" not in on_disk and json.loads(on_disk)["metrics"]["sparse/hit@10"] is None
    assert manifest["metrics"]["sparse/hit@10"] is None


def test_finetune_metrics_json_has_null_for_an_empty_slice(graph, tmp_path):
    out = tmp_path / "run"
    finetune(FinetuneConfig(graph=graph, out=out, **FAST))
    text = (out / "metrics.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    json.loads((out / "manifest.json").read_text(), parse_constant=lambda c: pytest.fail(c))
