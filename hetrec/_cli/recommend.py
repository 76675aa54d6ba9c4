"""``hetrec recommend``: top-K items for one user from a finished run, with explanation paths."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.stages import recommend as stage


@click.command("recommend")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), required=True,
              help="A finetune run directory (hetrec finetune --out, or <pipeline out>/finetune.NAME).")
@click.option("--user", type=int, required=True, help="Raw user id, as in the ratings file.")
@click.option("-k", "--k", "k", type=click.IntRange(1), default=10, show_default=True, help="How many items.")
@click.option("--graph", type=click.Path(path_type=Path), default=None,
              help="Graph artifact (default: the one recorded in the run's manifest).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table.")
def command(run_dir, user, k, graph, as_json):
    """Recommend K items the user has not interacted with, each with a short path explaining it."""
    result = stage.run(stage.RecommendConfig(run=run_dir, user=user, k=k, graph=graph))
    if as_json:
        report.as_json(result)
        return
    cols = [c for c in ("rank", "item_id", "title", "authors", "score", "explanation") if c in result["items"][0]] \
        if result["items"] else []
    report.table([{c: r.get(c) for c in cols} for r in result["items"]],
                 title=f"top {k} for user {user} ({result['model']}, {result['known_items']} known items excluded)")
