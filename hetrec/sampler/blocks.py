"""Neighbour-sampled blocks (message-flow graphs) from DGL, reproducible per seed.

Why a wrapper: DGL's CPU neighbour sampler splits its work across OpenMP threads, each
with its own random stream, so with more than one thread the same ``dgl.seed`` gives
different blocks from run to run. Sampling a mini-batch is cheap next to the model's
arithmetic, so we sample on one DGL thread and restore the thread count afterwards:
the same seed then gives the same blocks, hence the same metrics, on any core count.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import dgl
from dgl.utils import get_num_threads, set_num_threads
from torch import Tensor

__all__ = ["sample_blocks", "single_threaded_dgl"]


@contextlib.contextmanager
def single_threaded_dgl() -> Iterator[None]:
    """Run DGL's C++ kernels inside the block on one OpenMP thread."""
    before = get_num_threads()
    set_num_threads(1)
    try:
        yield
    finally:
        set_num_threads(before)


def sample_blocks(graph: dgl.DGLGraph, seeds: dict[str, Tensor] | Tensor, fanouts: tuple[int, ...] | list[int]) -> list:
    """Blocks (CPU) whose last block's destinations are exactly ``seeds`` (per type for a heterograph).

    fanouts: neighbours per layer, first layer first (``-1`` = all), as ``dgl.dataloading.NeighborSampler``.
    """
    if isinstance(seeds, dict):
        seeds = {t: s.cpu() for t, s in seeds.items() if s.numel()}
    else:
        seeds = seeds.cpu()
    with single_threaded_dgl():
        _, _, blocks = dgl.dataloading.NeighborSampler(list(fanouts)).sample_blocks(graph, seeds)
    return blocks
