"""Pipelines: a TOML file -> ordered stages, each skipped when its fingerprint is unchanged.

The parts depend one way: ``spec`` (what a pipeline and a stage kind are) <- ``kinds`` (the real stage kinds)
<- ``load`` (TOML -> checked, ordered stages) <- ``run`` (run them, skipping unchanged ones) <- ``summary``
(comparison table, plots). This module only re-exports them.
"""
from hetrec.pipeline.spec import Kind, Log, Pipeline, Stage, StageOutcome
from hetrec.pipeline.kinds import KINDS, RESULTS
from hetrec.pipeline.load import PIPELINE_KEYS, default_kinds, load_pipeline
from hetrec.pipeline.run import check_force, resolve, run_pipeline, sidecar, up_to_date
from hetrec.pipeline.summary import TABLE_METRICS, comparison_rows, write_plots

__all__ = ["Kind", "Log", "Pipeline", "Stage", "StageOutcome", "KINDS", "RESULTS", "PIPELINE_KEYS", "default_kinds",
           "load_pipeline", "check_force", "resolve", "run_pipeline", "sidecar", "up_to_date", "TABLE_METRICS",
           "comparison_rows", "write_plots"]
