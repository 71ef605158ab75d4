"""Snakemake entry for rule collect_metrics: see gmm_pipeline.execution.steps.collect_metrics and gmm_pipeline.stages.metrics."""

from gmm_pipeline.execution.worker import run_job

run_job(snakemake, "collect_metrics")  # noqa: F821 (snakemake is injected by Snakemake)
