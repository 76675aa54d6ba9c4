"""Save and restore everything a training run needs to continue exactly where it stopped.

Why RNG states too: BPR negatives and the epoch shuffle come from a ``torch.Generator``; restoring it
(and the global python/numpy/torch RNGs) at an epoch boundary makes a resumed run draw the same batches,
so its final metrics equal an uninterrupted run with the same seed (exactly, on CPU).

Everything is stored as tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it back without unpickling arbitrary objects.
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hetrec.errors import HetrecError

FORMAT = 1


def rng_state(generator: torch.Generator | None = None) -> dict:
    """The python, numpy, torch (CPU and CUDA) RNG states and the sampling generator's state, as tensors."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    """Inverse of :func:`rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])


def save_checkpoint(path: str | os.PathLike, **fields: Any) -> None:
    """Write ``fields`` (model/optimizer state dicts, epoch, early stopping, rng, history, ...) atomically.

    The file is written beside ``path`` and renamed over it, so a crash mid-write never leaves a torn
    checkpoint where the last good one was.

    Why the cleanup: a full disk used to leave the torn ``.NAME.tmp-PID`` behind, which kept the disk full;
    now it is removed and the error is one line saying the last good checkpoint (if any) is kept.
    """
    from hetrec.artifacts import no_space

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": FORMAT, **fields}, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if no_space(e):
            kept = f"the last good checkpoint {path} is kept; free space and --resume" if path.is_file() \
                else "no earlier checkpoint to keep"
            raise HetrecError(f"{path}: no space left on device while writing the checkpoint; {kept}") from e
        raise


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors load on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise HetrecError(f"{path}: no checkpoint here; nothing to resume")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a torn or foreign file
        raise HetrecError(f"{path}: unreadable checkpoint ({type(e).__name__}); start over with --force") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise HetrecError(f"{path}: not a hetrec checkpoint of format {FORMAT}; start over with --force")
    return ckpt
