"""``hetrec finetune``: graph artifact (+ optional pretrained embeddings) -> trained run directory."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.stages import finetune as stage

METRICS = ("hit@10", "ndcg@10", "mrr@10", "recall@10", "hit@20", "ndcg@20", "recall@20",
           "coverage@10")  # all of them: metrics.json


def _init(value: str) -> Path | None:
    return None if value.lower() == "none" else Path(value)


@click.command("finetune")
@click.option("--graph", type=click.Path(path_type=Path), required=True, help="build-graph artifact directory.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory to write.")
@click.option("--init", "init", default="none", show_default=True,
              help="Pretrain artifact whose embeddings initialise layer 0, or 'none' for random init.")
@click.option("--model", type=click.Choice(stage.MODELS), default="lightgcn", show_default=True)
@click.option("--dim", type=int, default=64, show_default=True, help="Embedding size.")
@click.option("--layers", type=int, default=3, show_default=True, help="Propagation layers (lightgcn, lightgcn-attr, ramgnn).")
@click.option("--epochs", type=int, default=300, show_default=True, help="Upper bound; early stopping ends sooner.")
@click.option("--batch-size", type=int, default=2048, show_default=True, help="BPR triples per step.")
@click.option("--lr", type=float, default=None,
              help="Adam learning rate [default: the model's best measured: "
                   + ", ".join(f"{m} {v:g}" for m, v in stage.DEFAULT_LR.items()) + ", else 1e-3].")
@click.option("--reg", type=float, default=1e-4, show_default=True, help="L2 weight on the batch's embeddings.")
@click.option("--id-dropout", type=float, default=0.0, show_default=True,
              help="lightgcn-attr: drop a warm item's ID row with this probability in training.")
@click.option("--cl-weight", type=float, default=0.0, show_default=True,
              help="lightgcn-attr: weight of SimGCL's contrastive loss (0 = off).")
@click.option("--cl-eps", type=float, default=0.1, show_default=True, help="lightgcn-attr: SimGCL noise radius.")
@click.option("--kg-weight", type=float, default=0.0, show_default=True,
              help="lightgcn-attr: weight of the joint link-prediction loss on the attribute/KG edges (0 = off).")
@click.option("--kg-loss", type=click.Choice(stage.KG_OBJECTIVES), default="link", show_default=True,
              help="lightgcn-attr: the joint KG loss (--kg-weight): 'link' (R-GCN-style link prediction) or "
                   "'transr' (KGAT's TransR, with the attention encoder's W_r, e_r: KGAT's when --init is KGAT).")
@click.option("--encoder", type=click.Choice(stage.ENCODERS), default="mean", show_default=True,
              help="lightgcn-attr: 'mean' averages attribute/KG neighbours as they are; 'relation' gives each "
                   "relation a trainable W_r (R-GCN's layer-0 weights when --init is an R-GCN pretraining); "
                   "'attention' weighs neighbours with KGAT's knowledge-aware attention (KGAT's when --init is KGAT).")
@click.option("--kgcl-weight", type=float, default=0.0, show_default=True,
              help="lightgcn-attr: weight of the KG-view contrastive loss (augmented KG view vs interaction view).")
@click.option("--kg-drop", type=float, default=0.2, show_default=True,
              help="lightgcn-attr: edge-drop probability of the augmented KG view.")
@click.option("--patience", type=int, default=10, show_default=True,
              help="Validations without val NDCG@10 gain before stopping.")
@click.option("--eval-every", type=int, default=1, show_default=True, help="Epochs between validations.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--tune", is_flag=True,
              help="Train every point of the model's small grid (lightgcn/mf/ramgnn: lr; lightgcn-attr: SimGCL, "
                   "KG-view and KG losses on/off) and keep the one with the best validation NDCG@10.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run of --out (same options).")
@click.option("--force", is_flag=True, help="Replace an existing --out and discard an interrupted run.")
def command(graph, out, init, model, dim, layers, epochs, batch_size, lr, reg, id_dropout, cl_weight, cl_eps, kg_weight,
            kg_loss, encoder, kgcl_weight, kg_drop, patience, eval_every, device, seed, tune, resume, force):
    """Train a recommender (BPR with early stopping on validation NDCG@10, or a closed form whose grid point is
    picked on validation); report val/test metrics."""
    cfg = stage.FinetuneConfig(graph=graph, out=out, model=model, init=_init(init), dim=dim, layers=layers, lr=lr,
                               reg=reg, id_dropout=id_dropout, cl_weight=cl_weight,
                               cl_eps=cl_eps, kg_weight=kg_weight, kg_loss=kg_loss, encoder=encoder, kgcl_weight=kgcl_weight,
                               kg_drop=kg_drop, batch_size=batch_size, epochs=epochs, patience=patience,
                               eval_every=eval_every, seed=seed, device=device, tune=tune, resume=resume, force=force)
    summary = stage.run(cfg, log=report.message, progress=report.progress)
    rows = [{"split": split, **{m: summary["metrics"][split].get(m) for m in METRICS}}
            for split in ("val", "test")]
    report.table(rows, title=f"{model} (best epoch {summary['best_epoch']} of {summary['epochs_run']}, "
                             f"{summary['seconds_per_epoch']:.2f} s/epoch, {summary['device']})")
