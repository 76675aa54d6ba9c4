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
