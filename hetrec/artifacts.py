"""Stage artifact directories: atomic writes, ``manifest.json``, fingerprints.

Every stage writes one directory. It is built under a temporary name beside the
target and renamed into place only when complete, so a failure (bad input, Ctrl-C,
a crash) leaves no half-written artifact and never touches an existing one unless
``force`` was given.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from hetrec.errors import HetrecError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def file_fingerprint(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (hex, first 16 chars are enough to tell inputs apart)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def fingerprint(obj: Any) -> str:
    """Stable hash of a JSON-serialisable object (configs, input fingerprints)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def versions() -> dict[str, str]:
    """Versions of hetrec and the libraries whose behaviour shapes results."""
    import dgl
    import numpy
    import pandas
    import sklearn
    import torch

    import hetrec

    return {
        "hetrec": hetrec.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "dgl": dgl.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
    }


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``target`` when the block succeeds.

    An existing ``target`` is an error unless ``force``; with ``force`` it is
    replaced only after the new one is complete.
    """
    target = Path(target)
    if target.exists() and not force:
        raise HetrecError(f"{target} already exists; pass --force to replace it or choose another --out")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.rename(target, old)
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write one JSON file atomically (temp file in the same directory, then ``os.replace``): no reader,
    and no crash, ever leaves half a file (metrics beside a run, pipeline sidecars)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def write_manifest(directory: str | os.PathLike, *, stage: str, config: dict, inputs: dict,
                   counts: dict | None = None, metrics: dict | None = None, **extra: Any) -> dict:
    """Write ``manifest.json``: what made this artifact and what it holds.

    ``inputs`` maps input names (files or upstream artifacts) to fingerprints; the
    artifact's own ``fingerprint`` hashes schema version, stage, config and inputs,
    so a pipeline can skip a stage whose fingerprint is unchanged.
    """
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "fingerprint": fingerprint({"schema": SCHEMA_VERSION, "stage": stage, "config": config, "inputs": inputs}),
        "config": config,
        "inputs": inputs,
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "counts": counts or {},
        "metrics": metrics or {},
        **extra,
    }
    with open(Path(directory) / MANIFEST, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=False, default=str)
    return manifest


def read_manifest(directory: str | os.PathLike, *, stage: str | tuple[str, ...] | None = None) -> dict:
    """Read and validate an artifact's manifest; refuse a wrong stage or schema with a clear line."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise HetrecError(f"{directory} is not a hetrec artifact (no {MANIFEST}); run the stage that makes it first")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HetrecError(f"{path}: unreadable manifest ({e}); rebuild this artifact") from None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise HetrecError(
            f"{path}: schema version {manifest.get('schema_version')} but this hetrec reads {SCHEMA_VERSION}; "
            "rebuild the artifact with this version"
        )
    stages = (stage,) if isinstance(stage, str) else stage
    if stages and manifest.get("stage") not in stages:
        makers = " or ".join(f"`hetrec {s.replace('_', '-')}`" for s in stages)
        raise HetrecError(
            f"{directory} is a '{manifest.get('stage')}' artifact, expected {' or '.join(repr(s) for s in stages)}; "
            f"pass the --out directory of {makers}"
        )
    return manifest
