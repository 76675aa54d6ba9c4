"""Plots: the PNGs exist, decode, and show the data (pixels differ from an empty figure)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.image import imread

from hetrec.plots import metric_bars, training_curves


def _log(n, start):
    return pd.DataFrame({"epoch": np.arange(1, n + 1), "loss": start / np.arange(1, n + 1),
                         "val_ndcg@10": np.linspace(0.01, 0.1, n)})


def test_training_curves_png(tmp_path):
    path = training_curves({"pretrain": {"ramgnn": _log(5, 0.7)},
                            "finetune": {"lightgcn_none": _log(8, 0.69), "lightgcn_ramgnn": _log(3, 0.5)}},
                           tmp_path / "curves.png")
    img = imread(path)
    assert img.shape[0] > 300 and img.shape[1] > 600  # two rows of two panels
    # the lines are coloured; an empty figure is only greys
    rgb = img[..., :3]
    assert (np.ptp(rgb, axis=-1) > 0.3).sum() > 500
    empty = imread(training_curves({}, tmp_path / "empty.png"))
    assert (np.ptp(empty[..., :3], axis=-1) > 0.3).sum() == 0


def _count(img, hex_colour):
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img[..., :3] - rgb).max(axis=-1) < 0.02).sum())


def test_metric_bars_png(tmp_path):
    rows = [{"method": "lightgcn_none", "ndcg@10": 0.05, "hit@10": 0.1},
            {"method": "lightgcn_ramgnn", "ndcg@10": 0.07, "hit@10": 0.13}, {"method": "popular", "ndcg@10": 0.02}]
    img = imread(metric_bars(rows, tmp_path / "bars.png"))
    blue, orange = _count(img, "#1f77b4"), _count(img, "#ff7f0e")  # matplotlib's first two colours
    assert blue > 1000
    # equal bar widths, so painted area ~ total height: hit (0.23) / ndcg (0.14), plus equal legend swatches
    assert abs(orange / blue - 0.23 / 0.14) < 0.15
    assert not list(tmp_path.glob(".*tmp*"))


def test_loss_falls_back_to_the_sum_of_logged_terms():
    from hetrec.plots import _loss

    loss, terms = _loss(pd.DataFrame({"epoch": [1, 2], "bpr": [0.5, 0.4], "kg": [0.25, 0.5], "val_ndcg@10": [0, 0]}))
    assert terms == ["bpr", "kg"] and loss.tolist() == [0.75, 0.9]
    loss, terms = _loss(pd.DataFrame({"epoch": [1], "loss": [2.0], "bpr": [1.0]}))
    assert terms == [] and loss.tolist() == [2.0]
    assert _loss(pd.DataFrame({"epoch": [1]}))[0] is None
