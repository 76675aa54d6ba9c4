"""PNG plots of a pipeline's runs: training curves and test metrics per method.

Why ``matplotlib.figure.Figure`` (Agg) instead of ``pyplot``: no global state, no display needed,
safe on headless machines and in tests.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

VAL_METRIC = "val_ndcg@10"
LOSS_TERMS = ("bpr", "kg", "sim", "reg")  # summed when a log has no total `loss` column (e.g. KGAT's)


def _loss(log: pd.DataFrame) -> tuple[pd.Series | None, list[str]]:
    """The total loss per epoch, or the sum of the logged terms (and their names) when no total is logged."""
    if "loss" in log:
        return log["loss"], []
    terms = [t for t in LOSS_TERMS if t in log]
    return (log[terms].sum(axis=1), terms) if terms else (None, [])


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def training_curves(groups: Mapping[str, Mapping[str, pd.DataFrame]], path: str | os.PathLike, *,
                    metric: str = VAL_METRIC) -> Path:
    """One row of panels per group (e.g. "pretrain", "finetune"): loss and ``metric`` per epoch, a line per run.

    ``groups[group][run] = train_log`` with columns ``epoch``, ``loss`` and optionally ``metric``.
    """
    groups = {g: runs for g, runs in groups.items() if runs}
    rows = max(len(groups), 1)
    fig = Figure(figsize=(11, 3.6 * rows))
    axes = fig.subplots(rows, 2, squeeze=False)
    for r, (group, runs) in enumerate(groups.items()):
        loss_ax, val_ax = axes[r]
        for name, log in runs.items():
            epoch = log["epoch"] if "epoch" in log else pd.Series(range(1, len(log) + 1))
            loss, terms = _loss(log)
            if loss is not None:
                loss_ax.plot(epoch, loss, marker=".", label=name if not terms else f"{name} ({'+'.join(terms)})")
            if metric in log and log[metric].notna().any():
                ok = log[metric].notna()
                val_ax.plot(epoch[ok], log[metric][ok], marker=".", label=name)
        loss_ax.set(title=f"{group}: training loss", xlabel="epoch", ylabel="loss")
        val_ax.set(title=f"{group}: validation {metric.removeprefix('val_').upper()}", xlabel="epoch",
                   ylabel=metric.removeprefix("val_"))
        for ax in (loss_ax, val_ax):
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if ax.lines:
                ax.legend(fontsize=8)
    if not groups:
        axes[0][0].text(0.5, 0.5, "no training logs", ha="center", va="center")
    fig.tight_layout()
    return _save(fig, path)


def metric_bars(rows: Sequence[Mapping], path: str | os.PathLike, *, metrics: Sequence[str] = ("ndcg@10", "hit@10"),
                label: str = "method", title: str = "test metrics") -> Path:
    """Grouped bars: one group per row (method), one bar per metric, values printed on the bars."""
    metrics = [m for m in metrics if any(isinstance(r.get(m), (int, float)) for r in rows)] or list(metrics)
    n, m = len(rows), len(metrics)
    fig = Figure(figsize=(max(6.0, 0.55 * n * max(m, 1) + 2), 4.2))
    ax = fig.subplots()
    width = 0.8 / max(m, 1)
    for j, metric in enumerate(metrics):
        xs = [i + (j - (m - 1) / 2) * width for i in range(n)]
        vals = [float(r.get(metric)) if isinstance(r.get(metric), (int, float)) else math.nan for r in rows]
        bars = ax.bar(xs, vals, width=width, label=metric)
        ax.bar_label(bars, labels=[f"{v:.3f}" if v == v else "" for v in vals], fontsize=7, padding=2)
    ax.set_xticks(range(n), [str(r.get(label, i)) for i, r in enumerate(rows)], rotation=20, ha="right")
    ax.set(title=title, ylabel="value")
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)
