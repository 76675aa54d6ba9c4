"""``hetrec build-graph``: dataset directory -> heterograph artifact."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.stages import build_graph as stage


@click.command("build-graph")
@click.option("--dataset", "dataset", type=click.Choice(list(stage.LOADERS)), default="goodbooks", show_default=True,
              help="Loader for --data: goodbooks; tables (ratings/items/users.csv, every column an attribute); "
                   "ml-100k (tables with the MovieLens preset); kg (KGCN or KGAT layout with a knowledge graph).")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Dataset directory.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Artifact directory to write.")
@click.option("--catalog", type=click.Path(path_type=Path), default=None,
              help="Goodbooks: directory of books.csv and tags.csv, when not beside ratings.csv (e.g. the samples).")
@click.option("--top-tags", type=int, default=20, show_default=True, help="Goodbooks: tags kept per book.")
@click.option("--rating-threshold", type=float, default=None, help="Keep ratings >= X as positives (default: all).")
@click.option("--min-user", type=int, default=0, show_default=True, help="Drop users with fewer interactions.")
@click.option("--min-item", type=int, default=0, show_default=True, help="Drop items with fewer interactions.")
@click.option("--item-attr", "item_attr", multiple=True, metavar="COLUMN[:KIND]",
              help="Tables: use this items.csv column as an attribute (repeatable; KIND one of category, multi, "
                   "decade, age_band, bins; detected when omitted). When given, only declared columns are used; "
                   "by default every column is, kinds detected and identifier-like ones skipped.")
@click.option("--user-attr", "user_attr", multiple=True, metavar="COLUMN[:KIND]",
              help="Tables: the same for users.csv.")
@click.option("--split", type=click.Choice(["loo", "random", "given", "cold-items"]), default="loo",
              show_default=True,
              help="loo: leave-one-out by time; random: per-user holdout (--valid-frac, --test-frac); given: the "
                   "split of --split-file (or the dataset's own, the default for KGAT-layout --dataset kg); "
                   "cold-items: a seeded --cold-frac of the items lose every train interaction.")
@click.option("--split-file", type=click.Path(path_type=Path), default=None,
              help="--split given: CSV user_id,item_id,part (part: train/valid/test). Without valid rows, "
                   "valid is carved from each user's train rows (--valid-frac, --seed).")
@click.option("--valid-frac", type=float, default=0.1, show_default=True,
              help="--split random: share of each user's rows in valid; --split given: share carved from train.")
@click.option("--test-frac", type=float, default=0.1, show_default=True,
              help="--split random: share of each user's rows in test.")
@click.option("--cold-frac", type=float, default=0.1, show_default=True,
              help="--split cold-items: share of the items with >= 3 interactions made cold.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random / cold-items split and of a carved valid part.")
@click.option("--similar-k", type=int, default=0, show_default=True,
              help="Item-item kNN neighbours on tag profiles (0 = no 'similar' relation).")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
def command(dataset, data, out, catalog, top_tags, rating_threshold, min_user, min_item, item_attr, user_attr, split,
            split_file, valid_frac, test_frac, cold_frac, seed, similar_k, force):
    """Build the typed heterograph (train interactions only) and its artifact directory."""
    cfg = stage.BuildGraphConfig(data=data, out=out, dataset=dataset, catalog=catalog, top_tags=top_tags,
                                 rating_threshold=rating_threshold, min_user=min_user, min_item=min_item,
                                 item_attr=tuple(item_attr), user_attr=tuple(user_attr), split=split,
                                 split_file=split_file, valid_frac=valid_frac, test_frac=test_frac,
                                 cold_frac=cold_frac, seed=seed, similar_k=similar_k, force=force)
    artifact = stage.run(cfg, log=report.message)
    nodes, edges, splits = stage.summary_rows(artifact)
    report.table(nodes, title="nodes")
    report.table(edges, title="edges")
    report.table(splits, title="split")
    report.message(f"wrote {out} (fingerprint {artifact.fingerprint})")
