"""Reading a pipeline file: a TOML file -> checked, ordered stages (nothing runs here).

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
import math
import os
import re
import tomllib
from pathlib import Path

from hetrec.errors import HetrecError
from hetrec.pipeline.spec import Kind, Pipeline, Stage

PIPELINE_KEYS = {"name", "dataset", "data", "out", "seed", "description"}


def _fields(kind: Kind) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(kind.config()) if f.name not in kind.managed}


STAGE_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a named table [kind.NAME] becomes the directory <out>/kind.NAME
HEAD_TYPES = {"name": str, "dataset": str, "data": str, "out": str, "seed": int, "description": str}
_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,), "Path": (str,),
          "tuple": (list, tuple), "list": (list,), "dict": (dict,)}


def _annotation_types(annotation) -> tuple[type, ...] | None:
    """Python types a TOML value may have for a field annotated ``annotation`` (None: not checkable here)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    allowed: tuple[type, ...] = ()
    for part in text.split("|"):
        name = part.strip().split("[")[0].split(".")[-1]
        if name == "None":
            continue
        if name not in _TYPES:
            return None
        allowed += _TYPES[name]
    return allowed or None


def _type_ok(value, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # true/false only where a bool is expected (bool is an int in Python)
        return bool in allowed
    return isinstance(value, allowed)


def _check_types(where: str, values: dict, fields: dict[str, dataclasses.Field], refs: tuple[str, ...] = ()) -> dict:
    """Type check each key against its field's annotation (else its default), before anything runs.
    TOML has no tuples: lists become tuples where the field holds one."""
    out = {}
    for key, value in values.items():
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else None
        allowed = (str, list) if key in refs else _annotation_types(f.type)  # a stage name, or several
        if allowed is None and default is not None and not dataclasses.is_dataclass(default):
            allowed = _TYPES.get(type(default).__name__, (type(default),))
        if allowed is not None and not _type_ok(value, allowed):
            names = sorted({t.__name__ for t in allowed} - ({"int"} if float in allowed else set()))
            raise HetrecError(f"{where}, key '{key}': expected {' or '.join(names)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):  # TOML has nan and inf
            raise HetrecError(f"{where}, key '{key}': expected a finite number, got {value!r}")
        if isinstance(value, list) and (isinstance(default, tuple) or str(f.type).startswith("tuple")):
            value = tuple(value)
        out[key] = value
    return out


def _check_head(path: Path, head: dict) -> None:
    """``[pipeline]``: known keys of the right type; a relative ``out`` must not climb out with ``..``."""
    where = f"{path}, table [pipeline]"
    for key, value in head.items():
        if key not in PIPELINE_KEYS:
            raise HetrecError(f"{where}, key '{key}': unknown; expected one of {', '.join(sorted(PIPELINE_KEYS))}")
        if not _type_ok(value, (HEAD_TYPES[key],)):
            raise HetrecError(f"{where}, key '{key}': expected {HEAD_TYPES[key].__name__}, got {value!r}")
    if "seed" in head:
        from hetrec.checks import SEED, number

        try:
            number("seed", head["seed"], **SEED)
        except HetrecError as e:
            raise HetrecError(f"{where}, key 'seed': {str(e).split(': ', 1)[1]}") from None
    out = head.get("out")
    if out is not None and not Path(out).is_absolute() and ".." in Path(out).parts:
        raise HetrecError(f"{where}, key 'out': {out!r} climbs out of the working directory with '..'; "
                          "give an absolute path or one below the working directory")


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
    _check_head(path, head)
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
            if sub is not None and not STAGE_NAME.fullmatch(sub):
                raise HetrecError(f"{path}: table [{kind_name}.{sub!r}]: a stage name may hold only letters, digits, "
                                  "'_' and '-' (it names the directory <out>/" + kind_name + ".NAME)")
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
    stage.values = _check_types(where, stage.values, fields, kind.refs)


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


def default_kinds() -> dict[str, Kind]:
    """The real stage kinds (hetrec/pipeline/kinds.py)."""
    from hetrec.pipeline.kinds import KINDS

    return KINDS
