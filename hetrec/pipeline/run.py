"""Running a loaded pipeline: resolve references to directories, skip unchanged stages, record sidecars."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Sequence

from hetrec.artifacts import MANIFEST, fingerprint, read_manifest, write_json
from hetrec.errors import HetrecError
from hetrec.pipeline.load import _fields, default_kinds
from hetrec.pipeline.spec import Kind, Log, Pipeline, Stage, StageOutcome


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
