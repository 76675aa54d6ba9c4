"""Pipeline files: parsing errors, stage order, skipping unchanged stages, --force, with fast fake stages."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from hetrec.artifacts import atomic_dir, write_manifest
from hetrec.errors import HetrecError
from hetrec.pipeline import Kind, load_pipeline, run_pipeline

CALLS: list[str] = []


@dataclass
class SourceConfig:
    out: Path
    n: int = 3  # how many numbers
    seed: int = 0
    force: bool = False


@dataclass
class ScaleConfig:
    source: str  # upstream directory
    out: Path
    factor: float = 2.0
    force: bool = False


@dataclass
class CollectConfig:
    runs: list  # upstream directories
    out: Path
    force: bool = False


def _write(out: Path, stage: str, config: dict, values: list[float]) -> None:
    with atomic_dir(out, force=True) as tmp:
        (tmp / "values.json").write_text(json.dumps(values))
        write_manifest(tmp, stage=stage, config=config, inputs={})


def run_source(cfg: SourceConfig, log) -> None:
    CALLS.append(cfg.out.name)
    _write(cfg.out, "source", {"n": cfg.n, "seed": cfg.seed}, [float(i + cfg.seed) for i in range(cfg.n)])


def run_scale(cfg: ScaleConfig, log) -> None:
    CALLS.append(cfg.out.name)
    values = json.loads((Path(cfg.source) / "values.json").read_text())
    _write(cfg.out, "scale", {"factor": cfg.factor}, [v * cfg.factor for v in values])


def run_collect(cfg: CollectConfig, log) -> None:
    CALLS.append(cfg.out.name)
    total = [sum(json.loads((Path(r) / "values.json").read_text())) for r in cfg.runs]
    _write(cfg.out, "collect", {}, total)


FAKE = {
    "source": Kind(config=lambda: SourceConfig, run=run_source),
    "scale": Kind(config=lambda: ScaleConfig, run=run_scale, refs=("source",)),
    "collect": Kind(config=lambda: CollectConfig, run=run_collect, refs=("runs",)),
}

GOOD = """
# a comment
[pipeline]
name = "fake"
seed = 7

[collect]
runs = "scale"

[source]
n = 4

[scale.double]
source = "source"

[scale.triple]
source = "source"
factor = 3
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


def test_order_follows_references_then_file_order(tmp_path):
    pipe = load_pipeline(write(tmp_path, GOOD), kinds=FAKE, out=str(tmp_path / "out"))
    assert [s.name for s in pipe.stages] == ["source", "scale.double", "scale.triple", "collect"]
    assert pipe.out == (tmp_path / "out").resolve()
    assert [s.deps for s in pipe.stages][-1] == ["scale.double", "scale.triple"]


def test_unknown_key_names_file_table_and_key(tmp_path):
    p = write(tmp_path, GOOD.replace("factor = 3", "factr = 3"))
    with pytest.raises(HetrecError) as e:
        load_pipeline(p, kinds=FAKE)
    msg = str(e.value)
    assert str(p) in msg and "[scale.triple]" in msg and "'factr'" in msg and "factor" in msg


@pytest.mark.parametrize("edit, needle", [
    (('source = "source"\nfactor = 3', 'source = "nosuch"'), "no stage named 'nosuch'"),
    (("[source]", "[sauce]"), "unknown table [sauce]"),
    (("n = 4", "n = 4\nout = 'x'"), "key 'out': set by the pipeline"),
    (("n = 4", 'n = "four"'), "key 'n': expected int"),
    (("n = 4", "n = true"), "key 'n': expected int"),
    (('name = "fake"', 'name = "fake"\ncolour = 1'), "table [pipeline], key 'colour'"),
    (('runs = "scale"', 'runs = "collect"'), "cannot read its own output"),
])
def test_malformed_pipelines_raise_one_line(tmp_path, edit, needle):
    p = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(HetrecError) as e:
        load_pipeline(p, kinds=FAKE)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_cycle_is_rejected(tmp_path):
    text = '[pipeline]\nname="c"\n[scale.a]\nsource="scale.b"\n[scale.b]\nsource="scale.a"\n'
    with pytest.raises(HetrecError, match="cycle"):
        load_pipeline(write(tmp_path, text), kinds=FAKE)


def test_runs_and_values_flow_through_references(tmp_path):
    pipe = load_pipeline(write(tmp_path, GOOD), kinds=FAKE, out=str(tmp_path / "out"))
    run_pipeline(pipe, kinds=FAKE)
    # pipeline seed 7 reaches the source: values 7..10, doubled sum 68, tripled 102
    total = json.loads((pipe.out / "collect" / "values.json").read_text())
    assert total == [2 * (7 + 8 + 9 + 10), 3 * (7 + 8 + 9 + 10)]
    assert CALLS == ["source", "scale.double", "scale.triple", "collect"]


def test_unchanged_stages_are_skipped_and_changes_propagate(tmp_path):
    p = write(tmp_path, GOOD)
    out = str(tmp_path / "out")
    run_pipeline(load_pipeline(p, kinds=FAKE, out=out), kinds=FAKE)
    CALLS.clear()
    said: list[str] = []
    run_pipeline(load_pipeline(p, kinds=FAKE, out=out), kinds=FAKE, log=said.append)
    assert CALLS == []
    assert "skip scale.triple: unchanged" in said and sum(m.startswith("skip ") for m in said) == 4

    # a setting of one branch reruns that branch and its readers, not its sibling or its source
    p.write_text(GOOD.replace("factor = 3", "factor = 5"))
    run_pipeline(load_pipeline(p, kinds=FAKE, out=out), kinds=FAKE)
    assert CALLS == ["scale.triple", "collect"]
    assert json.loads((Path(out) / "collect" / "values.json").read_text())[1] == 5 * 34


def test_force_reruns_the_stage_and_everything_downstream(tmp_path):
    p = write(tmp_path, GOOD)
    out = str(tmp_path / "out")
    run_pipeline(load_pipeline(p, kinds=FAKE, out=out), kinds=FAKE)
    CALLS.clear()
    run_pipeline(load_pipeline(p, kinds=FAKE, out=out), kinds=FAKE, force=["scale.double"])
    assert CALLS == ["scale.double", "collect"]
    CALLS.clear()
    run_pipeline(load_pipeline(p, kinds=FAKE, out=out), kinds=FAKE, force=["scale"])  # a kind: all of it
    assert CALLS == ["scale.double", "scale.triple", "collect"]
    with pytest.raises(HetrecError, match="--force nope: no such stage"):
        run_pipeline(load_pipeline(p, kinds=FAKE, out=out), kinds=FAKE, force=["nope"])


def test_a_replaced_or_broken_directory_is_not_trusted(tmp_path):
    p = write(tmp_path, GOOD)
    out = Path(tmp_path / "out")
    run_pipeline(load_pipeline(p, kinds=FAKE, out=str(out)), kinds=FAKE)
    CALLS.clear()
    (out / "scale.triple" / "manifest.json").unlink()  # e.g. a half-deleted directory
    run_pipeline(load_pipeline(p, kinds=FAKE, out=str(out)), kinds=FAKE)
    assert CALLS == ["scale.triple", "collect"]


def test_a_failing_stage_leaves_no_done_mark(tmp_path):
    p = write(tmp_path, GOOD)
    out = tmp_path / "out"
    run_pipeline(load_pipeline(p, kinds=FAKE, out=str(out)), kinds=FAKE)

    def boom(cfg, log):
        raise HetrecError("boom")

    broken = {**FAKE, "collect": Kind(config=lambda: CollectConfig, run=boom, refs=("runs",))}
    with pytest.raises(HetrecError, match="boom"):
        run_pipeline(load_pipeline(p, kinds=broken, out=str(out)), kinds=broken, force=["collect"])
    assert not (out / "collect.pipeline.json").exists()
    CALLS.clear()
    run_pipeline(load_pipeline(p, kinds=FAKE, out=str(out)), kinds=FAKE)
    assert CALLS == ["collect"]


# --- the real stages on the bundled demo data -------------------------------------------------------------

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
