"""``hetrec pretrain``: graph artifact -> pretrained node embeddings (R-GCN, KGAT, RAM-GNN)."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.pretrain import PRETRAIN
from hetrec.pretrain.config import PretrainConfig
from hetrec.stages import pretrain as stage

D = PretrainConfig()
METRICS = ("val_ndcg@10", "val_hit@10", "val_ndcg@20", "val_hit@20", "val_mrr@10")


def _fanouts(ctx, param, value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected comma-separated integers such as 10,10") from None


@click.command("pretrain")
@click.option("--graph", type=click.Path(path_type=Path), required=True, help="build-graph artifact directory.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Artifact directory to write.")
@click.option("--method", type=click.Choice(sorted(PRETRAIN)), default=D.method, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--epochs", type=int, default=D.epochs, show_default=True, help="Upper bound; early stopping ends sooner.")
@click.option("--batch-size", type=int, default=D.batch_size, show_default=True, help="BPR triples per step.")
@click.option("--kg-batch-size", type=int, default=D.kg_batch_size, show_default=True,
              help="Knowledge-graph triples per step (R-GCN link term, KGAT TransR pass).")
@click.option("--mode", type=click.Choice(["full", "sampled"]), default=D.mode, show_default=True,
              help="full: full-graph propagation per step; sampled: DGL neighbour blocks.")
@click.option("--fanouts", default=",".join(map(str, D.fanouts)), show_default=True, callback=_fanouts,
              help="Neighbours per layer in sampled mode (one value applies to every layer; -1 = all).")
@click.option("--dim", type=int, default=D.dim, show_default=True, help="Embedding size (finetune --dim must match).")
@click.option("--layers", type=int, default=D.layers, show_default=True, help="Message-passing layers.")
@click.option("--lr", type=float, default=D.lr, show_default=True, help="Adam learning rate.")
@click.option("--reg", type=float, default=D.reg, show_default=True, help="L2 weight on the batch's embeddings.")
@click.option("--kg-weight", type=float, default=D.kg_weight, show_default=True,
              help="R-GCN: weight of the link-prediction term.")
@click.option("--patience", type=int, default=D.patience, show_default=True,
              help="Validations without val NDCG@10 gain before stopping.")
@click.option("--eval-every", type=int, default=D.eval_every, show_default=True, help="Epochs between validations.")
@click.option("--seed", type=int, default=D.seed, show_default=True)
@click.option("--num-bases", type=int, default=D.num_bases, show_default=True,
              help="R-GCN basis decomposition (0 = one weight matrix per relation).")
@click.option("--compose", type=click.Choice(["add", "mul", "corr"]), default=D.compose, show_default=True,
              help="RAM-GNN: composition of neighbour and relation embeddings.")
@click.option("--no-attention", is_flag=True, help="RAM-GNN: mean over relations instead of relation attention.")
@click.option("--no-rns", is_flag=True, help="RAM-GNN: uniform neighbours instead of the reinforced sampler.")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
def command(graph, out, method, device, epochs, batch_size, kg_batch_size, mode, fanouts, dim, layers, lr, reg,
            kg_weight, patience, eval_every, seed, num_bases, compose, no_attention, no_rns, force):
    """Pretrain node embeddings on the train graph; early stopping on validation NDCG@10."""
    cfg = stage.PretrainStageConfig(graph=graph, out=out, device=device, force=force, pretrain=PretrainConfig(
        method=method, dim=dim, layers=layers, epochs=epochs, batch_size=batch_size, lr=lr, reg=reg,
        patience=patience, eval_every=eval_every, mode=mode, fanouts=fanouts, seed=seed, kg_weight=kg_weight,
        num_bases=num_bases, kg_batch_size=kg_batch_size, compose=compose, attention=not no_attention,
        rns=not no_rns))
    summary = stage.run(cfg, log=report.message)
    best = summary["best"]
    report.table([{"method": method, "best epoch": summary["best_epoch"], "epochs": summary["epochs_run"],
                   **{m: best.get(m) for m in METRICS}, "s/epoch": summary["seconds_per_epoch"]}],
                 title=f"pretrain {method} ({summary['mode']}, {summary['device']})")
