"""Stage artifact directories: atomic writes, ``manifest.json``, fingerprints.

Every stage writes one directory. It is built under a temporary name beside the
target and renamed into place only when complete, so a failure (bad input, Ctrl-C,
a crash) leaves no half-written artifact and never touches an existing one unless
``force`` was given.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

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


TMP_MARK = ".tmp-"  # hidden temporaries beside an output: .NAME.tmp-PID-XXXX (directories) / .NAME.tmp-PID (files)
_CLAIMS: dict[str, list] = {}  # resolved output path -> [lock file descriptor, depth]: this process holds it


def no_space(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a full disk: ENOSPC/EDQUOT, or a library error saying so (DGL)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def no_space_error(path: str | os.PathLike, what: str) -> HetrecError:
    return HetrecError(f"{path}: no space left on device while writing {what}; free some space and rerun")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale(target: str | os.PathLike) -> list[Path]:
    """Remove ``.NAME.tmp-PID-*`` / ``.NAME.old-PID`` leftovers of processes that no longer run
    (a killed stage leaves them; they can hold gigabytes). Returns what was removed."""
    target = Path(target)
    removed = []
    if not target.parent.is_dir():
        return removed
    for p in target.parent.glob(f".{glob.escape(target.name)}.*"):
        rest = p.name[len(target.name) + 2:]
        kind, _, tail = rest.partition("-")
        pid = tail.split("-")[0]
        if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _overlaps(target: Path, inputs: Iterable[str | os.PathLike | None]) -> Path | None:
    """The first input equal to ``target``, inside it, or containing it (replacing ``target`` would destroy it)."""
    t = target.resolve()
    for inp in inputs:
        if inp is None:
            continue
        i = Path(inp).resolve()
        if i == t or t in i.parents or i in t.parents:
            return Path(inp)
    return None


def check_out(target: str | os.PathLike, *, stage: str | None, force: bool,
              inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse an output that would destroy something: an existing ``target`` without ``force``; with ``force``,
    a ``target`` that is (or holds, or lies inside) one of this command's ``inputs``, or that is not a
    hetrec artifact of the same ``stage`` (its manifest.json says so)."""
    shown, target = Path(target), Path(target).resolve()  # "d/sub/.." is d even while d/sub does not exist
    if not target.exists():
        return
    clash = _overlaps(target, inputs)
    if clash is not None:
        raise HetrecError(f"--out {shown} overlaps the input {clash}; replacing it would delete the input, "
                          "choose another --out")
    if not force:
        raise HetrecError(f"{shown} already exists; pass --force to replace it or choose another --out")
    if stage is None:
        return
    try:
        made_by = json.loads((target / MANIFEST).read_text()).get("stage") if target.is_dir() else None
    except (OSError, ValueError, AttributeError):
        made_by = None
    if made_by != stage:
        what = f"a '{made_by}' artifact" if made_by else "not a hetrec artifact (no readable manifest.json)"
        raise HetrecError(f"--force {shown}: it is {what}, not a '{stage}' output; refusing to replace it, "
                          "remove it yourself or choose another --out")


@contextlib.contextmanager
def claim_output(target: str | os.PathLike, *, stage: str | None, force: bool,
                 inputs: Iterable[str | os.PathLike | None] = ()) -> Iterator[Path]:
    """Hold an exclusive ``fcntl`` lock on ``target`` (lock file ``.NAME.lock`` beside it) for the block,
    after :func:`check_out`; a second process writing the same output is refused at once with the
    holder's pid. Re-entrant within one process (a stage claims early, ``atomic_dir`` again at the end).
    Stale temporaries of dead processes are removed once the lock is held."""
    target = Path(target).resolve()
    inputs = list(inputs)
    check_out(target, stage=stage, force=force, inputs=inputs)
    with hold_lock(target) as fresh:
        if fresh:
            clean_stale(target)
        check_out(target, stage=stage, force=force, inputs=inputs)  # under the lock: nobody changed it meanwhile
        yield target


@contextlib.contextmanager
def hold_lock(target: str | os.PathLike) -> Iterator[bool]:
    """The exclusive lock of :func:`claim_output` on ``target`` without its output checks: for a command that
    writes into an existing artifact (``evaluate``'s metrics files beside a run) so that no other hetrec process
    replaces that artifact meanwhile. Yields True when this call took the lock, False when this process already
    held it (re-entrant)."""
    target = Path(target).resolve()
    key = str(target)
    held = _CLAIMS.get(key)
    if held is not None:
        held[1] += 1
        try:
            yield False
        finally:
            held[1] -= 1
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{target.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise HetrecError(f"{target} is being written by another hetrec process (pid {holder}); "
                              "wait for it to finish or choose another --out") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino  # not unlinked by a finishing holder meanwhile
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _CLAIMS[key] = [fd, 1]
        yield True
    finally:
        _CLAIMS.pop(key, None)
        lock.unlink(missing_ok=True)
        os.close(fd)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, force: bool = False, stage: str | None = None,
               inputs: Iterable[str | os.PathLike | None] = ()) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``target`` when the block succeeds.

    The output is claimed first (:func:`claim_output`: lock, :func:`check_out` with ``stage`` and
    ``inputs``); an existing ``target`` is an error unless ``force``, and is then replaced only after
    the new one is complete. A full disk becomes one line naming ``target``; the temporary is removed.
    """
    target = Path(target).resolve()
    with claim_output(target, stage=stage, force=force, inputs=inputs):
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_MARK}{os.getpid()}-", dir=target.parent))
        try:
            yield tmp
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if no_space(e):
                raise no_space_error(target, "the output (temporary files removed, nothing replaced)") from e
            raise
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, old)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, inf) as ``None``, so it serialises as strict JSON (``null``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # numpy / torch scalars
        return strict(obj.item())
    return obj


def dumps(obj: Any) -> str:
    """Strict JSON text (``allow_nan=False``; NaN/inf become null first); the one encoder of artifacts."""
    return json.dumps(strict(obj), indent=2, default=str, allow_nan=False)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write one strict JSON file atomically (temp file in the same directory, then ``os.replace``): no reader,
    and no crash, ever leaves half a file (metrics beside a run, pipeline sidecars, manifests).
    NaN/inf (e.g. a metric of an empty slice) are written as ``null``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    text = dumps(obj)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if no_space(e):
            raise no_space_error(path, "JSON (temporary file removed)") from e
        raise


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
    write_json(Path(directory) / MANIFEST, manifest)
    return strict(manifest)


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
