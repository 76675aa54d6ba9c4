"""The real stage kinds a pipeline file may use, how the pipeline drives each, and the end-of-run summary.

Each entry says which dataclass a TOML table maps onto, which of its fields name upstream
stages (``refs``) or files (``paths``), and how to call the stage's ``run``. A reference
``"none"`` means no input (``init = "none"``: random initialisation).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from hetrec.artifacts import atomic_dir, read_manifest, write_json, write_manifest
from hetrec.errors import HetrecError
from hetrec.pipeline.spec import Kind

RESULTS = "results.json"  # rows written by the pipeline's evaluate stage


def _none(values: dict, *keys: str) -> dict:
    return {k: (None if k in keys and v == "none" else v) for k, v in values.items()}


# synth: the TOML table maps onto hetrec.data.synth.SynthConfig
def _synth_config():
    from hetrec.data.synth import SynthConfig

    return SynthConfig


def _synth_build(values: dict, out: Path, device: str):
    from hetrec.data.synth import SynthConfig
    from hetrec.stages.synth import SynthStageConfig

    return SynthStageConfig(out=str(out), synth=SynthConfig(**values), force=True)


def _synth_run(cfg, log):
    from hetrec.stages import synth

    log(f"  synthesising {cfg.synth.users:,} users x {cfg.synth.books:,} books ...")
    return synth.run(cfg)


# build_graph
def _build_graph_config():
    from hetrec.stages.build_graph import BuildGraphConfig

    return BuildGraphConfig


def _build_graph_run(cfg, log):
    from hetrec.stages import build_graph

    return build_graph.run(cfg, log=log)


# pretrain: the TOML table is PretrainConfig's fields plus `graph` (the build_graph stage it reads)
def _pretrain_config():
    from hetrec.pretrain.config import PretrainConfig

    return dataclasses.make_dataclass("PretrainTable", [("graph", str)] + [
        (f.name, f.type, dataclasses.field(default=f.default)) for f in dataclasses.fields(PretrainConfig)])


def _pretrain_build(values: dict, out: Path, device: str):
    from hetrec.pretrain.config import PretrainConfig
    from hetrec.stages.pretrain import PretrainStageConfig

    method = PretrainConfig(**{k: v for k, v in values.items() if k != "graph"})
    return PretrainStageConfig(graph=Path(values["graph"]), out=out, pretrain=method, device=device, force=True)


def _pretrain_run(cfg, log):
    from hetrec.stages import pretrain

    return pretrain.run(cfg, log=log)


# finetune
def _finetune_config():
    from hetrec.stages.finetune import FinetuneConfig

    return FinetuneConfig


def _finetune_build(values: dict, out: Path, device: str):
    from hetrec.stages.finetune import FinetuneConfig

    return FinetuneConfig(**_none(values, "init"), out=out, device=device, force=True)


def _finetune_run(cfg, log):
    from hetrec.stages import finetune

    return finetune.run(_resumable(cfg, log), log=log, progress=_epoch_lines(log))


def _epoch_lines(log):
    """A ``progress`` factory that logs one line per epoch (the pipeline's log is the CLI's message line)."""
    import contextlib

    @contextlib.contextmanager
    def progress(description: str, total: int | None = None):
        done = 0

        def advance(n: int = 1, info: str = "") -> None:
            nonlocal done
            done += n
            log(f"  {description} {done}/{total}" + (f"  {info}" if info else ""))

        yield advance

    return progress


def _resumable(cfg, log):
    """``cfg`` with ``resume=True`` when a killed earlier run of this very stage left a compatible
    ``.NAME.partial`` checkpoint (same settings but the epoch cap, same graph and init), as
    ``finetune --resume`` would; an incompatible one is discarded (``force``) and training starts over."""
    from hetrec.stages.finetune import CHECKPOINT, partial_dir
    from hetrec.trainer.checkpoint import load_checkpoint

    path = partial_dir(cfg.out) / CHECKPOINT
    if not path.is_file():
        return cfg
    try:
        saved = load_checkpoint(path)
        graph = read_manifest(cfg.graph).get("fingerprint")
        init = read_manifest(cfg.init).get("fingerprint") if cfg.init else None
    except HetrecError:
        saved, graph, init = {}, None, None
    same = ({k: v for k, v in (saved.get("config") or {}).items() if k != "epochs"} == cfg.resume_key()
            and saved.get("graph") == graph and saved.get("init") == init)
    if not same:
        log(f"  discarding {path.parent}: it was started with other settings, graph or init")
        return cfg
    log(f"  resuming the interrupted run kept in {path.parent}")
    return dataclasses.replace(cfg, resume=True)


# evaluate: the stage itself writes metrics beside each run; the pipeline keeps the table in <out>/evaluate
def _evaluate_config():
    from hetrec.stages.evaluate import EvaluateConfig

    return EvaluateConfig


def _evaluate_build(values: dict, out: Path, device: str):
    from hetrec.stages.evaluate import EvaluateConfig

    return EvaluateConfig(**_none(values, "graph"), device=device), out


def _evaluate_run(built, log):
    from hetrec.stages import evaluate

    cfg, out = built
    start = time.perf_counter()
    rows = evaluate.run(cfg)
    rows = [{**{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()},  # NaN -> null
             "run": Path(row["run"]).name} for row in rows]
    with atomic_dir(out, force=True, stage="evaluate", inputs=cfg.runs) as tmp:
        write_json(tmp / RESULTS, rows)
        config = {k: (list(map(str, v)) if isinstance(v, (list, tuple)) else v)
                  for k, v in dataclasses.asdict(cfg).items() if k != "device"}
        write_manifest(tmp, stage="evaluate", config=config,
                       inputs={Path(r).name: read_manifest(r).get("fingerprint") for r in cfg.runs},
                       metrics={r["run"]: {k: v for k, v in r.items() if "@" in k} for r in rows},
                       wall_s=round(time.perf_counter() - start, 3))
    return rows


KINDS: dict[str, Kind] = {
    "synth": Kind(config=_synth_config, run=_synth_run, build=_synth_build, paths=("books_csv",)),
    "build_graph": Kind(config=_build_graph_config, run=_build_graph_run, refs=("data",), paths=("data",)),
    "pretrain": Kind(config=_pretrain_config, run=_pretrain_run, build=_pretrain_build, refs=("graph",)),
    "finetune": Kind(config=_finetune_config, run=_finetune_run, build=_finetune_build, refs=("graph", "init"),
                     managed=("out", "force", "device", "resume")),
    "evaluate": Kind(config=_evaluate_config, run=_evaluate_run, build=_evaluate_build, refs=("runs", "graph"),
                     managed=("device",)),
}
