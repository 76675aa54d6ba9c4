"""``hetrec evaluate``: runs side by side on the validation or test split."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.stages import evaluate as stage

RANKING = ("hit", "ndcg", "mrr", "recall")


def _cutoffs(ctx, param, values) -> tuple[int, ...]:
    try:
        return tuple(sorted({int(v) for text in values for v in str(text).split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter(f"{' '.join(values)}: expected integers such as 10,20,50") from None


@click.command("evaluate")
@click.option("--run", "runs", type=click.Path(path_type=Path), multiple=True, required=True,
              help="A finetune run directory (repeat for several).")
@click.option("--split", type=click.Choice(list(stage.SPLITS)), default="test", show_default=True)
@click.option("--k", "ks", multiple=True, default=("10,20,50",), show_default=True, callback=_cutoffs,
              help="Cut-offs: --k 10,20,50 or --k 10 --k 20.")
@click.option("--protocol", type=click.Choice(stage.PROTOCOLS), default="full", show_default=True,
              help="full: rank all items; sampled: rank among --num-negatives random items.")
@click.option("--num-negatives", type=int, default=99, show_default=True, help="Sampled protocol only.")
@click.option("--sparse-threshold", type=int, default=stage.SPARSE_THRESHOLD, show_default=True,
              help="Sparse slice: targets whose item has <= N train interactions.")
@click.option("--sparse-user-threshold", type=int, default=stage.SPARSE_USER_THRESHOLD, show_default=True,
              help="Sparse-user slice: users with <= N train interactions.")
@click.option("--candidates", type=click.Choice(stage.CANDIDATES), default="all", show_default=True,
              help="all: rank every unseen item; cold: rank only items without train interactions (strict cold start).")
@click.option("--graph", type=click.Path(path_type=Path), default=None,
              help="Graph artifact, if it moved since training (default: the path in each run's manifest).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampled protocol: negative draws.")
def command(runs, split, ks, protocol, num_negatives, sparse_threshold, sparse_user_threshold, candidates, graph, device,
            seed):
    """Evaluate finished runs (full ranking, train items masked; test also masks the validation item)."""
    cfg = stage.EvaluateConfig(runs=list(runs), split=split, ks=ks, protocol=protocol,
                               num_negatives=num_negatives, sparse_threshold=sparse_threshold,
                               sparse_user_threshold=sparse_user_threshold, candidates=candidates, seed=seed,
                               device=device, graph=graph)
    rows = stage.run(cfg)
    label = rows[0]["protocol"]
    if label != "full":
        label += f" (each target vs {num_negatives} random items: NOT comparable with full ranking)"
    names = [r["run"].name if len({x["run"].name for x in rows}) == len(rows) else str(r["run"]) for r in rows]
    ks_done = sorted({int(k.split("@")[1]) for k in rows[0] if k.startswith("hit@")})
    one_target = all(r["n_targets"] == r["n_users"] for r in rows)  # leave-one-out: recall@k == hit@k
    table = []
    for k in ks_done:  # rows = (cut-off, run): the runs of one cut-off sit next to each other
        for name, r in zip(names, rows):
            row = {"run": name, "model": r["model"] + ("" if r["init"] == "none" else f"+{r['init']}"), "k": k}
            row.update({m: r[f"{m}@{k}"] for m in RANKING if m != "recall" or one_target is False})
            row["± ndcg"] = r.get(f"se/ndcg@{k}")
            row.update({"coverage": r.get(f"coverage@{k}"), "sparse-item ndcg": r.get(f"sparse/ndcg@{k}"),
                        "sparse-user ndcg": r.get(f"sparse_user/ndcg@{k}")})
            table.append(row)
    first = rows[0]
    cands = "all unseen items" if candidates == "all" else f"the {first['n_candidates']:,} cold items"
    report.table(table, title=f"{split}, {label}, candidates: {cands}; {first['n_users']:,} users "
                              f"({first['n_targets']:,} targets); ± = one standard error of NDCG")
    n_sparse = first.get("n_sparse", 0)
    sparse = (f"the {n_sparse:,} users whose target has <= {sparse_threshold} train interactions" if one_target else
              f"the {n_sparse:,} users with a target item of <= {sparse_threshold} train interactions "
              "(only those targets count)")
    report.message(f"slices: sparse-item = {sparse}; sparse-user = the {first.get('n_sparse_users', 0):,} users "
                   f"with <= {sparse_user_threshold} train interactions"
                   + ("; recall = hit (one target per user)" if one_target else ""))
