"""``hetrec build-graph``: dataset directory -> heterograph artifact."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.stages import build_graph as stage


@click.command("build-graph")
@click.option("--dataset", "dataset", type=click.Choice(list(stage.LOADERS)), default="goodbooks", show_default=True,
              help="Loader for --data.")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Dataset directory.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Artifact directory to write.")
@click.option("--catalog", type=click.Path(path_type=Path), default=None,
              help="Goodbooks: directory of books.csv and tags.csv, when not beside ratings.csv (e.g. the samples).")
@click.option("--top-tags", type=int, default=20, show_default=True, help="Goodbooks: tags kept per book.")
@click.option("--rating-threshold", type=float, default=None, help="Keep ratings >= X as positives (default: all).")
@click.option("--min-user", type=int, default=0, show_default=True, help="Drop users with fewer interactions.")
@click.option("--min-item", type=int, default=0, show_default=True, help="Drop items with fewer interactions.")
@click.option("--split", type=click.Choice(["loo", "random"]), default="loo", show_default=True,
              help="Leave-one-out by time, or random holdout.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random split.")
@click.option("--similar-k", type=int, default=0, show_default=True,
              help="Item-item kNN neighbours on tag profiles (0 = no 'similar' relation).")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
def command(dataset, data, out, catalog, top_tags, rating_threshold, min_user, min_item, split, seed, similar_k, force):
    """Build the typed heterograph (train interactions only) and its artifact directory."""
    cfg = stage.BuildGraphConfig(data=data, out=out, dataset=dataset, catalog=catalog, top_tags=top_tags,
                                 rating_threshold=rating_threshold, min_user=min_user, min_item=min_item,
                                 split=split, seed=seed, similar_k=similar_k, force=force)
    artifact = stage.run(cfg, log=report.message)
    nodes, edges, splits = stage.summary_rows(artifact)
    report.table(nodes, title="nodes")
    report.table(edges, title="edges")
    report.table(splits, title="split")
    report.message(f"wrote {out} (fingerprint {artifact.fingerprint})")
