"""Pipelines: a TOML file -> ordered stages, each skipped when its fingerprint is unchanged.

A pipeline file has a ``[pipeline]`` table (name, dataset, data, out, seed) and one table per
stage: ``[build_graph]``, or named ones such as ``[pretrain.ramgnn]``; plain keys of ``[pretrain]``
are settings shared by every ``[pretrain.*]`` table (a named table overrides them). Each stage table maps
one-to-one onto its stage's config dataclass; fields that take an upstream artifact hold a
stage *name* (``graph = "build_graph"``, ``init = "pretrain.ramgnn"``, ``runs = "finetune"``
for every finetune stage), which the pipeline resolves to ``<out>/<stage name>``.

Why a sidecar ``<out>/<stage>.pipeline.json`` instead of a manifest field: the stages own their
manifests; the pipeline only records which inputs and settings produced each directory, so it
can skip a stage whose fingerprint (settings + upstream identities + input file stats) matches.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from hetrec.artifacts import MANIFEST, fingerprint, read_manifest, write_json
from hetrec.errors import HetrecError

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


PIPELINE_KEYS = {"name", "dataset", "data", "out", "seed", "description"}


def _fields(kind: Kind) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(kind.config()) if f.name not in kind.managed}


def _check_types(where: str, values: dict, fields: dict[str, dataclasses.Field]) -> dict:
    """Light type check against each field's default (TOML has no tuples: lists become tuples)."""
    out = {}
    for key, value in values.items():
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        expected = type(default) if default is not None and not dataclasses.is_dataclass(default) else None
        ok = expected is None or (
            (isinstance(value, expected) or (expected is float and isinstance(value, int)))
            and isinstance(value, bool) == (expected is bool))  # true/false only where a bool is expected
        if not ok:
            raise HetrecError(f"{where}, key '{key}': expected {expected.__name__}, got {value!r}")
        out[key] = value
    return out


def load_pipeline(path: str | os.PathLike, *, kinds: dict[str, Kind] | None = None, data: str | None = None,
                  out: str | None = None) -> Pipeline:
    """Parse and check a pipeline file; ``data``/``out`` override ``[pipeline]`` (relative to the CWD)."""
    kinds = default_kinds() if kinds is None else kinds
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HetrecError(f"{path}: no such pipeline file; see pipelines/ for examples") from None
    except tomllib.TOMLDecodeError as e:
        raise HetrecError(f"{path}: not valid TOML ({e})") from None
    head = doc.pop("pipeline", None)
    if not isinstance(head, dict) or "name" not in head:
        raise HetrecError(f"{path}: needs a [pipeline] table with at least name = \"...\"")
    for key in head:
        if key not in PIPELINE_KEYS:
            raise HetrecError(f"{path}, table [pipeline], key '{key}': unknown; expected one of "
                              f"{', '.join(sorted(PIPELINE_KEYS))}")
    base = path.resolve().parent
    data_path = Path(data).resolve() if data else (base / head["data"]).resolve() if head.get("data") else None
    out_path = Path(out or head.get("out") or f"runs/{head['name']}").resolve()  # relative to the CWD, like --out
    stages: list[Stage] = []
    for kind_name, table in doc.items():
        if kind_name not in kinds:
            raise HetrecError(f"{path}: unknown table [{kind_name}]; expected pipeline or one of {', '.join(kinds)}")
        if not isinstance(table, dict):
            raise HetrecError(f"{path}: '{kind_name}' must be a table [{kind_name}], not a value")
        fields = _fields(kinds[kind_name])
        subs = {k: v for k, v in table.items() if isinstance(v, dict) and k not in fields}
        shared = {k: v for k, v in table.items() if k not in subs}  # with named tables: their common settings
        for sub, values in (subs.items() if subs else [(None, {})]):
            name = f"{kind_name}.{sub}" if sub else kind_name
            stages.append(Stage(name=name, kind=kind_name, values={**shared, **values}))
    pipe = Pipeline(path=path, name=str(head["name"]), dataset=head.get("dataset"), data=data_path, out=out_path,
                    seed=head.get("seed"), stages=stages)
    for s in stages:
        _check_stage(pipe, s, kinds[s.kind])
    pipe.stages = _order(pipe)
    return pipe


def _check_stage(pipe: Pipeline, stage: Stage, kind: Kind) -> None:
    where = f"{pipe.path}, table [{stage.name}]"
    fields = _fields(kind)
    managed = [k for k in stage.values if k in kind.managed]
    if managed:
        raise HetrecError(f"{where}, key '{managed[0]}': set by the pipeline (hetrec run --out/--device/--force); "
                          "remove it")
    for key in stage.values:
        if key not in fields:
            raise HetrecError(f"{where}, key '{key}': unknown; expected one of {', '.join(fields)}")
    names = {s.name for s in pipe.stages}
    kinds = {s.kind for s in pipe.stages}
    for ref in kind.refs:
        value = stage.values.get(ref)
        if value is None:
            continue
        for target in (value if isinstance(value, list) else [value]):
            if target == "none":  # no input, e.g. init = "none"
                continue
            if not isinstance(target, str):
                raise HetrecError(f"{where}, key '{ref}': expected a stage name, got {target!r}")
            if target in kinds and target not in names:
                stage.deps += [s.name for s in pipe.stages if s.kind == target]
            elif target in names and target != stage.name:
                stage.deps.append(target)
            elif target == stage.name:
                raise HetrecError(f"{where}, key '{ref}': a stage cannot read its own output")
            elif not (ref in kind.paths):  # a path field may also name a directory instead of a stage
                raise HetrecError(f"{where}, key '{ref}': no stage named '{target}' in this pipeline; "
                                  f"stages are {', '.join(n for n in names if n != stage.name)}")
    filled = {"seed": pipe.seed, "data": pipe.data, "dataset": pipe.dataset}
    for key, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and key not in stage.values and filled.get(key) is None:
            if key == "data":
                raise HetrecError(f"{where}: no data directory; pass --data DIR (or set data in [pipeline])")
            raise HetrecError(f"{where}: missing key '{key}'" + (f" (the stage it reads, e.g. {key} = \"...\")"
                                                                 if key in kind.refs else ""))
    stage.values = _check_types(where, stage.values, fields)


def _order(pipe: Pipeline) -> list[Stage]:
    """File order, moved only as far as needed so every stage follows the stages it reads."""
    done: list[Stage] = []
    pending = list(pipe.stages)
    while pending:
        ready = next((s for s in pending if all(d in {x.name for x in done} for d in s.deps)), None)
        if ready is None:
            raise HetrecError(f"{pipe.path}: stages {', '.join(s.name for s in pending)} reference each other in a "
                              "cycle; each stage may only read earlier stages")
        done.append(ready)
        pending.remove(ready)
    return done


def _dir_stats(path: Path) -> dict:
    """Cheap identity of an input file or directory: name, size and mtime of each file (like make)."""
    if path.is_file():
        st = path.stat()
        return {path.name: [st.st_size, st.st_mtime_ns]}
    if not path.is_dir():
        return {"missing": str(path)}
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(path.iterdir())
            if p.is_file() and p.name != MANIFEST}


def _manifest_id(directory: Path) -> dict:
    m = read_manifest(directory)
    return {"fingerprint": m.get("fingerprint"), "created": m.get("created")}


def _identity(pipe: "Pipeline", name: str) -> dict:
    """An upstream artifact's identity for its readers: its fingerprint and when the pipeline made it,
    so a forced (or changed) upstream rerun makes every stage downstream of it rerun too."""
    side = sidecar(pipe, name)
    made = json.loads(side.read_text()).get("made") if side.is_file() else None
    return {"fingerprint": read_manifest(pipe.stage_dir(name)).get("fingerprint"), "made": made}


def resolve(pipe: Pipeline, stage: Stage, kinds: dict[str, Kind], device: str = "auto") -> tuple[Any, dict]:
    """(the stage's config object, its fingerprint record) with references resolved to directories."""
    kind = kinds[stage.kind]
    fields = _fields(kind)
    values = dict(stage.values)
    if "seed" in fields and "seed" not in values and pipe.seed is not None:
        values["seed"] = pipe.seed
    if "dataset" in fields and "dataset" not in values and pipe.dataset is not None:
        values["dataset"] = pipe.dataset
    if "data" in fields and "data" not in values and pipe.data is not None:
        values["data"] = str(pipe.data)
    record_config, inputs = dict(values), {}
    names, kind_names = {s.name for s in pipe.stages}, {s.kind for s in pipe.stages}
    for key, value in list(values.items()):
        targets = value if isinstance(value, list) else [value]
        if key in kind.refs and all(t in names or t in kind_names for t in targets):
            dirs = []
            for t in targets:
                for n in ([t] if t in names else pipe.names(t)):
                    inputs[n] = _identity(pipe, n)
                    dirs.append(str(pipe.stage_dir(n)))
            values[key] = dirs if isinstance(value, list) or value not in names else dirs[0]
        elif key in kind.paths:
            p = Path(value)
            p = p if p.is_absolute() else (pipe.path.resolve().parent / p).resolve()
            values[key] = str(p)
            record_config[key] = p.name  # the files' stats identify the input, not where they lie
            inputs[f"{key}:{p.name}"] = _dir_stats(p)
    out = pipe.stage_dir(stage.name)
    try:
        cfg = kind.build(values, out, device) if kind.build else _default_build(kind, values, out, device)
    except (TypeError, ValueError) as e:
        raise HetrecError(f"{pipe.path}, table [{stage.name}]: {e}") from None
    record = {"stage": stage.name, "kind": stage.kind, "config": record_config, "inputs": inputs}
    record["fingerprint"] = fingerprint(record)
    return cfg, record


def _default_build(kind: Kind, values: dict, out: Path, device: str) -> Any:
    cls = kind.config()
    names = {f.name for f in dataclasses.fields(cls)}
    extra = {k: v for k, v in {"out": out, "force": True, "device": device}.items() if k in names}
    return cls(**values, **extra)


def sidecar(pipe: Pipeline, name: str) -> Path:
    return pipe.out / f"{name}.pipeline.json"


def up_to_date(pipe: Pipeline, name: str, record: dict) -> bool:
    """True when ``<out>/<name>`` exists, is complete and was made from exactly this fingerprint."""
    directory, side = pipe.stage_dir(name), sidecar(pipe, name)
    if not (directory / MANIFEST).is_file() or not side.is_file():
        return False
    try:
        saved = json.loads(side.read_text())
        return saved.get("fingerprint") == record["fingerprint"] and saved.get("artifact") == _manifest_id(directory)
    except (json.JSONDecodeError, HetrecError):
        return False


@dataclass
class StageOutcome:
    name: str
    kind: str
    directory: Path
    skipped: bool
    result: Any = None


def check_force(pipe: Pipeline, force: Sequence[str]) -> set[str]:
    """``--force NAME`` names a stage, a kind (every stage of it) or ``all``."""
    chosen: set[str] = set()
    for f in force:
        hits = [s.name for s in pipe.stages if f in ("all", s.name, s.kind)]
        if not hits:
            raise HetrecError(f"--force {f}: no such stage in {pipe.path}; stages are "
                              f"{', '.join(s.name for s in pipe.stages)}")
        chosen.update(hits)
    return chosen


def run_pipeline(pipe: Pipeline, *, force: Sequence[str] = (), device: str = "auto", log: Log | None = None,
                 kinds: dict[str, Kind] | None = None) -> list[StageOutcome]:
    """Run every stage in order, skipping those whose fingerprint is unchanged (unless forced)."""
    kinds = default_kinds() if kinds is None else kinds
    say = log or (lambda _m: None)
    forced = check_force(pipe, force)
    pipe.out.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for i, stage in enumerate(pipe.stages, 1):
        cfg, record = resolve(pipe, stage, kinds, device)
        directory = pipe.stage_dir(stage.name)
        if stage.name not in forced and up_to_date(pipe, stage.name, record):
            say(f"skip {stage.name}: unchanged")
            outcomes.append(StageOutcome(stage.name, stage.kind, directory, True))
            continue
        say(f"[{i}/{len(pipe.stages)}] {stage.name} -> {directory}")
        sidecar(pipe, stage.name).unlink(missing_ok=True)  # a failure must not leave a "done" mark behind
        result = kinds[stage.kind].run(cfg, say)
        side = {**record, "artifact": _manifest_id(directory), "made": time.time_ns()}
        write_json(sidecar(pipe, stage.name), side)
        outcomes.append(StageOutcome(stage.name, stage.kind, directory, False, result))
    return outcomes


def default_kinds() -> dict[str, Kind]:
    """The real stage kinds (a separate module so this one stays about the machinery)."""
    from hetrec.pipeline_stages import KINDS

    return KINDS
