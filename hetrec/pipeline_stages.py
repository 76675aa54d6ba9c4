"""The real stage kinds a pipeline file may use, and how the pipeline drives each one.

Each entry says which dataclass a TOML table maps onto, which of its fields name upstream
stages (``refs``) or files (``paths``), and how to call the stage's ``run``.
"""
from __future__ import annotations

from pathlib import Path

from hetrec.pipeline import Kind


def _synth_config():
    from hetrec.data.synth import SynthConfig

    return SynthConfig


def _synth_build(values: dict, out: Path, device: str):
    from hetrec.data.synth import SynthConfig
    from hetrec.stages.synth import SynthStageConfig

    return SynthStageConfig(out=str(out), synth=SynthConfig(**values), force=True)


def _synth_run(cfg, log):
    from hetrec.stages import synth

    return synth.run(cfg)


def _build_graph_config():
    from hetrec.stages.build_graph import BuildGraphConfig

    return BuildGraphConfig


def _build_graph_run(cfg, log):
    from hetrec.stages import build_graph

    return build_graph.run(cfg, log=log)


KINDS: dict[str, Kind] = {
    "synth": Kind(config=_synth_config, run=_synth_run, build=_synth_build, paths=("books_csv",)),
    "build_graph": Kind(config=_build_graph_config, run=_build_graph_run, refs=("data",), paths=("data",)),
}
