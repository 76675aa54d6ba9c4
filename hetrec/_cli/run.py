"""``hetrec run``: every stage of a pipeline file, skipping unchanged ones, then a comparison table and plots."""
from __future__ import annotations

from pathlib import Path

import click

from hetrec import report
from hetrec.device import DEVICES


@click.command("run")
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Dataset directory (overrides [pipeline] data, which is relative to the TOML file).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output directory (default: [pipeline] out, else runs/<name>); one sub-directory per stage.")
@click.option("--force", "force", multiple=True, metavar="STAGE",
              help="Rerun STAGE even if unchanged (a stage name, a kind such as 'pretrain', or 'all'); repeatable. "
                   "Stages reading it rerun too.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
def command(pipeline, data, out, force, device):
    """Run a pipeline file (pipelines/*.toml): build-graph, pretrain, finetune, evaluate, as it lists them."""
    from hetrec.pipeline import comparison_rows, load_pipeline, run_pipeline, write_plots

    pipe = load_pipeline(pipeline, data=data, out=out)
    report.message(f"pipeline {pipe.name}: {len(pipe.stages)} stages -> {pipe.out}")
    run_pipeline(pipe, force=force, device=device, log=report.message)
    rows = comparison_rows(pipe)
    if rows:
        report.table(rows, title=f"{pipe.name}: test split, full ranking")
    for path in write_plots(pipe, rows):
        report.message(f"wrote {path}")
