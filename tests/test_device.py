"""Device choice and seeding."""
import pytest
import torch

from hetrec.device import resolve_device, seed_everything
from hetrec.errors import HetrecError


def test_gather_backward_with_repeated_ids_is_reproducible_on_cpu_after_seeding():
    """With several threads, ``table[ids]``'s backward accumulated in varying order before seed_everything
    turned on deterministic algorithms: R-GCN's relation embeddings drifted between runs of one seed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seed_everything(0)
        g = torch.Generator().manual_seed(0)
        table = torch.randn(8, 64, requires_grad=True)
        ids = torch.randint(0, 8, (16384,), generator=g)
        x = torch.randn(16384, 64, generator=g)
        grads = [torch.autograd.grad((table[ids] * x).sum(), table)[0] for _ in range(5)]
        assert all(torch.equal(grads[0], gr) for gr in grads)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.set_num_threads(threads)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(HetrecError, match="expected one of auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(HetrecError, match="sees no CUDA device"):
            resolve_device("cuda")
