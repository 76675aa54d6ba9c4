"""CUDA vs CPU (``-m gpu``): each pretraining method runs end to end on the device and its first-epoch loss
matches the CPU run (same seed; sampled modes draw their blocks from DGL's CPU sampler either way)."""
import pytest
import torch

from gpu_helpers import DEVICE, needs_device
from hetrec.pretrain import PRETRAIN
from hetrec.pretrain.config import PretrainConfig

pytestmark = [pytest.mark.gpu, needs_device]


@pytest.mark.parametrize("method,mode", [("rgcn", "full"), ("rgcn", "sampled"), ("kgat", "full"),
                                         ("kgat", "sampled"), ("ramgnn", "full"), ("ramgnn", "sampled")])
def test_pretraining_on_device(tiny_artifact, method, mode):
    cfg = PretrainConfig(method=method, mode=mode, fanouts=(-1,), dim=8, epochs=1, batch_size=256,
                         kg_batch_size=256, lr=0.01, neighbors=4)
    if method == "kgat" or DEVICE != "cpu" and mode == "sampled":
        # KGAT's message dropout and CUDA's own RNG streams make the runs differ: check it runs and learns
        res = PRETRAIN[method](tiny_artifact, cfg, torch.device(DEVICE))
        assert torch.isfinite(torch.tensor(res.history[0]["bpr"]))
        assert res.embeddings["node"]["user"].device.type == "cpu"
        return
    runs = []
    for device in ("cpu", DEVICE):
        torch.manual_seed(0)  # R-GCN initialises from the global RNG
        runs.append(PRETRAIN[method](tiny_artifact, cfg, torch.device(device)))
    cpu, dev = runs
    assert dev.history[0]["loss"] == pytest.approx(cpu.history[0]["loss"], rel=1e-3)
