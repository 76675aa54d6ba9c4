"""Pipelines with the real stage kinds: the bundled pipeline files, the demo end to end, the synth stage, shared
stage tables, errors before any stage runs, and resuming a killed run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hetrec.errors import HetrecError
from hetrec.pipeline import load_pipeline, run_pipeline


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
REAL = f"""
[pipeline]
name = "mini"
dataset = "goodbooks"
data = "{DEMO}"
seed = 0

[build_graph]
top_tags = 5

[finetune.mf]
graph = "build_graph"
model = "mf"
init = "none"
dim = 8
epochs = 2
batch_size = 8192
lr = 0.01

[finetune.popular]
graph = "build_graph"
model = "popular"

[evaluate]
runs = "finetune"
ks = [10]
"""


def test_real_stages_run_skip_and_summarise(tmp_path):
    from click.testing import CliRunner

    from cli import hetrec_cli
    from hetrec.pipeline import comparison_rows

    p = write(tmp_path, REAL)
    out = tmp_path / "out"
    res = CliRunner().invoke(hetrec_cli, ["run", str(p), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    rows = comparison_rows(load_pipeline(p, out=str(out)))
    assert [r["method"] for r in rows] == ["mf", "popular"]
    results = json.loads((out / "evaluate" / "results.json").read_text())
    metrics = json.loads((out / "finetune.popular" / "metrics.json").read_text())
    assert rows[1]["ndcg@10"] == results[1]["ndcg@10"] == pytest.approx(metrics["test"]["ndcg@10"])
    assert 0 < rows[1]["hit@10"] <= 1
    assert "popular" in res.stdout and f"{rows[1]['ndcg@10']:.4f}" in res.stdout  # the comparison table
    assert all((out / f).stat().st_size > 10_000 for f in ("training_curves.png", "test_metrics.png"))

    res = CliRunner().invoke(hetrec_cli, ["run", str(p), "--out", str(out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    skipped = [line for line in res.output.splitlines() if line.startswith("skip ")]
    assert skipped == [f"skip {n}: unchanged" for n in ("build_graph", "finetune.mf", "finetune.popular", "evaluate")]
    # a build-graph setting changes the graph, so everything reruns
    p.write_text(REAL.replace("top_tags = 5", "top_tags = 6"))
    said: list[str] = []
    run_pipeline(load_pipeline(p, out=str(out)), device="cpu", log=said.append)
    assert not [m for m in said if m.startswith("skip")]


def test_bundled_pipelines_parse():
    root = Path(__file__).resolve().parents[1] / "pipelines"
    for name in ("demo", "ml-100k", "goodbooks-synthetic"):
        pipe = load_pipeline(root / f"{name}.toml")
        assert pipe.stages[0].kind in ("build_graph", "synth") and pipe.stages[-1].name == "evaluate"
    with pytest.raises(HetrecError, match="pass --data"):
        load_pipeline(root / "goodbooks.toml")
    assert load_pipeline(root / "goodbooks.toml", data="/somewhere").data == Path("/somewhere")


@pytest.mark.slow
def test_demo_pipeline_end_to_end(tmp_path):
    """The README's first command: every stage of pipelines/demo.toml, then recommend from its best run."""
    from hetrec.pipeline import comparison_rows
    from hetrec.stages.recommend import RecommendConfig, run

    root = Path(__file__).resolve().parents[1]
    pipe = load_pipeline(root / "pipelines" / "demo.toml", out=str(tmp_path / "demo"))
    run_pipeline(pipe, device="cpu")
    rows = {r["method"]: r for r in comparison_rows(pipe)}
    assert set(rows) == {n.removeprefix("finetune.") for n in pipe.names("finetune")}
    # trained models beat most-popular by a wide margin on this planted-structure data
    assert min(rows[m]["ndcg@10"] for m in rows if m != "popular") > 2 * rows["popular"]["ndcg@10"]
    rec = run(RecommendConfig(run=pipe.stage_dir("finetune.lightgcn_ramgnn"), user=7, k=5))
    assert len(rec["items"]) == 5 and all(r["explanation"] for r in rec["items"])


def test_cli_rejects_unknown_key_in_a_real_table_before_writing(tmp_path):
    from click.testing import CliRunner

    from cli import hetrec_cli

    p = write(tmp_path, REAL.replace("epochs = 2", "epoch = 2"))
    res = CliRunner().invoke(hetrec_cli, ["run", str(p), "--out", str(tmp_path / "out")])
    assert res.exit_code != 0 and isinstance(res.exception, HetrecError)
    msg = str(res.exception)
    assert str(p) in msg and "[finetune.mf]" in msg and "'epoch'" in msg and "epochs" in msg
    assert not (tmp_path / "out").exists()


def test_synth_stage_feeds_build_graph_and_input_files_are_tracked(tmp_path):
    import shutil

    (tmp_path / "cat").mkdir()
    shutil.copy(DEMO / "books.csv", tmp_path / "cat" / "books.csv")
    text = """
[pipeline]
name = "syn"
dataset = "goodbooks"

[synth]
users = 60
books = 40
ratings = 900
tags = 30
tags_per_book = 5
books_csv = "cat/books.csv"      # relative to the pipeline file

[build_graph]
data = "synth"

[finetune.popular]
graph = "build_graph"
model = "popular"
"""
    p = write(tmp_path, text)
    out = str(tmp_path / "out")
    pipe = load_pipeline(p, out=out)
    assert [s.name for s in pipe.stages] == ["synth", "build_graph", "finetune.popular"]
    run_pipeline(pipe, device="cpu")
    books = (Path(out) / "synth" / "books.csv").read_text().splitlines()
    assert len(books) == 41 and "Hunger Games" in books[1]  # the real catalogue's first book, via the relative path
    said: list[str] = []
    run_pipeline(load_pipeline(p, out=out), device="cpu", log=said.append)
    assert sum(m.startswith("skip") for m in said) == 3
    # editing the catalogue file (new size) reruns synth and everything after it
    with open(tmp_path / "cat" / "books.csv", "a") as f:
        f.write("\n")
    said.clear()
    run_pipeline(load_pipeline(p, out=out), device="cpu", log=said.append)
    assert not [m for m in said if m.startswith("skip")]


def test_plain_keys_of_a_kind_table_are_shared_by_its_named_tables(tmp_path):
    from hetrec.pipeline import load_pipeline

    path = tmp_path / "p.toml"
    path.write_text('[pipeline]\nname = "p"\ndataset = "goodbooks"\ndata = "."\n[build_graph]\n'
                    '[finetune]\ngraph = "build_graph"\ndim = 16\nlr = 0.01\n'
                    '[finetune.a]\ninit = "none"\n[finetune.b]\ninit = "none"\ndim = 8\n')
    stages = {s.name: s.values for s in load_pipeline(path).stages}
    assert stages["finetune.a"]["dim"] == 16 and stages["finetune.a"]["lr"] == 0.01
    assert stages["finetune.b"]["dim"] == 8 and stages["finetune.b"]["lr"] == 0.01
    assert "finetune" not in stages


# --- checked before anything runs; nothing escapes the pipeline's out; a killed run resumes ------------------

@pytest.mark.parametrize("edit, needle", [
    (("seed = 0", 'seed = "zero"'), "table [pipeline], key 'seed': expected int, got 'zero'"),
    (("seed = 0", "seed = -1"), "table [pipeline], key 'seed': must be >= 0"),
    (("seed = 0", "seed = true"), "key 'seed': expected int"),
    (("top_tags = 5", 'top_tags = "five"'), "table [build_graph], key 'top_tags': expected int"),
    (("lr = 0.01", "lr = nan"), "table [finetune.mf], key 'lr': expected a finite number"),
    (("lr = 0.01", "lr = true"), "table [finetune.mf], key 'lr': expected float"),
    (("[finetune.mf]", '[finetune."../../escape"]'), "a stage name may hold only letters"),
    (("[finetune.mf]", '[finetune."a b"]'), "a stage name may hold only letters"),
    (('seed = 0', 'seed = 0\nout = "../elsewhere"'), "key 'out': '../elsewhere' climbs out"),
])
def test_pipeline_errors_before_any_stage_runs_and_name_the_table(tmp_path, edit, needle):
    from click.testing import CliRunner

    from cli import hetrec_cli

    p = write(tmp_path, REAL.replace(*edit))
    out = tmp_path / "out"
    res = CliRunner().invoke(hetrec_cli, ["run", str(p), "--out", str(out), "--device", "cpu"])
    assert isinstance(res.exception, HetrecError) and needle in str(res.exception), res.exception
    assert not out.exists() and not (tmp_path.parent / "escape").exists()


def test_the_error_line_keeps_the_table_name(tmp_path, capsys):
    """rich used to read '[build_graph]' in a message as markup and print 'table , key ...'."""
    from cli import main

    p = write(tmp_path, REAL.replace("top_tags = 5", 'colour = "red"'))
    with pytest.raises(SystemExit):
        main(["run", str(p), "--out", str(tmp_path / "out")])
    assert "table [build_graph], key 'colour': unknown" in capsys.readouterr().err


def test_a_killed_run_resumes_the_interrupted_finetune(tmp_path):
    from hetrec.artifacts import write_json
    from hetrec.pipeline import KINDS, resolve, sidecar
    from hetrec.pipeline.run import _manifest_id
    from hetrec.stages import finetune
    from hetrec.stages.finetune import partial_dir

    p = write(tmp_path, REAL.replace("epochs = 2", "epochs = 3"))
    pipe = load_pipeline(p, out=str(tmp_path / "out"))
    [build] = [s for s in pipe.stages if s.name == "build_graph"]
    cfg, _ = resolve(pipe, build, KINDS, "cpu")
    KINDS["build_graph"].run(cfg, lambda m: None)  # as the killed run did, sidecar included
    _, record = resolve(pipe, build, KINDS, "cpu")
    write_json(sidecar(pipe, "build_graph"), {**record, "artifact": _manifest_id(pipe.stage_dir("build_graph")),
                                              "made": 1})
    [mf] = [s for s in pipe.stages if s.name == "finetune.mf"]
    cfg, _ = resolve(pipe, mf, KINDS, "cpu")

    def kill(epoch, batch):  # the process dies in epoch 3, after epochs 1-2 were checkpointed
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(HetrecError, match="2 epoch"):
        finetune.run(cfg, on_batch=kill)
    said: list[str] = []
    outcomes = run_pipeline(pipe, device="cpu", log=said.append)
    mf_result = next(o.result for o in outcomes if o.name == "finetune.mf")
    assert any("resuming the interrupted run" in m for m in said), said
    assert mf_result["resumed_from"] == 2 and mf_result["epochs_run"] == 3
    assert not partial_dir(pipe.stage_dir("finetune.mf")).exists()


def test_pipeline_package_parts_depend_one_way():
    """spec <- kinds <- load <- run <- summary: each part imports only parts before it (no import circle)."""
    import ast

    order = ["spec", "kinds", "load", "run", "summary"]
    root = Path(__file__).resolve().parents[1] / "hetrec" / "pipeline"
    for i, part in enumerate(order):
        tree = ast.parse((root / f"{part}.py").read_text())
        used = {n.module.split(".")[2] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                and n.module.startswith("hetrec.pipeline.")}
        assert "hetrec.pipeline" not in {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert used <= set(order[:i]), (part, used)
