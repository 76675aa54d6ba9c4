"""Checkpoints restore every RNG exactly and refuse missing or foreign files with one line."""
import random

import numpy as np
import pytest
import torch

from hetrec.errors import HetrecError
from hetrec.trainer.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def _draws(gen):
    return (random.random(), float(np.random.rand()), float(torch.rand(1)), float(torch.rand(1, generator=gen)),
            float(np.random.randn()))


def test_rng_round_trip_through_file(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    save_checkpoint(tmp_path / "c.pt", rng=rng_state(gen), epoch=7)
    first = _draws(gen)
    _draws(gen)
    ckpt = load_checkpoint(tmp_path / "c.pt")
    other = torch.Generator().manual_seed(99)
    set_rng_state(ckpt["rng"], other)
    assert _draws(other) == first and ckpt["epoch"] == 7
    assert not list(tmp_path.glob(".*tmp*"))  # the temp file was renamed, not left behind


@pytest.mark.parametrize("content", [None, b"not a checkpoint", "wrong-format"])
def test_bad_checkpoints_are_one_line_errors(tmp_path, content):
    path = tmp_path / "c.pt"
    if content == "wrong-format":
        torch.save({"format": 999}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(HetrecError) as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
