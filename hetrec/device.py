"""Device choice and seeding: one place, so every stage behaves the same."""
from __future__ import annotations

import random

import numpy as np
import torch

from hetrec.errors import HetrecError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when torch sees it; ``cuda`` without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HetrecError("--device cuda: torch sees no CUDA device here; use --device cpu or auto")
    if name not in DEVICES and not name.startswith("cuda:"):
        raise HetrecError(f"--device {name}: expected one of auto, cpu, cuda")
    return torch.device(name)


def seed_everything(seed: int, device: torch.device | str = "cpu") -> None:
    """Seed python, numpy, torch and DGL so the same seed on CPU gives the same metrics.

    On CPU it also turns on torch's deterministic algorithms: with several threads, the backward of a gather
    with repeated indices (``table[ids]``, e.g. relation embeddings of a batch) accumulates in a varying
    order otherwise, and the same seed drifted to different metrics. On CUDA it stays off: several scatter
    kernels there have no deterministic version, and GPU runs are for speed.
    """
    import dgl

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dgl.seed(seed)
    torch.use_deterministic_algorithms(torch.device(device).type == "cpu")
