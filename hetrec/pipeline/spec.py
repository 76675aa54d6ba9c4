"""What a pipeline is: its stages and how each stage kind is driven. Imports nothing else of the package."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

Log = Callable[[str], None]


@dataclass(frozen=True)
class Kind:
    """How the pipeline drives one stage kind.

    ``config`` returns the dataclass a TOML table maps onto (imported lazily, so a pipeline
    that lacks a kind never imports it); ``build(values, out, device)`` turns the checked table
    (references resolved to directories) into what ``run(cfg, log)`` takes.
    """

    config: Callable[[], type]
    run: Callable[[Any, Log], Any]
    build: Callable[[dict, Path, str], Any] | None = None  # default: config(**values, out=, force=True[, device=])
    refs: tuple[str, ...] = ()  # fields whose values name upstream stages (str, or list for many)
    paths: tuple[str, ...] = ()  # fields holding file/directory paths, resolved against the TOML's directory
    managed: tuple[str, ...] = ("out", "force", "device")  # set by the pipeline, never by the TOML


@dataclass
class Stage:
    name: str  # "build_graph", "pretrain.ramgnn"
    kind: str  # "build_graph", "pretrain"
    values: dict  # the table's keys, references still as stage names
    deps: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    path: Path
    name: str
    dataset: str | None
    data: Path | None
    out: Path
    seed: int | None
    stages: list[Stage]

    def stage_dir(self, name: str) -> Path:
        return self.out / name

    def names(self, kind: str) -> list[str]:
        return [s.name for s in self.stages if s.kind == kind]


@dataclass
class StageOutcome:
    name: str
    kind: str
    directory: Path
    skipped: bool
    result: Any = None
