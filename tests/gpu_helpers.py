"""Shared by the ``-m gpu`` tests: the device under test and a CPU-vs-device agreement check.

The device is CUDA; ``HETREC_TEST_DEVICE=cpu`` runs the same tests CPU against CPU, which checks the tests
themselves on a machine without a GPU (``bench/gpu.sh --device cpu`` does that in its dry run).
"""
from __future__ import annotations

import copy
import os

import pytest
import torch

DEVICE = os.environ.get("HETREC_TEST_DEVICE", "cuda")
needs_device = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs CUDA")


def to_device(tree, device):
    if isinstance(tree, dict):
        return {k: to_device(v, device) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_device(v, device) for v in tree)
    return tree.to(device) if torch.is_tensor(tree) else tree


def flat(out) -> list[torch.Tensor]:
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in flat(out[k])]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in flat(v)]
    return [out] if torch.is_tensor(out) else []


def assert_module_agrees(model: torch.nn.Module, run, *, atol: float = 1e-4, rtol: float = 1e-4) -> None:
    """``run(model, device)`` -> outputs; a copy of ``model`` on DEVICE must give the same outputs and the same
    parameter gradients of ``sum_k (out_k * w_k).sum()`` (fixed random weights w) as the CPU model."""
    model = model.float().train(False)
    model.zero_grad(set_to_none=True)
    other = copy.deepcopy(model).to(DEVICE)
    out_cpu, out_dev = flat(run(model, "cpu")), flat(run(other, DEVICE))
    assert len(out_cpu) == len(out_dev) > 0
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(o.shape, generator=g) for o in out_cpu]
    for a, b in zip(out_cpu, out_dev):
        assert b.device.type == torch.device(DEVICE).type
        torch.testing.assert_close(b.detach().cpu(), a.detach(), atol=atol, rtol=rtol)
    sum((o * w).sum() for o, w in zip(out_cpu, weights)).backward()
    sum((o * w.to(DEVICE)).sum() for o, w in zip(out_dev, weights)).backward()
    grads = 0
    for (name, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        if p.grad is None:
            assert q.grad is None or not q.grad.any(), name
            continue
        grads += 1
        torch.testing.assert_close(q.grad.cpu(), p.grad, atol=atol, rtol=rtol, msg=lambda m: f"{name}: {m}")
    assert grads > 0
